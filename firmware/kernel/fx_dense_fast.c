/* Dense layer, optimized path (docs/kernel.md section 10): the same integers as the reference
 * row loop (fx_dense.c + fx_dense_dot.h), which stays the readable definition, TFLM style.
 *
 * Every dot product here is the exact sum, accumulated in int64 from the bias (it fits:
 * |sum| < 2^62 for in <= FX_MAX_FAN_IN), so no overflow bound is needed; packed codes become
 * their levels by table lookup, a byte or a word of codes at a time.
 * - portable C (Cortex-M3, x86-64, ...): INT16 / INT8 weights unrolled, 2- and 4-bit codes;
 * - Cortex-M DSP extension (__ARM_FEATURE_DSP: Cortex-M4/M7/M33), int16 inputs: SMLALD (two
 *   products into a 64-bit accumulator) fed by LDRD. INT16 weights two rows at a time, INT8
 *   weights via SXTB16, PoT/APoT 4-bit codes through a 256-entry table of level pairs (a byte =
 *   two codes = one SMLALD operand), 2-bit codes through a 16-entry one; int8 inputs with INT8
 *   weights via SXTB16. In the common case (one scale with shift <= -2, int16 outputs, aligned
 *   buffers) INT16 and PoT/APoT 4-bit layers run as one asm loop over pairs of rows, output
 *   stage included.
 * Other formats and widths (3, 5, 6, 7, 8-bit codes; UNIFORM 4-bit on the DSP path: its
 * portable kernel) are left to the reference path. -DFX_DENSE_REFERENCE: the reference only. */
#include "fx_dense_impl.h"
#include "fx_requant.h"

#if defined(FX_DENSE_REFERENCE)

int fx_dense_fast_s16(const fx_dense_layer *layer, const void *x, int16_t *y16, int8_t *y8)
{
    (void)layer; (void)x; (void)y16; (void)y8;
    return 0;
}

int fx_dense_fast_s8(const fx_dense_layer *layer, const void *x, int16_t *y16, int8_t *y8)
{
    (void)layer; (void)x; (void)y16; (void)y8;
    return 0;
}

#else

#if defined(__ARM_FEATURE_DSP) && !defined(__ARM_BIG_ENDIAN) && defined(__GNUC__)
#define FX_DENSE_DSP 1
#include <arm_acle.h>
#else
#define FX_DENSE_DSP 0
#endif

#if defined(__GNUC__)
#define FX_NOINLINE __attribute__((noinline))
#else
#define FX_NOINLINE
#endif

/* 0: no optimized kernels (nor their tables, 2 KiB on the DSP path) for packed codes, which then
 * take the reference path - for firmware whose layers are all INT16 / INT8 and flash is tight. */
#ifndef FX_DENSE_FAST_CODES
#define FX_DENSE_FAST_CODES 1
#endif

#if defined(__OPTIMIZE_SIZE__)
#define FX_DENSE_SMALL 1
#else
#define FX_DENSE_SMALL 0
#endif

/* One layer call: the weights, input, output stage parameters (all validated). */
typedef struct {
    const uint8_t *w;
    uint32_t stride, in, out;
    const void *x;
    const void *table;        /* the kernel's code table (packed formats) */
    const int32_t *bias, *mult, *shift;
    uint32_t scale_mask;      /* 0: one scale, all ones: per output channel (index i & mask) */
    uint32_t k0;              /* one scale with shift <= -2: -1 - shift (1..30), else 0 */
    int32_t mult0, round0;    /* ... its multiplier and 2^(k0 - 1) */
    int32_t lo, hi;           /* act_min, act_max */
    int16_t *y16;             /* exactly one of y16, y8 */
    int8_t *y8;
} fx_rows;

/* fx_sat32 (|v| < 2^62): the low word unless the high word is not its sign. */
static inline int32_t sat32(int64_t v)
{
    const uint32_t lo_u = (uint32_t)((uint64_t)v & 0xFFFFFFFFu);
    const int32_t lo = lo_u <= (uint32_t)INT32_MAX ? (int32_t)lo_u : -(int32_t)~lo_u - 1;
    const int32_t hi = (int32_t)(v >> 32);
    return (lo >> 31) == hi ? lo : (hi >> 31) ^ INT32_MAX;
}

/* The other scales (per channel, or shift >= -1): out of the row loops. */
static FX_NOINLINE int32_t requant_any(int32_t acc, int32_t mult, int32_t shift)
{
    return fx_requant_fast(acc, mult, shift);
}

