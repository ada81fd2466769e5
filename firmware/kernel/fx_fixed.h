/* fxlearn kernel: fixed-point rounding, saturation and Q-format helpers.
 * Semantics: docs/kernel.md section 1. C99 inline functions: fx_fixed.c holds the
 * external definitions, so the functions are also callable through the shared library. */
#ifndef FX_FIXED_H
#define FX_FIXED_H

#include "fx_config.h"

inline int32_t fx_sat32(int64_t x)
{
    return x > INT32_MAX ? INT32_MAX : (x < INT32_MIN ? INT32_MIN : (int32_t)x);
}

inline int16_t fx_sat16(int64_t x)
{
    return x > INT16_MAX ? INT16_MAX : (x < INT16_MIN ? INT16_MIN : (int16_t)x);
}

/* fx_sat16 of an int32: one SSAT where the core has it (Cortex-M3/M4; inline asm because
 * GCC 12's ACLE __ssat macro trips -Wsign-conversion) */
inline int16_t fx_sat16_32(int32_t x)
{
#if defined(__ARM_FEATURE_SAT) && defined(__GNUC__)
    int32_t r;
    __asm__("ssat %0, #16, %1" : "=r"(r) : "r"(x));
    return (int16_t)r;
#else
    return x > INT16_MAX ? INT16_MAX : (x < INT16_MIN ? INT16_MIN : (int16_t)x);
#endif
}

inline int8_t fx_sat8(int64_t x)
{
    return x > INT8_MAX ? INT8_MAX : (x < INT8_MIN ? INT8_MIN : (int8_t)x);
}

/* floor((x + 2^(s-1)) / 2^s), round half up (eq. 4), s in 0..62, without overflow:
 * the rounding bit is the last bit shifted out. s outside 0..62 is clamped to it. */
inline int64_t fx_rhu_shift64(int64_t x, int s)
{
    if (s <= 0) return x;
    if (s > 62) s = 62;
    return (x >> s) + ((x >> (s - 1)) & 1);
}

/* floor(n / d), and n mod d in *rem if rem is not NULL; d = 0 gives UINT64_MAX and n.
 * The kernel's only 64-bit division: C's would link libgcc's (about 900 B on Cortex-M). */
uint64_t fx_udiv64(uint64_t n, uint64_t d, uint64_t *rem);

/* floor(a / b + 1/2) for b > 0 (b <= 0 returns 0: callers validate b).
 * Floor division of the magnitudes first, then compare twice the remainder with b: no overflow. */
inline int64_t fx_rhu_div(int64_t a, int64_t b)
{
    uint64_t ub = (uint64_t)b, r, q;
    if (b <= 0) return 0;
    if (a >= 0) {
        q = fx_udiv64((uint64_t)a, ub, &r);
    } else {                           /* -a in uint64 is exact, INT64_MIN too */
        q = fx_udiv64(0u - (uint64_t)a, ub, &r);
        q = 0u - q;
        if (r != 0) { q -= 1u; r = ub - r; }
    }                                  /* now 0 <= r < b and a = q*b + r (q as two's complement) */
    return (int64_t)(r >= ub - r ? q + 1u : q);   /* r/b >= 1/2 rounds up */
}

inline int16_t fx_add_sat16(int16_t a, int16_t b) { return fx_sat16((int32_t)a + b); }
inline int16_t fx_sub_sat16(int16_t a, int16_t b) { return fx_sat16((int32_t)a - b); }
inline int16_t fx_mul_sat16(int16_t a, int16_t b) { return fx_sat16((int32_t)a * b); }
inline int32_t fx_add_sat32(int32_t a, int32_t b) { return fx_sat32((int64_t)a + b); }
inline int32_t fx_sub_sat32(int32_t a, int32_t b) { return fx_sat32((int64_t)a - b); }

/* Integer i to Q(q): i * 2^q saturated to int32, q in 0..30 (clamped). */
inline int32_t fx_q_from_int(int32_t i, int q)
{
    if (q < 0) q = 0;
    if (q > 30) q = 30;
    return fx_sat32((int64_t)i * ((int64_t)1 << q));
}

/* Change the fractional bits of a fixed-point int32 from q_from to q_to (each 0..30):
 * saturating left shift, or round-half-up right shift. */
inline int32_t fx_q_rescale(int32_t x, int q_from, int q_to)
{
    int d = q_to - q_from;
    if (d > 0) return fx_sat32((int64_t)x * ((int64_t)1 << (d > 31 ? 31 : d)));
    return fx_sat32(fx_rhu_shift64(x, -d));
}

#endif
