/* fxlearn kernel: backward pass of a dense layer and its activation clamp, one sample at a
 * time, for on-device training (docs/kernel.md section 8, docs/training.md).
 * Values (activations, gradients) are int16, weights int16 (FX_FMT_INT16), accumulators int32. */
#ifndef FX_TRAIN_BACKWARD_H
#define FX_TRAIN_BACKWARD_H

#include "fx_fixed.h"
#include "fx_status.h"

#define FX_GRAD_SHIFT_MAX 30

/* Adds one sample's gradient to a layer's accumulators (row-major dw[out][in], db[out]):
 *   dw[i][j] = sat32(dw[i][j] + rhu(g[i] * x[j] / 2^grad_shift)),  db[i] = sat32(db[i] + g[i]).
 * Saturation is per addition, in call order. bound (may be NULL) is the caller's running upper
 * bound of every |dw|, |db| (set it to 0 when zeroing the accumulators): while it proves that no
 * addition can saturate the kernel skips the checks (same integers, faster); it is updated
 * (saturating at UINT32_MAX). A wrong bound gives wrong, wrapped values, never UB.
 * Errors: NULL x, g, dw, db; in or out 0 (FX_ERR_SHAPE); grad_shift outside 0..30. */
fx_status fx_dense_grad_accum_s16(const int16_t *x, const int16_t *g, uint16_t in, uint16_t out,
                                  int32_t grad_shift, int32_t *dw, int32_t *db, uint32_t *bound);

/* Gradient with respect to the layer input, before the previous layer's activation mask:
 *   g_in[j] = sat16(requant(sat32(sum_i g[i] * w[i][j]), mult, shift))   (exact sum).
 * w: int16 row-major [out][in]. Errors: NULL pointers, in or out 0, invalid (mult, shift). */
fx_status fx_dense_backward_input_s16(const int16_t *g, const int16_t *w, uint16_t in, uint16_t out,
                                      int32_t mult, int32_t shift, int16_t *g_in);

/* Derivative of y = clamp(v, act_min, act_max), in place: g[j] = 0 unless
 * act_min < y[j] < act_max (a ReLU output of 0 and a clamped maximum pass nothing).
 * Errors: NULL pointers, n 0, act_min > act_max (FX_ERR_PARAM). */
fx_status fx_act_backward_s16(const int16_t *y, uint16_t n, int16_t act_min, int16_t act_max, int16_t *g);

#endif