/* Output i from its exact bias + dot product: sat32, requant, clamp, store (fx_dense_run's). */
static inline void put(const fx_rows *a, uint32_t i, int64_t sum)
{
    const int32_t acc = sat32(sum);
    int32_t y;
    if (a->k0 != 0u) {
        y = fx_requant_hi(acc, a->mult0, a->k0, a->round0);
    } else {
        const uint32_t s = i & a->scale_mask;
        y = requant_any(acc, a->mult[s], a->shift[s]);
    }
    y = y < a->lo ? a->lo : (y > a->hi ? a->hi : y);
    if (a->y16 != NULL) a->y16[i] = (int16_t)y;
    else a->y8[i] = (int8_t)y;
}

/* The common output stage: one scale with shift <= -2 (k0 != 0), int16 outputs. */
static inline int16_t out16(const fx_rows *a, int64_t sum)
{
    int32_t y = fx_requant_hi(sat32(sum), a->mult0, a->k0, a->round0);
    y = y < a->lo ? a->lo : (y > a->hi ? a->hi : y);
    return (int16_t)y;
}

/* A layer loop over a row kernel (inlined into it). Speed builds work on a local copy of the
 * parameters, which lets the compiler keep them in registers; size-optimized builds read them in
 * place, since the copy would be a memcpy call and the only reason the kernel links memcpy. */
#if defined(__OPTIMIZE_SIZE__)
#define FX_ROWS_LOCAL(r, args) const fx_rows *const r = (args)
#else
#define FX_ROWS_LOCAL(r, args) const fx_rows r##_copy = *(args), *const r = &r##_copy
#endif
#define FX_DENSE_LAYER(NAME, DOT)                                                  \
    static void NAME(const fx_rows *args)                                          \
    {                                                                              \
        FX_ROWS_LOCAL(a, args);                                                    \
        const uint8_t *row = a->w;                                                 \
        uint32_t i;                                                                \
        if (a->k0 != 0u && a->y16 != NULL) {                                       \
            for (i = 0; i < a->out; i++, row += a->stride)                         \
                a->y16[i] = out16(a, DOT(row, a->x, a->in, a->table, a->bias[i])); \
        } else {                                                                   \
            for (i = 0; i < a->out; i++, row += a->stride)                         \
                put(a, i, DOT(row, a->x, a->in, a->table, a->bias[i]));            \
        }                                                                          \
    }

typedef void (*fx_layer_fn)(const fx_rows *a);

/* ---- levels of the byte-aligned code widths (docs/kernel.md section 3) --------------------- */
#if FX_DENSE_FAST_CODES
#define FX_POT_MAG(m)     ((1 << (m)) >> 1)                           /* 0, 2^(m-1) */
#define FX_APOT3_MAG(m)   ((int)((0xA8643210u >> (4 * (m))) & 15u))   /* L_3 = 0 1 2 3 4 6 8 10 */
#define FX_UNIFORM_MAG(m) (m)
#define FX_CODE4(MAG, c)  (((c) & 8) ? -MAG((c) & 7) : MAG((c) & 7))
#define FX_POT4(c)        FX_CODE4(FX_POT_MAG, c)
#define FX_APOT4(c)       FX_CODE4(FX_APOT3_MAG, c)
#define FX_UNIFORM4(c)    FX_CODE4(FX_UNIFORM_MAG, c)
#define FX_CODE2(c)       (((c) & 1) == 0 ? 0 : ((c) & 2) ? -1 : 1)   /* B = 1: every format is ternary */

#define FX_X4(F, c)  F(c), F((c) + 1), F((c) + 2), F((c) + 3)
#define FX_X16(F, c) FX_X4(F, c), FX_X4(F, (c) + 4), FX_X4(F, (c) + 8), FX_X4(F, (c) + 12)

static const int16_t levels_pot4[16] = { FX_X16(FX_POT4, 0) };
static const int16_t levels_apot4[16] = { FX_X16(FX_APOT4, 0) };
static const int16_t levels_uniform4[16] = { FX_X16(FX_UNIFORM4, 0) };
static const int16_t levels_code2[4] = { FX_X4(FX_CODE2, 0) };

static const int16_t *levels_of(int32_t format, int32_t bits)
{
    if (bits == 2) return levels_code2;
    if (bits != 4) return NULL;
    return format == FX_FMT_POT ? levels_pot4 : format == FX_FMT_APOT ? levels_apot4 : levels_uniform4;
}
#endif

#define FX_ROW_XT int16_t
#define FX_ROW_SUFFIX s16
#include "fx_dense_fast_rows.h"

