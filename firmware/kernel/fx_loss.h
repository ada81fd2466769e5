/* fxlearn kernel: integer loss functions and their gradients for on-device training:
 * table-based exp and log2, softmax cross-entropy, mean squared error (docs/kernel.md s.7). */
#ifndef FX_LOSS_H
#define FX_LOSS_H

#include "fx_fixed.h"
#include "fx_status.h"

#define FX_Q15_ONE INT32_C(32768)  /* probability 1.0 */
#define FX_Q12_ONE INT32_C(4096)   /* 1.0 nat / 1.0 in log2 units */

/* exp(-d / 4096) in Q15 for d >= 0 in Q12 (d < 0 is taken as 0): 2^-x by a 65-entry table of
 * 2^(-k/64) with linear interpolation, then a rounding shift by the integer part. */
int32_t fx_exp_neg_q12(int32_t d);

/* log2(x) in Q12 for x >= 1 (x == 0 returns 0: callers never pass it): leading-bit position
 * plus a 65-entry table of log2(1 + j/64) with linear interpolation on the mantissa. */
int32_t fx_log2_q12(uint32_t x);

/* Softmax cross-entropy of one sample. logits: n int16 values; (mult, shift) convert a logit
 * difference to Q12 nats (the logit scale times 4096, fx_requant convention); label < n.
 * grad (n int32, may be NULL): softmax - onehot in Q15. loss (may be NULL): -ln p_label in Q12.
 * Errors: NULL logits, n == 0, label >= n, invalid (mult, shift). */
fx_status fx_softmax_xent_s16(const int16_t *logits, uint16_t n, uint16_t label, int32_t mult,
                              int32_t shift, int32_t *grad, int32_t *loss);

/* Squared error of one sample: grad_i = y_i - t_i (int32, may be NULL),
 * loss = sum (y_i - t_i)^2 (int64, may be NULL). */
fx_status fx_mse_s16(const int16_t *y, const int16_t *target, uint16_t n, int32_t *grad, int64_t *loss);

#endif
