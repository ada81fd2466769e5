/* External definitions of the C99 inline helpers of fx_fixed.h. */
#include "fx_fixed.h"

extern inline int32_t fx_sat32(int64_t x);
extern inline int16_t fx_sat16(int64_t x);
extern inline int16_t fx_sat16_32(int32_t x);
extern inline int8_t fx_sat8(int64_t x);
extern inline int64_t fx_rhu_shift64(int64_t x, int s);
extern inline int64_t fx_rhu_div(int64_t a, int64_t b);
extern inline int16_t fx_add_sat16(int16_t a, int16_t b);
extern inline int16_t fx_sub_sat16(int16_t a, int16_t b);
extern inline int16_t fx_mul_sat16(int16_t a, int16_t b);
extern inline int32_t fx_add_sat32(int32_t a, int32_t b);
extern inline int32_t fx_sub_sat32(int32_t a, int32_t b);
extern inline int32_t fx_q_from_int(int32_t i, int q);
extern inline int32_t fx_q_rescale(int32_t x, int q_from, int q_to);

uint64_t fx_udiv64(uint64_t n, uint64_t d, uint64_t *rem)
{
    uint64_t q = 0, bit = 1;
    if (d == 0 || (n >> 32) == 0) {
        if (d == 0 || (d >> 32) != 0) {            /* no divisor, or one above n */
            if (rem) *rem = n;
            return d == 0 ? UINT64_MAX : 0;
        }
        q = (uint32_t)n / (uint32_t)d;             /* one UDIV on Cortex-M3/M4 and rv32im */
        if (rem) *rem = (uint32_t)n - (uint32_t)q * (uint32_t)d;
        return q;
    }
    /* shift-subtract over the quotient's bits only: d aligned below n's top bit first */
    while ((d >> 63) == 0 && (d << 1) <= n) {
        d <<= 1;
        bit <<= 1;
    }
    for (; bit != 0; bit >>= 1, d >>= 1) {
        if (n >= d) {
            n -= d;
            q |= bit;
        }
    }
    if (rem) *rem = n;
    return q;
}
