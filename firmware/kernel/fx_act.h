/* fxlearn kernel: activations and decisions on int16 vectors (docs/kernel.md section 5). */
#ifndef FX_ACT_H
#define FX_ACT_H

#include "fx_config.h"
#include "fx_status.h"

/* In place max(x, 0). n == 0 is a no-op; x NULL with n > 0 -> FX_ERR_NULL. */
fx_status fx_relu_s16(int16_t *x, uint32_t n);

/* *index = index of the largest of x[0..n-1], ties -> the lowest index.
 * n == 0 -> FX_ERR_SHAPE. */
fx_status fx_argmax_s16(const int16_t *x, uint32_t n, uint32_t *index);

/* FX_OK if levels[0..n_levels-1] is strictly ascending and n_levels >= 1. */
fx_status fx_levels_check_s16(const int16_t *levels, uint32_t n_levels);

/* In place: each x[i] becomes the nearest value of the ascending table levels[0..n_levels-1],
 * ties -> the larger level (activation quantization to e.g. APoT levels). The table is
 * validated (fx_levels_check_s16 -> FX_ERR_PARAM / FX_ERR_SHAPE) before x is written. */
fx_status fx_snap_s16(int16_t *x, uint32_t n, const int16_t *levels, uint32_t n_levels);

#endif
