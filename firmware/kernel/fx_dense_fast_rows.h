/* fxlearn kernel, private template of fx_dense_fast.c (no include guard, included once per
 * input type): portable optimized row dot products acc + sum_j x_j * level(W_j), acc the bias,
 * as an exact int64 (|sum| < 2^62 for in <= FX_MAX_FAN_IN: the signed accumulation never
 * overflows), and the layer loops over them (FX_DENSE_LAYER). Parameters: FX_ROW_XT (input
 * element type), FX_ROW_SUFFIX (name suffix). `table`: the int16 level of each code. */

#define FX_ROW_CAT2(a, b) a##b
#define FX_ROW_CAT(a, b) FX_ROW_CAT2(a, b)

/* INT16 weights: unrolled by four (one SMLAL per product on Cortex-M3) */
static inline int64_t FX_ROW_CAT(row_int16_, FX_ROW_SUFFIX)(const uint8_t *row, const void *xv,
                                                     uint32_t in, const void *table, int64_t acc)
{
    const FX_ROW_XT *x = (const FX_ROW_XT *)xv;
    const int16_t *w = (const int16_t *)(const void *)row;
    uint32_t j = 0;
    (void)table;
    for (; j + 4u <= in; j += 4u) {
        acc += (int64_t)x[j] * w[j];
        acc += (int64_t)x[j + 1u] * w[j + 1u];
        acc += (int64_t)x[j + 2u] * w[j + 2u];
        acc += (int64_t)x[j + 3u] * w[j + 3u];
    }
    for (; j < in; j++) acc += (int64_t)x[j] * w[j];
    return acc;
}

static inline int64_t FX_ROW_CAT(row_int8_, FX_ROW_SUFFIX)(const uint8_t *row, const void *xv,
                                                     uint32_t in, const void *table, int64_t acc)
{
    const FX_ROW_XT *x = (const FX_ROW_XT *)xv;
    const int8_t *w = (const int8_t *)row;
    uint32_t j = 0;
    (void)table;
    for (; j + 4u <= in; j += 4u) {
        acc += (int64_t)x[j] * w[j];
        acc += (int64_t)x[j + 1u] * w[j + 1u];
        acc += (int64_t)x[j + 2u] * w[j + 2u];
        acc += (int64_t)x[j + 3u] * w[j + 3u];
    }
    for (; j < in; j++) acc += (int64_t)x[j] * w[j];
    return acc;
}

#if FX_DENSE_FAST_CODES
/* 4-bit codes: one byte holds two, element 2k in the low nibble */
static inline int64_t FX_ROW_CAT(row_code4_, FX_ROW_SUFFIX)(const uint8_t *row, const void *xv,
                                                     uint32_t in, const void *table, int64_t acc)
{
    const FX_ROW_XT *x = (const FX_ROW_XT *)xv;
    const int16_t *levels = (const int16_t *)table;
    uint32_t j = 0;
    for (; j + 2u <= in; j += 2u) {
        const uint32_t b = *row++;
        acc += (int64_t)x[j] * levels[b & 15u];
        acc += (int64_t)x[j + 1u] * levels[b >> 4];
    }
    if (j < in) acc += (int64_t)x[j] * levels[*row & 15u];
    return acc;
}

/* 2-bit codes: one byte holds four, element 4k in the low two bits */
static inline int64_t FX_ROW_CAT(row_code2_, FX_ROW_SUFFIX)(const uint8_t *row, const void *xv,
                                                     uint32_t in, const void *table, int64_t acc)
{
    const FX_ROW_XT *x = (const FX_ROW_XT *)xv;
    const int16_t *levels = (const int16_t *)table;
    uint32_t j = 0, b, k;
    for (; j + 4u <= in; j += 4u) {
        b = *row++;
        acc += (int64_t)x[j] * levels[b & 3u];
        acc += (int64_t)x[j + 1u] * levels[(b >> 2) & 3u];
        acc += (int64_t)x[j + 2u] * levels[(b >> 4) & 3u];
        acc += (int64_t)x[j + 3u] * levels[b >> 6];
    }
    if (j < in)
        for (b = *row, k = 0; j < in; j++, k += 2u) acc += (int64_t)x[j] * levels[(b >> k) & 3u];
    return acc;
}

FX_DENSE_LAYER(FX_ROW_CAT(layer_code4_, FX_ROW_SUFFIX), FX_ROW_CAT(row_code4_, FX_ROW_SUFFIX))
FX_DENSE_LAYER(FX_ROW_CAT(layer_code2_, FX_ROW_SUFFIX), FX_ROW_CAT(row_code2_, FX_ROW_SUFFIX))
#endif

FX_DENSE_LAYER(FX_ROW_CAT(layer_int16_, FX_ROW_SUFFIX), FX_ROW_CAT(row_int16_, FX_ROW_SUFFIX))
FX_DENSE_LAYER(FX_ROW_CAT(layer_int8_, FX_ROW_SUFFIX), FX_ROW_CAT(row_int8_, FX_ROW_SUFFIX))

#undef FX_ROW_CAT
#undef FX_ROW_CAT2
#undef FX_ROW_XT
#undef FX_ROW_SUFFIX
