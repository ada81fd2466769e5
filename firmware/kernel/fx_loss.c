#include "fx_loss.h"
#include "fx_requant.h"

/* round(32768 * 2^(-k/64)), k = 0..64 */
static const uint16_t exp2_neg_table[65] = {
    32768, 32415, 32066, 31720, 31379, 31041, 30706, 30376, 30048, 29725, 29405, 29088, 28774,
    28464, 28158, 27855, 27554, 27258, 26964, 26674, 26386, 26102, 25821, 25543, 25268, 24995,
    24726, 24460, 24196, 23936, 23678, 23423, 23170, 22921, 22674, 22430, 22188, 21949, 21713,
    21479, 21247, 21019, 20792, 20568, 20347, 20127, 19911, 19696, 19484, 19274, 19066, 18861,
    18658, 18457, 18258, 18061, 17867, 17674, 17484, 17296, 17109, 16925, 16743, 16562, 16384};

/* round(4096 * log2(1 + j/64)), j = 0..64 */
static const uint16_t log2_table[65] = {
    0, 92, 182, 271, 358, 445, 530, 613, 696, 778, 858, 937, 1016, 1093, 1169, 1244, 1319, 1392,
    1465, 1536, 1607, 1677, 1746, 1814, 1882, 1949, 2015, 2080, 2145, 2208, 2272, 2334, 2396, 2457,
    2518, 2578, 2637, 2696, 2754, 2812, 2869, 2926, 2982, 3037, 3092, 3146, 3200, 3254, 3307, 3359,
    3412, 3463, 3514, 3565, 3615, 3665, 3715, 3764, 3812, 3861, 3908, 3956, 4003, 4050, 4096};

#define LOG2E_Q16 INT64_C(94548) /* round(log2(e) * 2^16) */
#define LN2_Q16 INT64_C(45426)   /* round(ln(2) * 2^16) */

/* Linear interpolation between table[i] and table[i+1] at r/64, r in 0..63, rounded half up. */
static int32_t interp64(const uint16_t *table, uint32_t i, uint32_t r)
{
    int32_t a = table[i], b = table[i + 1];
    return a + (int32_t)fx_rhu_shift64((int64_t)(b - a) * (int32_t)r, 6);
}

int32_t fx_exp_neg_q12(int32_t d)
{
    int64_t t;
    uint32_t f;
    int64_t n;
    if (d <= 0) return FX_Q15_ONE;
    t = fx_rhu_shift64((int64_t)d * LOG2E_Q16, 16); /* d in log2 units, Q12 */
    n = t >> 12;
    f = (uint32_t)(t & 4095);
    if (n > 16) return 0; /* 2^-17 * 32768 < 0.5: rounds to 0 */
    return (int32_t)fx_rhu_shift64(interp64(exp2_neg_table, f >> 6, f & 63u), (int)n);
}

int32_t fx_log2_q12(uint32_t x)
{
    int k = 31;
    uint32_t mant_q12;
    if (x == 0) return 0;
    while (!(x & (UINT32_C(1) << k))) k--;
    /* mantissa x / 2^k in [1, 2) as Q12, truncated: exact for k <= 12 */
    mant_q12 = (k >= 12) ? (x >> (k - 12)) : (x << (12 - k));
    mant_q12 -= 4096u;
    return k * 4096 + interp64(log2_table, mant_q12 >> 6, mant_q12 & 63u);
}

fx_status fx_softmax_xent_s16(const int16_t *logits, uint16_t n, uint16_t label, int32_t mult,
                              int32_t shift, int32_t *grad, int32_t *loss)
{
    uint16_t i;
    int16_t zmax;
    uint32_t sum = 0;
    int32_t d_label = 0;
    fx_status st;
    if (logits == NULL) return FX_ERR_NULL;
    if (n == 0) return FX_ERR_SHAPE;
    if (label >= n) return FX_ERR_PARAM;
    if ((st = fx_requant_check(mult, shift)) != FX_OK) return st;
    zmax = logits[0];
    for (i = 1; i < n; i++)
        if (logits[i] > zmax) zmax = logits[i];
    /* sum of exp(-(zmax - z_i)) in Q15: at most 65535 * 32768 < 2^32 */
    for (i = 0; i < n; i++) {
        int32_t d = fx_requant((int32_t)zmax - logits[i], mult, shift);
        int32_t e = fx_exp_neg_q12(d);
        sum += (uint32_t)e;
        if (i == label) d_label = d;
        if (grad != NULL) grad[i] = e; /* finished below, once the sum is known */
    }
    if (grad != NULL) {
        for (i = 0; i < n; i++) {
            /* fx_rhu_div in 32 bits, one inline UDIV on Cortex-M (fx_rhu_div would take
             * 64-bit operands through a call): 0 <= e 2^15 <= 2^30 and 2^15 <= sum < 2^32 */
            const uint32_t a = (uint32_t)grad[i] << 15, q = a / sum, r = a - q * sum;
            grad[i] = (int32_t)(q + (r >= sum - r)) - (i == label ? FX_Q15_ONE : 0);
        }
    }
    if (loss != NULL) {
        /* -ln p_label = d_label + ln(sum / 2^15); sum >= 2^15 since the max term is 2^15 */
        int32_t log2_ratio = fx_log2_q12(sum) - 15 * FX_Q12_ONE;
        *loss = fx_sat32((int64_t)d_label + fx_rhu_shift64((int64_t)log2_ratio * LN2_Q16, 16));
    }
    return FX_OK;
}

fx_status fx_mse_s16(const int16_t *y, const int16_t *target, uint16_t n, int32_t *grad, int64_t *loss)
{
    uint16_t i;
    int64_t acc = 0;
    if (y == NULL || target == NULL) return FX_ERR_NULL;
    if (n == 0) return FX_ERR_SHAPE;
    for (i = 0; i < n; i++) {
        int32_t e = (int32_t)y[i] - target[i];
        if (grad != NULL) grad[i] = e;
        acc += (int64_t)e * e;
    }
    if (loss != NULL) *loss = acc;
    return FX_OK;
}
