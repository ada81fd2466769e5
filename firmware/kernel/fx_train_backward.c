#include "fx_train_backward.h"
#include "fx_requant.h"
#if defined(__ARM_FEATURE_DSP) && !defined(__ARM_BIG_ENDIAN) && defined(__GNUC__)
#include <arm_acle.h>
#endif

static uint32_t abs16(int16_t v) { return (uint32_t)(v < 0 ? -(int32_t)v : (int32_t)v); }

/* row[j] += (gi x[j] + half) >> s, wrapping (the caller's bound proves no wrap happens). */
static void accum_row_fast(const int16_t *x, int32_t gi, uint16_t in, int32_t half, int32_t s, int32_t *row)
{
    uint32_t j = 0;
#if defined(__ARM_FEATURE_DSP) && !defined(__ARM_BIG_ENDIAN) && defined(__GNUC__)
    /* Four columns per pass in 20 instructions: x as two int16-pair words (LDR allows them
     * unaligned), the four accumulators as two pairs (LDRD / STRD: rows are word-aligned), each
     * term gi x + half by one SMLABB / SMLATB, then the shift and the wrapping add. GCC neither
     * pairs the accumulator loads nor keeps the pointers in post-increment form on its own. */
    if (in >= 4u) {
        const int32_t *end = row + (in & ~3u);
        const int16_t *xp = x;
        int32_t *rp = row;
        do {
            uint32_t p0, p1;
            int32_t r0, r1, r2, r3, t;
            __asm__ volatile("ldr %[p0], [%[xp]], #4\n\t"
                    "ldr %[p1], [%[xp]], #4\n\t"
                    "ldrd %[r0], %[r1], [%[rp]]\n\t"
                    "ldrd %[r2], %[r3], [%[rp], #8]\n\t"
                    "smlabb %[t], %[p0], %[g], %[h]\n\t"
                    "asr %[t], %[t], %[s]\n\t"
                    "add %[r0], %[r0], %[t]\n\t"
                    "smlatb %[t], %[p0], %[g], %[h]\n\t"
                    "asr %[t], %[t], %[s]\n\t"
                    "add %[r1], %[r1], %[t]\n\t"
                    "smlabb %[t], %[p1], %[g], %[h]\n\t"
                    "asr %[t], %[t], %[s]\n\t"
                    "add %[r2], %[r2], %[t]\n\t"
                    "smlatb %[t], %[p1], %[g], %[h]\n\t"
                    "asr %[t], %[t], %[s]\n\t"
                    "add %[r3], %[r3], %[t]\n\t"
                    "strd %[r2], %[r3], [%[rp], #8]\n\t"
                    "strd %[r0], %[r1], [%[rp]], #16"
                    : [xp] "+r"(xp), [rp] "+r"(rp), [p0] "=&r"(p0), [p1] "=&r"(p1), [r0] "=&r"(r0),
                      [r1] "=&r"(r1), [r2] "=&r"(r2), [r3] "=&r"(r3), [t] "=&r"(t)
                    : [g] "r"(gi), [h] "r"(half), [s] "r"(s)
                    : "memory");
        } while (rp != end);
        j = in & ~3u;
    }
#endif
    for (; j < in; j++) row[j] = (int32_t)((uint32_t)row[j] + (uint32_t)((gi * x[j] + half) >> s));
}

#if defined(__ARM_FEATURE_DSP) && !defined(__ARM_BIG_ENDIAN) && defined(__GNUC__)
#define FX_ACCUM_ROWS2 1
/* Two rows at once, for grad_shift s <= 16: row[j] += rhu(g x[j] / 2^s) is one SMMLAR,
 * acc + high word of (g 2^(16-s)) (x 2^16) + 2^31, exact because |g| 2^(16-s) <= 2^31 and
 * the product is g x 2^(32-s); x[j] 2^16 is one LSL (even column) or BFC (odd column) of the
 * pair word, shared by both rows. Four columns, eight terms in 24 instructions. */