#define FX_ROW_XT int8_t
#define FX_ROW_SUFFIX s8
#include "fx_dense_fast_rows.h"

/* ---- Cortex-M DSP kernels ------------------------------------------------------------------ */
#if FX_DENSE_DSP

#if FX_DENSE_FAST_CODES
/* Two codes (one byte) -> their two levels as the int16 halves of one word (SMLALD operand). */
#define FX_HALF(v)       ((uint32_t)(uint16_t)(int16_t)(v))
#define FX_PAIR(F, b)    (FX_HALF(F((b) & 15)) | FX_HALF(F((b) >> 4)) << 16)
#define FX_PAIR_POT4(b)  FX_PAIR(FX_POT4, b)
#define FX_PAIR_APOT4(b) FX_PAIR(FX_APOT4, b)
#define FX_PAIR2(n)      (FX_HALF(FX_CODE2((n) & 3)) | FX_HALF(FX_CODE2((n) >> 2)) << 16)
#define FX_X64(F, c)     FX_X16(F, c), FX_X16(F, (c) + 16), FX_X16(F, (c) + 32), FX_X16(F, (c) + 48)
#define FX_X256(F)       FX_X64(F, 0), FX_X64(F, 64), FX_X64(F, 128), FX_X64(F, 192)

static const uint32_t pairs_pot4[256] = { FX_X256(FX_PAIR_POT4) };
static const uint32_t pairs_apot4[256] = { FX_X256(FX_PAIR_APOT4) };
static const uint32_t pairs_code2[16] = { FX_X16(FX_PAIR2, 0) };
#endif

typedef struct { uint32_t w[2]; } __attribute__((may_alias)) fx_dense_w2;

/* a = word 0, b = word 1 at p (4-byte aligned), p += 8: one LDRD. GCC keeps two LDRs on
 * Cortex-M4, which costs a third more instructions in the inner loops. */
#define FX_LDRD(p, a, b) \
    __asm__("ldrd %0, %1, [%2], #8" : "=r"(a), "=r"(b), "+r"(p) : "m"(*(const fx_dense_w2 *)(const void *)(p)))

static inline uint32_t load32(const uint8_t *p)   /* any alignment: LDR handles it on ARMv7-M */
{
    uint32_t v;
    __builtin_memcpy(&v, p, 4);
    return v;
}

static inline int32_t s32(uint32_t v)            /* a word as SMLALD's int16x2 operand */
{
    return (int32_t)v;
}

static inline uint32_t ror8(uint32_t v)
{
    return (v >> 8) | (v << 24);
}

/* INT16 weights, two rows per pass: each pair of x words feeds four SMLALDs. Eight elements of
 * both rows per step: x, row 0, row 1 loaded two words at a time (LDRD). Written as asm: GCC's
 * allocation of the SMLALD register pairs inserts moves. Operands: accumulators a0, a1, pointers
 * xp, p0, p1, scratch t0..t3. */
#define FX_ASM_MAC8_INT16                                   \
    "ldrd %[t0], %[t1], [%[xp]], #8\n\t"                   \
    "ldrd %[t2], %[t3], [%[p0]], #8\n\t"                   \
    "smlald %Q[a0], %R[a0], %[t0], %[t2]\n\t"              \
    "smlald %Q[a0], %R[a0], %[t1], %[t3]\n\t"              \
    "ldrd %[t2], %[t3], [%[p1]], #8\n\t"                   \
    "smlald %Q[a1], %R[a1], %[t0], %[t2]\n\t"              \
    "smlald %Q[a1], %R[a1], %[t1], %[t3]\n\t"              \
    "ldrd %[t0], %[t1], [%[xp]], #8\n\t"                   \
    "ldrd %[t2], %[t3], [%[p0]], #8\n\t"                   \
    "smlald %Q[a0], %R[a0], %[t0], %[t2]\n\t"              \
    "smlald %Q[a0], %R[a0], %[t1], %[t3]\n\t"              \
    "ldrd %[t2], %[t3], [%[p1]], #8\n\t"                   \
    "smlald %Q[a1], %R[a1], %[t0], %[t2]\n\t"              \
    "smlald %Q[a1], %R[a1], %[t1], %[t3]\n\t"

#define FX_ASM_INT16_OPERANDS                                                                      \
    [a0] "+r"(a0), [a1] "+r"(a1), [xp] "+r"(xp), [p0] "+r"(p0), [p1] "+r"(p1),                     \
    [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2), [t3] "=&r"(t3)

