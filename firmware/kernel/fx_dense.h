/* fxlearn kernel: dense (fully connected) layer forward over every weight format
 * (docs/kernel.md section 4):
 *     y_i = clamp(requant(sat32(bias_i + sum_j x_j * level(W_ij)), mult_i, shift_i), act_min, act_max)
 * with the sum exact (int32 accumulation when it provably cannot overflow, int64 otherwise). */
#ifndef FX_DENSE_H
#define FX_DENSE_H

#include "fx_config.h"
#include "fx_status.h"
#include "fx_quant.h"

/* Largest fan-out: keeps weight-array offsets and MLP workspaces far from overflow. */
#define FX_MAX_FAN_OUT 65535u

typedef struct {
    int32_t format;          /* fx_format */
    int32_t bits;            /* 8 (INT8), 16 (INT16), or the packed code width */
    uint32_t in;             /* fan-in: elements per row */
    uint32_t out;            /* fan-out: rows (output channels) */
    const void *weights;     /* row-major, each row fx_quant_row_stride() bytes; INT16 2-aligned */
    const int32_t *bias;     /* [out], in accumulator units */
    const int32_t *mult;     /* [n_scale] requantization multipliers */
    const int32_t *shift;    /* [n_scale] requantization shifts */
    uint32_t n_scale;        /* 1 (per tensor) or out (per output channel) */
    int32_t act_min;         /* output clamp, inside the output type, act_min <= act_max */
    int32_t act_max;
} fx_dense_layer;

/* Validates a layer for an output of out_bits (16 or 8) bits, reading only the layer and its
 * mult/shift arrays: NULL pointer -> FX_ERR_NULL; format/width -> FX_ERR_FORMAT/FX_ERR_BITS;
 * in or out 0 or > 65535, n_scale not 1 or out -> FX_ERR_SHAPE; bad mult/shift, act range
 * outside the output type or inverted, misaligned INT16 weights, out_bits not 8/16
 * -> FX_ERR_PARAM. */
fx_status fx_dense_check(const fx_dense_layer *layer, int32_t out_bits);

/* Forward one input vector x[in] to y[out]. Name: input type, then output type when it
 * differs. Every argument is validated (fx_dense_check, NULL x/y) before y is written. */
fx_status fx_dense_s16(const fx_dense_layer *layer, const int16_t *x, int16_t *y);
fx_status fx_dense_s16_s8(const fx_dense_layer *layer, const int16_t *x, int8_t *y);
fx_status fx_dense_s8(const fx_dense_layer *layer, const int8_t *x, int8_t *y);
fx_status fx_dense_s8_s16(const fx_dense_layer *layer, const int8_t *x, int16_t *y);

#endif