static void accum_rows2_fast(const int16_t *x, int32_t g0, int32_t g1, uint16_t in, int32_t half, int32_t s,
                             int32_t *row0, int32_t *row1)
{
    const int32_t m0 = g0 * (INT32_C(1) << (16 - s)), m1 = g1 * (INT32_C(1) << (16 - s));
    const uint16_t n4 = (uint16_t)(in & ~3u);
    if (n4 != 0u) {
        const int16_t *xp = x, *end = x + n4;
        int32_t *r0 = row0, *r1 = row1;
        do {
            uint32_t p0, p1, e0, e2;
            int32_t a0, a1;
            __asm__ volatile("ldr %[p0], [%[xp]], #4\n\t"
                    "ldr %[p1], [%[xp]], #4\n\t"
                    "lsl %[e0], %[p0], #16\n\t"
                    "bfc %[p0], #0, #16\n\t"
                    "lsl %[e2], %[p1], #16\n\t"
                    "bfc %[p1], #0, #16\n\t"
                    "ldrd %[a0], %[a1], [%[r0]]\n\t"
                    "smmlar %[a0], %[m0], %[e0], %[a0]\n\t"
                    "smmlar %[a1], %[m0], %[p0], %[a1]\n\t"
                    "strd %[a0], %[a1], [%[r0]], #8\n\t"
                    "ldrd %[a0], %[a1], [%[r0]]\n\t"
                    "smmlar %[a0], %[m0], %[e2], %[a0]\n\t"
                    "smmlar %[a1], %[m0], %[p1], %[a1]\n\t"
                    "strd %[a0], %[a1], [%[r0]], #8\n\t"
                    "ldrd %[a0], %[a1], [%[r1]]\n\t"
                    "smmlar %[a0], %[m1], %[e0], %[a0]\n\t"
                    "smmlar %[a1], %[m1], %[p0], %[a1]\n\t"
                    "strd %[a0], %[a1], [%[r1]], #8\n\t"
                    "ldrd %[a0], %[a1], [%[r1]]\n\t"
                    "smmlar %[a0], %[m1], %[e2], %[a0]\n\t"
                    "smmlar %[a1], %[m1], %[p1], %[a1]\n\t"
                    "strd %[a0], %[a1], [%[r1]], #8"
                    : [xp] "+r"(xp), [r0] "+r"(r0), [r1] "+r"(r1), [p0] "=&r"(p0), [p1] "=&r"(p1),
                      [e0] "=&r"(e0), [e2] "=&r"(e2), [a0] "=&r"(a0), [a1] "=&r"(a1)
                    : [m0] "r"(m0), [m1] "r"(m1)
                    : "memory");
        } while (xp != end);
    }
    if (n4 != in) {   /* the last in % 4 columns: fewer than four, so accum_row_fast's plain loop */
        accum_row_fast(x + n4, g0, (uint16_t)(in - n4), half, s, row0 + n4);
        accum_row_fast(x + n4, g1, (uint16_t)(in - n4), half, s, row1 + n4);
    }
}
#else
#define FX_ACCUM_ROWS2 0
#endif

fx_status fx_dense_grad_accum_s16(const int16_t *x, const int16_t *g, uint16_t in, uint16_t out,
                                  int32_t grad_shift, int32_t *dw, int32_t *db, uint32_t *bound)
{
    uint32_t xmax = 0, inc = 0;
    int32_t half, gpend = 0;
    int32_t *pend = NULL;   /* a non-zero row waiting for its pair (accum_rows2_fast) */
    int fast;
    uint16_t i, j;
    if (x == NULL || g == NULL || dw == NULL || db == NULL) return FX_ERR_NULL;
    if (in == 0 || out == 0) return FX_ERR_SHAPE;
    if (grad_shift < 0 || grad_shift > FX_GRAD_SHIFT_MAX) return FX_ERR_PARAM;
    half = grad_shift > 0 ? (INT32_C(1) << (grad_shift - 1)) : 0;
    for (j = 0; j < in; j++)
        if (abs16(x[j]) > xmax) xmax = abs16(x[j]);
    /* the largest |addition| of this sample: |rhu(p / 2^s)| <= rhu(|p| / 2^s), |g x| <= 2^30 */
    for (i = 0; i < out; i++) {
        uint32_t ag = abs16(g[i]);
        uint32_t term = (ag * xmax + (uint32_t)half) >> grad_shift;
        if (term > inc) inc = term;
        if (ag > inc) inc = ag;
    }
    fast = bound != NULL && (uint64_t)*bound + inc <= (uint64_t)INT32_MAX;
    for (i = 0; i < out; i++) {
        int32_t gi = g[i];
        int32_t *row = dw + (size_t)i * in;
        if (gi == 0) continue; /* adds exact zeros */
        if (fast) {
            /* unsigned wrap-around is defined; the bound proves it never happens */
            db[i] = (int32_t)((uint32_t)db[i] + (uint32_t)gi);
#if FX_ACCUM_ROWS2
            if (grad_shift <= 16) {             /* the non-zero rows in pairs: x extracted once for two */
                if (pend == NULL) {
                    pend = row;
                    gpend = gi;
                } else {
                    accum_rows2_fast(x, gpend, gi, in, half, grad_shift, pend, row);
                    pend = NULL;
                }
                continue;
            }
#endif
            accum_row_fast(x, gi, in, half, grad_shift, row);
        } else {
            db[i] = fx_add_sat32(db[i], gi);
            for (j = 0; j < in; j++)
                row[j] = fx_add_sat32(row[j], (gi * x[j] + half) >> grad_shift);
        }
    }
    if (pend != NULL) accum_row_fast(x, gpend, in, half, grad_shift, pend);
    if (bound != NULL)
        *bound = ((uint64_t)*bound + inc > UINT32_MAX) ? UINT32_MAX : *bound + inc;
    return FX_OK;
}

