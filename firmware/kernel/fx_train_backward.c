#include "fx_train_backward.h"
#include "fx_requant.h"

static uint32_t abs16(int16_t v) { return (uint32_t)(v < 0 ? -(int32_t)v : (int32_t)v); }

fx_status fx_dense_grad_accum_s16(const int16_t *x, const int16_t *g, uint16_t in, uint16_t out,
                                  int32_t grad_shift, int32_t *dw, int32_t *db, uint32_t *bound)
{
    uint32_t xmax = 0, inc = 0;
    int32_t half;
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
            for (j = 0; j < in; j++)
                row[j] = (int32_t)((uint32_t)row[j] + (uint32_t)((gi * x[j] + half) >> grad_shift));
        } else {
            db[i] = fx_add_sat32(db[i], gi);
            for (j = 0; j < in; j++)
                row[j] = fx_add_sat32(row[j], (gi * x[j] + half) >> grad_shift);
        }
    }
    if (bound != NULL)
        *bound = ((uint64_t)*bound + inc > UINT32_MAX) ? UINT32_MAX : *bound + inc;
    return FX_OK;
}

fx_status fx_dense_backward_input_s16(const int16_t *g, const int16_t *w, uint16_t in, uint16_t out,
                                      int32_t mult, int32_t shift, int16_t *g_in)
{
    uint16_t i, j;
    fx_status st;
    if (g == NULL || w == NULL || g_in == NULL) return FX_ERR_NULL;
    if (in == 0 || out == 0) return FX_ERR_SHAPE;
    if ((st = fx_requant_check(mult, shift)) != FX_OK) return st;
    for (j = 0; j < in; j++) {
        /* |sum| <= 65535 * 2^30 < 2^47: exact in int64 (one SMLAL per term on Cortex-M) */
        int64_t acc = 0;
        const int16_t *col = w + j;
        for (i = 0; i < out; i++)
            acc += (int32_t)g[i] * col[(size_t)i * in];
        g_in[j] = fx_sat16(fx_requant(fx_sat32(acc), mult, shift));
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
