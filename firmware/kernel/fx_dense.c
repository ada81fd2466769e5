/* Dense layer: validation and the row loop shared by every input/output type
 * (docs/kernel.md section 4). The per-input-type dot products live in fx_dense_s16.c and
 * fx_dense_s8.c. */
#include "fx_dense_impl.h"
#include "fx_requant.h"

fx_status fx_dense_check(const fx_dense_layer *layer, int32_t out_bits)
{
    fx_status st;
    uint32_t k;
    int32_t lo, hi;

    if (layer == NULL) return FX_ERR_NULL;
    if (layer->weights == NULL || layer->bias == NULL || layer->mult == NULL || layer->shift == NULL)
        return FX_ERR_NULL;
    st = fx_quant_check(layer->format, layer->bits);
    if (st != FX_OK) return st;
    if (layer->in == 0u || layer->in > FX_MAX_FAN_IN || layer->out == 0u || layer->out > FX_MAX_FAN_OUT)
        return FX_ERR_SHAPE;
    if (layer->n_scale != 1u && layer->n_scale != layer->out) return FX_ERR_SHAPE;
    for (k = 0; k < layer->n_scale; k++) {
        st = fx_requant_check(layer->mult[k], layer->shift[k]);
        if (st != FX_OK) return st;
    }
    if (out_bits == 16) { lo = INT16_MIN; hi = INT16_MAX; }
    else if (out_bits == 8) { lo = INT8_MIN; hi = INT8_MAX; }
    else return FX_ERR_PARAM;
    if (layer->act_min < lo || layer->act_max > hi || layer->act_min > layer->act_max) return FX_ERR_PARAM;
    if (layer->format == FX_FMT_INT16 && ((uintptr_t)layer->weights & 1u) != 0u) return FX_ERR_PARAM;
    return FX_OK;
}

/* Two's complement value of an unsigned accumulator that holds the exact sum modulo 2^N. */
static int32_t signed32(uint32_t u)
{
    return u <= (uint32_t)INT32_MAX ? (int32_t)u : -(int32_t)~u - 1;
}

static int64_t signed64(uint64_t u)
{
    return u <= (uint64_t)INT64_MAX ? (int64_t)u : -(int64_t)~u - 1;
}

fx_status fx_dense_run(const fx_dense_layer *layer, const fx_dense_input_ops *ops, const void *x,
                       int16_t *y16, int8_t *y8)
{
    const uint8_t *weights;
    uint32_t stride, max_level, i;
    int narrow;
    fx_status st;

    if (x == NULL || (y16 == NULL && y8 == NULL)) return FX_ERR_NULL;
    st = fx_dense_check(layer, y16 != NULL ? 16 : 8);
    if (st != FX_OK) return st;
    if (ops->fast(layer, x, y16, y8)) return FX_OK;
    (void)fx_quant_row_stride(layer->format, layer->bits, layer->in, &stride);
    (void)fx_quant_max_level(layer->format, layer->bits, &max_level);

    /* |dot| <= in * max|x| * max|level| (< 2^61): int32 suffices when that bound does. */
    narrow = (uint64_t)layer->in * ops->max_abs(x, layer->in) * max_level <= (uint64_t)INT32_MAX;

    weights = (const uint8_t *)layer->weights;
    for (i = 0; i < layer->out; i++) {
        const uint8_t *row = weights + (size_t)i * stride;
        const uint32_t k = layer->n_scale == 1u ? 0u : i;
        int64_t dot = narrow ? (int64_t)signed32(ops->dot32(layer, row, x)) : signed64(ops->dot64(layer, row, x));
        int32_t acc = fx_sat32(dot + layer->bias[i]);
        if (y16 != NULL)
            y16[i] = fx_requant_s16(acc, layer->mult[k], layer->shift[k],
                                    (int16_t)layer->act_min, (int16_t)layer->act_max);
        else
            y8[i] = fx_requant_s8(acc, layer->mult[k], layer->shift[k],
                                  (int8_t)layer->act_min, (int8_t)layer->act_max);
    }
    return FX_OK;
}