/* Any scale and output type: the generic output stage per row. x and rows 4-byte aligned. */
static void layer_int16_dsp(const fx_rows *a)
{
    const uint8_t *row = a->w;
    const uint32_t in = a->in;
    uint32_t i, k, t0, t1, t2, t3;
    for (i = 0; i + 1u < a->out; i += 2u, row += 2u * a->stride) {
        const uint8_t *xp = (const uint8_t *)a->x, *p0 = row, *p1 = row + a->stride;
        int64_t a0 = a->bias[i], a1 = a->bias[i + 1u];
        for (k = in >> 3; k != 0u; k--)
            __asm__(FX_ASM_MAC8_INT16 : FX_ASM_INT16_OPERANDS : : "memory");
        {
            const int16_t *xt = (const int16_t *)(const void *)xp;
            const int16_t *r0 = (const int16_t *)(const void *)p0, *r1 = (const int16_t *)(const void *)p1;
            for (k = 0; k < (in & 7u); k++) {
                a0 += (int64_t)xt[k] * r0[k];
                a1 += (int64_t)xt[k] * r1[k];
            }
        }
        put(a, i, a0);
        put(a, i + 1u, a1);
    }
    if (i < a->out) put(a, i, row_int16_s16(row, a->x, in, NULL, a->bias[i]));
}

#if FX_DENSE_FAST_CODES
/* 4-bit codes (PoT, APoT), two rows per pass: one x word (two elements) and one code byte of
 * each row (two codes -> a level pair from the table) per SMLALD. Operands as above, t2 = the
 * pair table. */
#define FX_ASM_MAC2_CODE4                                   \
    "ldr %[t0], [%[xp]], #4\n\t"                           \
    "ldrb %[t1], [%[p0]], #1\n\t"                          \
    "ldr %[t1], [%[t2], %[t1], lsl #2]\n\t"                \
    "smlald %Q[a0], %R[a0], %[t0], %[t1]\n\t"              \
    "ldrb %[t1], [%[p1]], #1\n\t"                          \
    "ldr %[t1], [%[t2], %[t1], lsl #2]\n\t"                \
    "smlald %Q[a1], %R[a1], %[t0], %[t1]\n\t"
#endif

/* INT8 weights, int16 inputs (x 4-byte aligned): SXTB16 splits w into (w0, w2) and (w1, w3),
 * PKHBT/PKHTB pair x the same way */
static inline int64_t row_int8_s16_dsp(const uint8_t *row, const void *xv, uint32_t in,
                                      const void *table, int64_t acc)
{
    const uint8_t *xp = (const uint8_t *)xv;
    uint32_t k, x01, x23, w;
    (void)table;
    for (k = in >> 2; k != 0u; k--) {
        FX_LDRD(xp, x01, x23);
        w = load32(row);
        row += 4;
        acc = __smlald(s32((x01 & 0xFFFFu) | (x23 << 16)), __sxtb16(s32(w)), acc);
        acc = __smlald(s32((x23 & 0xFFFF0000u) | (x01 >> 16)), __sxtb16(s32(ror8(w))), acc);
    }
    {
        const int16_t *xt = (const int16_t *)(const void *)xp;
        const int8_t *wt = (const int8_t *)row;
        for (k = 0; k < (in & 3u); k++) acc += (int64_t)xt[k] * wt[k];
    }
    return acc;
}

/* INT8 weights, int8 inputs (any alignment): SXTB16 on both */
static inline int64_t row_int8_s8_dsp(const uint8_t *row, const void *xv, uint32_t in,
                                     const void *table, int64_t acc)
{
    const uint8_t *xp = (const uint8_t *)xv;
    uint32_t k, xw, w;
    (void)table;
    for (k = in >> 2; k != 0u; k--) {
        xw = load32(xp);
        w = load32(row);
        xp += 4;
        row += 4;
        acc = __smlald(__sxtb16(s32(xw)), __sxtb16(s32(w)), acc);
        acc = __smlald(__sxtb16(s32(ror8(xw))), __sxtb16(s32(ror8(w))), acc);
    }
    {
        const int8_t *xt = (const int8_t *)xp, *wt = (const int8_t *)row;
        for (k = 0; k < (in & 3u); k++) acc += (int64_t)xt[k] * wt[k];
    }
    return acc;
}

#if FX_DENSE_FAST_CODES
/* x[j], x[j+1] (at xp) times the two levels in the halves of pair */
static inline int64_t mac_pair(const uint8_t *xp, uint32_t pair, int64_t acc)
{
    return __smlald(s32(load32(xp)), s32(pair), acc);
}