/* The column scale, decided once per call: k != 0 selects fx_requant_hi (fx_requant_hi_k). */
typedef struct {
    int32_t mult, shift, round;
    uint32_t k;
} back_scale;

/* sat16(requant(sat32(acc))): SMULL, ADD, ASR and an SSAT on the usual (k != 0) path */
static inline int16_t back_out(int64_t acc, const back_scale *q)
{
    const int32_t a = fx_sat32(acc);
    return fx_sat16_32(q->k != 0u ? fx_requant_hi(a, q->mult, q->k, q->round) : fx_requant(a, q->mult, q->shift));
}

fx_status fx_dense_backward_input_s16(const int16_t *g, const int16_t *w, uint16_t in, uint16_t out,
                                      int32_t mult, int32_t shift, int16_t *g_in)
{
    uint16_t i, j;
    back_scale q;
    fx_status st;
    if (g == NULL || w == NULL || g_in == NULL) return FX_ERR_NULL;
    if (in == 0 || out == 0) return FX_ERR_SHAPE;
    if ((st = fx_requant_check(mult, shift)) != FX_OK) return st;
    q.mult = mult;
    q.shift = shift;
    q.k = fx_requant_hi_k(shift);   /* fx_requant_check: mult >= 0 */
    q.round = q.k != 0u ? INT32_C(1) << (q.k - 1u) : 0;
    /* |sum| <= 65535 * 2^30 < 2^47 is exact in int64 (one SMLAL per term on Cortex-M). Two
     * columns per pass, each g[i] loaded once for both, except in size-optimized builds. */
    j = 0;
#if defined(__ARM_FEATURE_DSP) && !defined(__ARM_BIG_ENDIAN) && defined(__GNUC__) && !defined(__OPTIMIZE_SIZE__)
    /* Cortex-M4: two columns and two rows per step. The words w[i][j..j+1] and w[i+1][j..j+1]
     * regroup (PKHBT / PKHTB) into the pairs (w[i][j], w[i+1][j]) and (w[i][j+1], w[i+1][j+1]),
     * each one SMLALD against (g[i], g[i+1]): 4 MACs in 10 instructions, still exact in int64. */
    for (; j + 2u <= in; j += 2u) {
        int64_t a0 = 0, a1 = 0;
        const int16_t *col = w + j, *gi = g;
        uint32_t k;
        for (k = out >> 1; k != 0u; k--, gi += 2, col += 2u * in) {
            uint32_t gp, r0, r1, lo, hi;
            __builtin_memcpy(&gp, gi, 4);
            __builtin_memcpy(&r0, col, 4);
            __builtin_memcpy(&r1, col + in, 4);
            __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(lo) : "r"(r0), "r"(r1));
            __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(hi) : "r"(r1), "r"(r0));
            a0 = __smlald((int16x2_t)gp, (int16x2_t)lo, a0);
            a1 = __smlald((int16x2_t)gp, (int16x2_t)hi, a1);
        }
        if (out & 1u) {
            a0 += (int32_t)*gi * col[0];
            a1 += (int32_t)*gi * col[1];
        }
        g_in[j] = back_out(a0, &q);
        g_in[j + 1u] = back_out(a1, &q);
    }
#elif !defined(__OPTIMIZE_SIZE__)
    for (; j + 2u <= in; j += 2u) {
        int64_t a0 = 0, a1 = 0;
        const int16_t *col = w + j;
        for (i = 0; i < out; i++, col += in) {
            const int32_t gi = g[i];
            a0 += gi * col[0];
            a1 += gi * col[1];
        }
        g_in[j] = back_out(a0, &q);
        g_in[j + 1u] = back_out(a1, &q);
    }
#endif
    for (; j < in; j++) {
        int64_t a0 = 0;
        const int16_t *col = w + j;
        for (i = 0; i < out; i++, col += in) a0 += (int32_t)g[i] * col[0];
        g_in[j] = back_out(a0, &q);
    }
    return FX_OK;
}

fx_status fx_act_backward_s16(const int16_t *y, uint16_t n, int16_t act_min, int16_t act_max, int16_t *g)
{
    uint16_t j;
    if (y == NULL || g == NULL) return FX_ERR_NULL;
    if (n == 0) return FX_ERR_SHAPE;
    if (act_min > act_max) return FX_ERR_PARAM;
    for (j = 0; j < n; j++)
        if (!(y[j] > act_min && y[j] < act_max)) g[j] = 0;
    return FX_OK;
}
