/* fxlearn kernel: requantization of an int32 accumulator by (multiplier, shift),
 * the TFLM "single rounding" convention (docs/kernel.md section 2). */
#ifndef FX_REQUANT_H
#define FX_REQUANT_H

#include "fx_fixed.h"
#include "fx_status.h"

#define FX_MULT_MIN INT32_C(1073741824) /* 2^30 */
#define FX_SHIFT_MIN (-31)
#define FX_SHIFT_MAX 30

/* FX_OK if (mult, shift) is a valid scale: mult == 0 or in [2^30, 2^31-1], shift in [-31, 30]. */
fx_status fx_requant_check(int32_t mult, int32_t shift);

/* sat32(rhu(acc * mult / 2^(31 - shift))). Arguments must have passed fx_requant_check;
 * out-of-range ones are clamped to the valid range, never undefined. */
inline int32_t fx_requant(int32_t acc, int32_t mult, int32_t shift)
{
    if (shift < FX_SHIFT_MIN) shift = FX_SHIFT_MIN;
    if (shift > FX_SHIFT_MAX) shift = FX_SHIFT_MAX;
    if (mult < 0) mult = 0;
    return fx_sat32(fx_rhu_shift64((int64_t)acc * mult, 31 - (int)shift));
}

/* fx_requant for shift <= -2, k = -1 - shift (1..30), round = 2^(k-1): the total shift 32 + k
 * puts the rounding bit in the high word of the product, whose low word adds less than one
 * unit of it, so (hi + round) >> k is exact, with |hi| < 2^30 (no overflow, no saturation).
 * SMULL, ADD, ASR on Cortex-M: the fast path of the kernel's requantization loops. */
inline int32_t fx_requant_hi(int32_t acc, int32_t mult, uint32_t k, int32_t round)
{
    return ((int32_t)(((int64_t)acc * mult) >> 32) + round) >> k;
}

/* fx_requant_hi's k for a valid scale: -1 - shift (1..30) where shift <= -2, else 0 (the scale
 * needs fx_requant); its round is 2^(k-1). Loops with one scale decide this once. */
inline uint32_t fx_requant_hi_k(int32_t shift)
{
    return shift <= -2 && shift >= FX_SHIFT_MIN ? (uint32_t)(-1 - shift) : 0u;
}

/* fx_requant, the same result, in fx_requant_hi's three instructions where shift <= -2 (the
 * usual case: scales below 1/2). */
inline int32_t fx_requant_fast(int32_t acc, int32_t mult, int32_t shift)
{
    const uint32_t k = fx_requant_hi_k(shift);
    if (k != 0u && mult >= 0) return fx_requant_hi(acc, mult, k, INT32_C(1) << (k - 1u));
    return fx_requant(acc, mult, shift);
}

/* requant, then clamp to [act_min, act_max] (which the caller keeps inside int16). */
inline int16_t fx_requant_s16(int32_t acc, int32_t mult, int32_t shift, int16_t act_min, int16_t act_max)
{
    int32_t y = fx_requant(acc, mult, shift);
    return (int16_t)(y < act_min ? act_min : (y > act_max ? act_max : y));
}

inline int8_t fx_requant_s8(int32_t acc, int32_t mult, int32_t shift, int8_t act_min, int8_t act_max)
{
    int32_t y = fx_requant(acc, mult, shift);
    return (int8_t)(y < act_min ? act_min : (y > act_max ? act_max : y));
}

#endif