/* x[j] (at xp) times the level in the low half of pair: the last element of an odd row */
static inline int64_t mac_low(const uint8_t *xp, uint32_t pair, int64_t acc)
{
    const int16_t *xt = (const int16_t *)(const void *)xp;
    return acc + (int64_t)xt[0] * (int16_t)(uint16_t)(pair & 0xFFFFu);
}

/* 4-bit codes, int16 inputs (x 4-byte aligned): a word of codes = 8 elements = 4 SMLALDs */
static inline int64_t row_code4_dsp(const uint8_t *row, const void *xv, uint32_t in,
                                   const void *table, int64_t acc)
{
    const uint32_t *pairs = (const uint32_t *)table;
    const uint8_t *xp = (const uint8_t *)xv;
    uint32_t k, c, x0, x1;
    for (k = in >> 3; k != 0u; k--) {
        c = load32(row);
        row += 4;
        FX_LDRD(xp, x0, x1);
        acc = __smlald(s32(x0), s32(pairs[c & 255u]), acc);
        acc = __smlald(s32(x1), s32(pairs[(c >> 8) & 255u]), acc);
        FX_LDRD(xp, x0, x1);
        acc = __smlald(s32(x0), s32(pairs[(c >> 16) & 255u]), acc);
        acc = __smlald(s32(x1), s32(pairs[c >> 24]), acc);
    }
    for (k = (in & 7u) >> 1; k != 0u; k--, xp += 4) acc = mac_pair(xp, pairs[*row++], acc);
    if ((in & 1u) != 0u) acc = mac_low(xp, pairs[*row & 15u], acc);
    return acc;
}

/* 2-bit codes, int16 inputs (x 4-byte aligned): a word of codes = 16 elements = 8 SMLALDs */
static inline int64_t row_code2_dsp(const uint8_t *row, const void *xv, uint32_t in,
                                   const void *table, int64_t acc)
{
    const uint32_t *pairs = (const uint32_t *)table;
    const uint8_t *xp = (const uint8_t *)xv;
    uint32_t k, c, x0, x1;
    for (k = in >> 4; k != 0u; k--) {
        c = load32(row);
        row += 4;
        FX_LDRD(xp, x0, x1);
        acc = __smlald(s32(x0), s32(pairs[c & 15u]), acc);
        acc = __smlald(s32(x1), s32(pairs[(c >> 4) & 15u]), acc);
        FX_LDRD(xp, x0, x1);
        acc = __smlald(s32(x0), s32(pairs[(c >> 8) & 15u]), acc);
        acc = __smlald(s32(x1), s32(pairs[(c >> 12) & 15u]), acc);
        FX_LDRD(xp, x0, x1);
        acc = __smlald(s32(x0), s32(pairs[(c >> 16) & 15u]), acc);
        acc = __smlald(s32(x1), s32(pairs[(c >> 20) & 15u]), acc);
        FX_LDRD(xp, x0, x1);
        acc = __smlald(s32(x0), s32(pairs[(c >> 24) & 15u]), acc);
        acc = __smlald(s32(x1), s32(pairs[c >> 28]), acc);
    }
    /* the last in % 16 elements: two per nibble */
    for (k = 0; k < ((in & 15u) >> 1); k++, xp += 4)
        acc = mac_pair(xp, pairs[(row[k >> 1] >> (4u * (k & 1u))) & 15u], acc);
    if ((in & 1u) != 0u) acc = mac_low(xp, pairs[(row[k >> 1] >> (4u * (k & 1u))) & 15u], acc);
    return acc;
}
#endif

/* ---- the common case in one asm loop over pairs of rows ------------------------------------
 * One scale with shift <= -2, int16 outputs, x, weights (INT16) and y 4-byte aligned, in a
 * multiple of 16 (INT16) or 8 (4-bit codes). Per pair: the accumulators start at the biases;
 * the multiply loop; then for both rows sat32 (as sat32()), fx_requant_hi (SMULL high word + round,
 * ASR k) and SSAT #16; the two results packed (PKHBT), clamped to [lo, hi] per half (SSUB16 +
 * SEL) and stored as one word. The loop state lives in memory (`st`): the multiply loop keeps
 * 13 registers busy. The second row's pointer ends where the next pair starts (stride = the
 * row's bytes). */
