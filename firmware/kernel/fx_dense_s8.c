/* Dense layer forward with int8_t inputs: the dot-product instances and the public entry points. */
#include "fx_dense_impl.h"

#define FX_DOT_XT int8_t
#define FX_DOT_UACC uint32_t
#define FX_DOT_NAME dot32_s8
#include "fx_dense_dot.h"

#define FX_DOT_XT int8_t
#define FX_DOT_UACC uint64_t
#define FX_DOT_NAME dot64_s8
#include "fx_dense_dot.h"

static uint32_t max_abs_s8(const void *xv, uint32_t n)
{
    const int8_t *x = (const int8_t *)xv;
    uint32_t j, m = 0;
    for (j = 0; j < n; j++) {
        uint32_t a = (uint32_t)(x[j] < 0 ? -(int32_t)x[j] : (int32_t)x[j]);
        if (a > m) m = a;
    }
    return m;
}

static const fx_dense_input_ops ops_s8 = { dot32_s8, dot64_s8, max_abs_s8, fx_dense_fast_s8 };

fx_status fx_dense_s8(const fx_dense_layer *layer, const int8_t *x, int8_t *y)
{
    return fx_dense_run(layer, &ops_s8, x, NULL, y);
}

fx_status fx_dense_s8_s16(const fx_dense_layer *layer, const int8_t *x, int16_t *y)
{
    return fx_dense_run(layer, &ops_s8, x, y, NULL);
}
