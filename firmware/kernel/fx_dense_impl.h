/* fxlearn kernel, private to fx_dense*.c: the per-input-type dot products that the shared
 * row loop (fx_dense.c) calls. The dot products accumulate in unsigned (wrapping, so always
 * defined) arithmetic: the result is the exact sum modulo 2^32 or 2^64, hence the exact sum
 * whenever that fits the signed type, which fx_dense_run checks before choosing the width. */
#ifndef FX_DENSE_IMPL_H
#define FX_DENSE_IMPL_H

#include "fx_dense.h"

typedef uint32_t (*fx_dense_dot32_fn)(const fx_dense_layer *layer, const uint8_t *row, const void *x);
typedef uint64_t (*fx_dense_dot64_fn)(const fx_dense_layer *layer, const uint8_t *row, const void *x);
typedef uint32_t (*fx_dense_max_abs_fn)(const void *x, uint32_t n);
typedef int (*fx_dense_fast_fn)(const fx_dense_layer *layer, const void *x, int16_t *y16, int8_t *y8);

typedef struct {
    fx_dense_dot32_fn dot32;
    fx_dense_dot64_fn dot64;
    fx_dense_max_abs_fn max_abs;
    fx_dense_fast_fn fast;
} fx_dense_input_ops;

/* The optimized path (fx_dense_fast.c): runs a validated layer and returns 1 when it has a
 * kernel for the format and width, else returns 0 without writing (the reference runs). */
int fx_dense_fast_s16(const fx_dense_layer *layer, const void *x, int16_t *y16, int8_t *y8);
int fx_dense_fast_s8(const fx_dense_layer *layer, const void *x, int16_t *y16, int8_t *y8);

/* Validate, then run every row; exactly one of y16, y8 is the output. */
fx_status fx_dense_run(const fx_dense_layer *layer, const fx_dense_input_ops *ops, const void *x,
                       int16_t *y16, int8_t *y8);

#endif