typedef struct {
    const int32_t *bias;      /* 0: the next pair's biases */
    const uint8_t *row;       /* 4: the next pair's first row (the second is row + stride) */
    int16_t *y;               /* 8 */
    const int32_t *end;       /* 12: bias + out rounded down to even */
    const uint8_t *x;         /* 16 */
    uint32_t stride;          /* 20 */
    uint32_t passes;          /* 24: multiply-loop passes per pair */
    int32_t mult, round;      /* 28, 32: fx_requant_hi's */
    uint32_t k;               /* 36 */
    uint32_t lo2, hi2;        /* 40, 44: act_min, act_max in both halves */
    const uint32_t *table;    /* 48: level pairs (4-bit codes) */
} fx_pairs_state;

#define FX_ASM_PAIR_BEGIN                                   \
    "1:\n\t"                                               \
    "ldr %[xp], [%[st], #0]\n\t"                           \
    "ldrd %Q[a0], %Q[a1], [%[xp]]\n\t"                     \
    "asr %R[a0], %Q[a0], #31\n\t"                          \
    "asr %R[a1], %Q[a1], #31\n\t"                          \
    "ldr %[p0], [%[st], #4]\n\t"                           \
    "ldr %[t0], [%[st], #20]\n\t"                          \
    "add %[p1], %[p0], %[t0]\n\t"                          \
    "ldr %[xp], [%[st], #16]\n\t"                          \
    "ldr %[k], [%[st], #24]\n\t"

#define FX_ASM_PAIR_END                                     \
    "str %[p1], [%[st], #4]\n\t"                           \
    "cmp %R[a0], %Q[a0], asr #31\n\t"                      \
    "itt ne\n\t"                                           \
    "mvnne %[t0], #0x80000000\n\t"                         \
    "eorne %Q[a0], %[t0], %R[a0], asr #31\n\t"             \
    "cmp %R[a1], %Q[a1], asr #31\n\t"                      \
    "itt ne\n\t"                                           \
    "mvnne %[t0], #0x80000000\n\t"                         \
    "eorne %Q[a1], %[t0], %R[a1], asr #31\n\t"             \
    "ldrd %[t0], %[t1], [%[st], #28]\n\t"                  \
    "ldr %[t2], [%[st], #36]\n\t"                          \
    "smull %[t3], %Q[a0], %Q[a0], %[t0]\n\t"               \
    "add %Q[a0], %Q[a0], %[t1]\n\t"                        \
    "asr %Q[a0], %Q[a0], %[t2]\n\t"                        \
    "ssat %Q[a0], #16, %Q[a0]\n\t"                         \
    "smull %[t3], %Q[a1], %Q[a1], %[t0]\n\t"               \
    "add %Q[a1], %Q[a1], %[t1]\n\t"                        \
    "asr %Q[a1], %Q[a1], %[t2]\n\t"                        \
    "ssat %Q[a1], #16, %Q[a1]\n\t"                         \
    "pkhbt %[t0], %Q[a0], %Q[a1], lsl #16\n\t"             \
    "ldrd %[t2], %[t3], [%[st], #40]\n\t"                  \
    "ssub16 %[t1], %[t0], %[t2]\n\t"                       \
    "sel %[t0], %[t0], %[t2]\n\t"                          \
    "ssub16 %[t1], %[t0], %[t3]\n\t"                       \
    "sel %[t0], %[t3], %[t0]\n\t"                          \
    "ldr %[xp], [%[st], #8]\n\t"                           \
    "str %[t0], [%[xp]], #4\n\t"                           \
    "str %[xp], [%[st], #8]\n\t"                           \
    "ldr %[xp], [%[st], #0]\n\t"                           \
    "ldr %[p0], [%[st], #12]\n\t"                          \
    "adds %[xp], %[xp], #8\n\t"                            \
    "str %[xp], [%[st], #0]\n\t"                           \
    "cmp %[xp], %[p0]\n\t"                                 \
    "bne 1b"

#define FX_ASM_PAIR_OPERANDS                                                                       \
    [a0] "=&r"(a0), [a1] "=&r"(a1), [xp] "=&r"(xp), [p0] "=&r"(p0), [p1] "=&r"(p1), [k] "=&r"(k),  \
    [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2), [t3] "=&r"(t3)

static void pairs_state(const fx_rows *a, uint32_t passes, fx_pairs_state *st)
{
    st->bias = a->bias;
    st->row = a->w;
    st->y = a->y16;
    st->end = a->bias + (a->out & ~1u);
    st->x = (const uint8_t *)a->x;
    st->stride = a->stride;
    st->passes = passes;
    st->mult = a->mult0;
    st->round = a->round0;
    st->k = a->k0;
    st->lo2 = (uint32_t)(uint16_t)a->lo * 0x10001u;
    st->hi2 = (uint32_t)(uint16_t)a->hi * 0x10001u;
    st->table = (const uint32_t *)a->table;
}

