/* Activations and decisions on int16 vectors (docs/kernel.md section 5). */
#include "fx_act.h"

fx_status fx_relu_s16(int16_t *x, uint32_t n)
{
    uint32_t i;
    if (n == 0u) return FX_OK;
    if (x == NULL) return FX_ERR_NULL;
    for (i = 0; i < n; i++)
        if (x[i] < 0) x[i] = 0;
    return FX_OK;
}

fx_status fx_argmax_s16(const int16_t *x, uint32_t n, uint32_t *index)
{
    uint32_t i, best = 0;
    if (x == NULL || index == NULL) return FX_ERR_NULL;
    if (n == 0u) return FX_ERR_SHAPE;
    for (i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;   /* strict: an equal later value keeps the lower index */
    *index = best;
    return FX_OK;
}

fx_status fx_levels_check_s16(const int16_t *levels, uint32_t n_levels)
{
    uint32_t i;
    if (levels == NULL) return FX_ERR_NULL;
    if (n_levels == 0u) return FX_ERR_SHAPE;
    for (i = 1; i < n_levels; i++)
        if (levels[i] <= levels[i - 1]) return FX_ERR_PARAM;
    return FX_OK;
}

fx_status fx_snap_s16(int16_t *x, uint32_t n, const int16_t *levels, uint32_t n_levels)
{
    uint32_t i;
    fx_status st = fx_levels_check_s16(levels, n_levels);
    if (st != FX_OK) return st;
    if (n == 0u) return FX_OK;
    if (x == NULL) return FX_ERR_NULL;
    for (i = 0; i < n; i++) {
        /* lo = number of levels below v: levels[lo] is the smallest level >= v */
        const int32_t v = x[i];
        uint32_t lo = 0, hi = n_levels;
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo) / 2u;
            if (levels[mid] < v) lo = mid + 1u; else hi = mid;
        }
        if (lo == n_levels) x[i] = levels[n_levels - 1u];
        else if (lo == 0u) x[i] = levels[0];
        else x[i] = (levels[lo] - v <= v - levels[lo - 1u]) ? levels[lo] : levels[lo - 1u];
    }
    return FX_OK;
}