/* The last row of an odd `out`, after the pairs. */
static void last_row(const fx_rows *a, const uint8_t *row,
                     int64_t (*dot)(const uint8_t *, const void *, uint32_t, const void *, int64_t))
{
    if ((a->out & 1u) != 0u) {
        const uint32_t i = a->out - 1u;
        put(a, i, dot(row, a->x, a->in, a->table, a->bias[i]));
    }
}

static void layer_int16_common(const fx_rows *a)
{
    fx_pairs_state st;
    int64_t a0, a1;
    uint32_t k, t0, t1, t2, t3;
    const uint8_t *xp, *p0, *p1;
    pairs_state(a, a->in >> 4, &st);
    if (st.bias != st.end)
        __asm__ volatile(   /* volatile: its results are the stores */
            FX_ASM_PAIR_BEGIN
            "2:\n\t"
            FX_ASM_MAC8_INT16 FX_ASM_MAC8_INT16
            "subs %[k], %[k], #1\n\t"
            "bne 2b\n\t"
            FX_ASM_PAIR_END
            : FX_ASM_PAIR_OPERANDS
            : [st] "r"(&st)
            : "cc", "memory");
    last_row(a, st.row, row_int16_s16);
}

FX_DENSE_LAYER(layer_int8_s16_dsp, row_int8_s16_dsp)
FX_DENSE_LAYER(layer_int8_s8_dsp, row_int8_s8_dsp)

#if FX_DENSE_FAST_CODES
static void layer_code4_common(const fx_rows *a)
{
    fx_pairs_state st;
    int64_t a0, a1;
    uint32_t k, t0, t1, t2, t3;
    const uint8_t *xp, *p0, *p1;
    pairs_state(a, a->in >> 3, &st);
    if (st.bias != st.end)
        __asm__ volatile(
            FX_ASM_PAIR_BEGIN
            "ldr %[t2], [%[st], #48]\n"
            "2:\n\t"
            FX_ASM_MAC2_CODE4 FX_ASM_MAC2_CODE4 FX_ASM_MAC2_CODE4 FX_ASM_MAC2_CODE4
            "subs %[k], %[k], #1\n\t"
            "bne 2b\n\t"
            FX_ASM_PAIR_END
            : FX_ASM_PAIR_OPERANDS
            : [st] "r"(&st)
            : "cc", "memory");
    last_row(a, st.row, row_code4_dsp);
}


FX_DENSE_LAYER(layer_code4_dsp, row_code4_dsp)
FX_DENSE_LAYER(layer_code2_dsp, row_code2_dsp)
#endif

static int aligned4(const void *p)
{
    return ((uintptr_t)p & 3u) == 0u;
}

/* One scale with shift <= -2 and int16 outputs, 4-byte aligned: the specialised output stage. */
static int common_output(const fx_dense_layer *layer, const int16_t *y16)
{
    return layer->n_scale == 1u && layer->shift[0] <= -2 && y16 != NULL && aligned4(y16);
}

#endif /* FX_DENSE_DSP */

/* INT16 weights, int16 inputs, no DSP extension (Cortex-M3; the host too): two rows at a time,
 * so that each input is loaded once for two 64-bit multiply-accumulates (SMLAL), unrolled by
 * four: about 2.9 instructions per MAC on Cortex-M3 instead of 4 for one row at a time. The
 * same exact int64 sums as row_int16_s16. */
static void layer_int16_rows2(const fx_rows *args)
{
    const fx_rows a = *args;
    const int16_t *x = (const int16_t *)a.x;
    const uint8_t *row = a.w;
    uint32_t i = 0, j;
    for (; i + 2u <= a.out; i += 2u, row += 2u * a.stride) {
        const int16_t *w0 = (const int16_t *)(const void *)row;
        const int16_t *w1 = (const int16_t *)(const void *)(row + a.stride);
        int64_t acc0 = a.bias[i], acc1 = a.bias[i + 1u];
        for (j = 0; j + 4u <= a.in; j += 4u) {
            int32_t v = x[j];
            acc0 += (int64_t)v * w0[j];
            acc1 += (int64_t)v * w1[j];
            v = x[j + 1u];
            acc0 += (int64_t)v * w0[j + 1u];
            acc1 += (int64_t)v * w1[j + 1u];
            v = x[j + 2u];
            acc0 += (int64_t)v * w0[j + 2u];
            acc1 += (int64_t)v * w1[j + 2u];
            v = x[j + 3u];
            acc0 += (int64_t)v * w0[j + 3u];
            acc1 += (int64_t)v * w1[j + 3u];
        }
        for (; j < a.in; j++) {
            acc0 += (int64_t)x[j] * w0[j];
            acc1 += (int64_t)x[j] * w1[j];
        }
        put(&a, i, acc0);
        put(&a, i + 1u, acc1);
    }
    if (i < a.out) put(&a, i, row_int16_s16(row, a.x, a.in, NULL, a.bias[i]));
}

/* ---- kernel selection ---------------------------------------------------------------------- */

static void run(const fx_dense_layer *layer, fx_layer_fn fn, const void *table, const void *x,
                int16_t *y16, int8_t *y8)
{
    fx_rows a;
    a.w = (const uint8_t *)layer->weights;
    (void)fx_quant_row_stride(layer->format, layer->bits, layer->in, &a.stride);
    a.in = layer->in;
    a.out = layer->out;
    a.x = x;
    a.table = table;
    a.bias = layer->bias;
    a.mult = layer->mult;
    a.shift = layer->shift;
    a.scale_mask = layer->n_scale == 1u ? 0u : ~0u;
    a.k0 = layer->n_scale == 1u ? fx_requant_hi_k(layer->shift[0]) : 0u;
    a.mult0 = layer->mult[0];
    a.round0 = a.k0 != 0u ? INT32_C(1) << (a.k0 - 1u) : 0;
    a.lo = layer->act_min;
    a.hi = layer->act_max;
    a.y16 = y16;
    a.y8 = y8;
    fn(&a);
}

int fx_dense_fast_s16(const fx_dense_layer *layer, const void *x, int16_t *y16, int8_t *y8)
{
    const int32_t fmt = layer->format;
    const void *table = NULL;
    fx_layer_fn fn;
    /* the DSP path picks its own INT16 kernels below (layer_int16_s16 when x is unaligned);
     * size-optimized builds keep the one-row loop, which -Os compiles to faster code */
    if (fmt == FX_FMT_INT16) fn = FX_DENSE_DSP || FX_DENSE_SMALL ? layer_int16_s16 : layer_int16_rows2;
    else if (fmt == FX_FMT_INT8) fn = layer_int8_s16;
#if FX_DENSE_FAST_CODES
    else if ((table = levels_of(fmt, layer->bits)) != NULL) fn = layer->bits == 2 ? layer_code2_s16 : layer_code4_s16;
#endif
    else return 0;
#if FX_DENSE_DSP
    if (aligned4(x)) {   /* LDRD needs word-aligned inputs */
        const int common = common_output(layer, y16);
        if (fmt == FX_FMT_INT16 && aligned4(layer->weights) && (layer->in & 1u) == 0u)
            fn = common && (layer->in & 15u) == 0u ? layer_int16_common : layer_int16_dsp;
        else if (fmt == FX_FMT_INT8) fn = layer_int8_s16_dsp;
#if FX_DENSE_FAST_CODES
        else if (layer->bits == 2 && table != NULL) { fn = layer_code2_dsp; table = pairs_code2; }
        else if (layer->bits == 4 && (fmt == FX_FMT_POT || fmt == FX_FMT_APOT)) {
            table = fmt == FX_FMT_POT ? pairs_pot4 : pairs_apot4;
            fn = common && (layer->in & 7u) == 0u ? layer_code4_common : layer_code4_dsp;
        }
#endif
    }
#endif
    run(layer, fn, table, x, y16, y8);
    return 1;
}

int fx_dense_fast_s8(const fx_dense_layer *layer, const void *x, int16_t *y16, int8_t *y8)
{
    const int32_t fmt = layer->format;
    const void *table = NULL;
    fx_layer_fn fn;
    if (fmt == FX_FMT_INT16) fn = layer_int16_s8;
    else if (fmt == FX_FMT_INT8) fn = layer_int8_s8;
#if FX_DENSE_FAST_CODES
    else if ((table = levels_of(fmt, layer->bits)) != NULL) fn = layer->bits == 2 ? layer_code2_s8 : layer_code4_s8;
#endif
    else return 0;
#if FX_DENSE_DSP
    if (fmt == FX_FMT_INT8) fn = layer_int8_s8_dsp;
#endif
    run(layer, fn, table, x, y16, y8);
    return 1;
}

#endif /* FX_DENSE_REFERENCE */
