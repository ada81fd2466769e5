/* Quantized weight formats: width validation, row stride, levels of codes
 * (docs/kernel.md section 3). */
#include "fx_quant.h"

/* APoT levels of B = bits - 1 magnitude bits as powers of two (ALGORITHMS.md 2.1, in units
 * of the smallest power used), m-th smallest level first. Checked against quant.levels()
 * by tests/test_quant.py. */
static const fx_apot_terms apot_b1[2] = {   /* levels 0 1 */
    {0, {0, 0, 0}}, {1, {0, 0, 0}},
};
static const fx_apot_terms apot_b2[4] = {   /* levels 0 1 2 4 */
    {0, {0, 0, 0}}, {1, {0, 0, 0}}, {1, {1, 0, 0}}, {1, {2, 0, 0}},
};
static const fx_apot_terms apot_b3[8] = {   /* levels 0 1 2 3 4 6 8 10 */
    {0, {0, 0, 0}}, {1, {0, 0, 0}}, {1, {1, 0, 0}}, {2, {1, 0, 0}},
    {1, {2, 0, 0}}, {2, {2, 1, 0}}, {1, {3, 0, 0}}, {2, {3, 1, 0}},
};
static const fx_apot_terms apot_b4[16] = {   /* levels 0 1 2 3 4 6 8 9 12 16 18 24 32 33 36 48 */
    {0, {0, 0, 0}}, {1, {0, 0, 0}}, {1, {1, 0, 0}}, {2, {1, 0, 0}},
    {1, {2, 0, 0}}, {2, {2, 1, 0}}, {1, {3, 0, 0}}, {2, {3, 0, 0}},
    {2, {3, 2, 0}}, {1, {4, 0, 0}}, {2, {4, 1, 0}}, {2, {4, 3, 0}},
    {1, {5, 0, 0}}, {2, {5, 0, 0}}, {2, {5, 2, 0}}, {2, {5, 4, 0}},
};
static const fx_apot_terms apot_b5[32] = {   /* levels ... 100 */
    {0, {0, 0, 0}}, {1, {0, 0, 0}}, {1, {1, 0, 0}}, {2, {1, 0, 0}},
    {1, {2, 0, 0}}, {2, {2, 0, 0}}, {2, {2, 1, 0}}, {3, {2, 1, 0}},
    {1, {3, 0, 0}}, {2, {3, 1, 0}}, {2, {3, 2, 0}}, {3, {3, 2, 1}},
    {1, {4, 0, 0}}, {2, {4, 0, 0}}, {2, {4, 2, 0}}, {3, {4, 2, 0}},
    {2, {4, 3, 0}}, {3, {4, 3, 2}}, {1, {5, 0, 0}}, {2, {5, 1, 0}},
    {2, {5, 2, 0}}, {3, {5, 2, 1}}, {2, {5, 4, 0}}, {3, {5, 4, 2}},
    {1, {6, 0, 0}}, {2, {6, 0, 0}}, {2, {6, 2, 0}}, {3, {6, 2, 0}},
    {2, {6, 3, 0}}, {3, {6, 3, 2}}, {2, {6, 5, 0}}, {3, {6, 5, 2}},
};
static const fx_apot_terms apot_b6[64] = {   /* levels ... 448 */
    {0, {0, 0, 0}}, {1, {0, 0, 0}}, {1, {1, 0, 0}}, {2, {1, 0, 0}},
    {1, {2, 0, 0}}, {2, {2, 0, 0}}, {2, {2, 1, 0}}, {3, {2, 1, 0}},
    {1, {3, 0, 0}}, {2, {3, 1, 0}}, {2, {3, 2, 0}}, {3, {3, 2, 1}},
    {1, {4, 0, 0}}, {2, {4, 0, 0}}, {2, {4, 2, 0}}, {3, {4, 2, 0}},
    {2, {4, 3, 0}}, {3, {4, 3, 2}}, {1, {5, 0, 0}}, {2, {5, 0, 0}},
    {2, {5, 1, 0}}, {3, {5, 1, 0}}, {2, {5, 3, 0}}, {3, {5, 3, 1}},
    {2, {5, 4, 0}}, {3, {5, 4, 0}}, {3, {5, 4, 3}}, {1, {6, 0, 0}},
    {2, {6, 1, 0}}, {2, {6, 2, 0}}, {3, {6, 2, 1}}, {2, {6, 4, 0}},
    {3, {6, 4, 2}}, {2, {6, 5, 0}}, {3, {6, 5, 1}}, {3, {6, 5, 4}},
    {1, {7, 0, 0}}, {2, {7, 0, 0}}, {2, {7, 2, 0}}, {3, {7, 2, 0}},
    {2, {7, 3, 0}}, {3, {7, 3, 2}}, {2, {7, 5, 0}}, {3, {7, 5, 0}},
    {3, {7, 5, 3}}, {2, {7, 6, 0}}, {3, {7, 6, 2}}, {3, {7, 6, 5}},
    {1, {8, 0, 0}}, {2, {8, 0, 0}}, {2, {8, 1, 0}}, {3, {8, 1, 0}},
    {2, {8, 3, 0}}, {3, {8, 3, 1}}, {2, {8, 4, 0}}, {3, {8, 4, 0}},
    {3, {8, 4, 3}}, {2, {8, 6, 0}}, {3, {8, 6, 1}}, {3, {8, 6, 4}},
    {2, {8, 7, 0}}, {3, {8, 7, 0}}, {3, {8, 7, 3}}, {3, {8, 7, 6}},
};

const fx_apot_terms *fx_quant_apot_terms(int32_t bits)
{
    switch (bits) {
    case 2: return apot_b1;
    case 3: return apot_b2;
    case 4: return apot_b3;
    case 5: return apot_b4;
    case 6: return apot_b5;
    case 7: return apot_b6;
    default: return NULL;
    }
}

fx_status fx_quant_check(int32_t format, int32_t bits)
{
    switch (format) {
    case FX_FMT_INT8: return bits == 8 ? FX_OK : FX_ERR_BITS;
    case FX_FMT_INT16: return bits == 16 ? FX_OK : FX_ERR_BITS;
    case FX_FMT_UNIFORM: return (bits >= 2 && bits <= 6) || bits == 8 ? FX_OK : FX_ERR_BITS;
    /* PoT stops at 6 bits: 8 would need levels up to 2^126 */
    case FX_FMT_POT: return bits >= 2 && bits <= 6 ? FX_OK : FX_ERR_BITS;
    case FX_FMT_APOT: return bits >= 2 && bits <= 7 ? FX_OK : FX_ERR_BITS;
    default: return FX_ERR_FORMAT;
    }
}

fx_status fx_quant_row_stride(int32_t format, int32_t bits, uint32_t in, uint32_t *stride)
{
    fx_status st = fx_quant_check(format, bits);
    if (st != FX_OK) return st;
    if (stride == NULL) return FX_ERR_NULL;
    if (in > FX_MAX_FAN_IN) return FX_ERR_SHAPE;
    if (format == FX_FMT_INT8) *stride = in;
    else if (format == FX_FMT_INT16) *stride = 2u * in;
    else *stride = (in * (uint32_t)bits + 7u) / 8u;
    return FX_OK;
}

static uint32_t apot_level(const fx_apot_terms *t)
{
    uint32_t level = 0, k;
    for (k = 0; k < t->n; k++) level += 1u << t->shift[k];
    return level;
}

/* Magnitude of code index m (already < 2^B) of a packed format. */
static uint32_t magnitude_level(int32_t format, int32_t bits, uint32_t m)
{
    if (format == FX_FMT_UNIFORM) return m;
    if (format == FX_FMT_POT) return m == 0 ? 0u : 1u << (m - 1u);
    return apot_level(&fx_quant_apot_terms(bits)[m]);
}

fx_status fx_quant_max_level(int32_t format, int32_t bits, uint32_t *max_level)
{
    fx_status st = fx_quant_check(format, bits);
    if (st != FX_OK) return st;
    if (max_level == NULL) return FX_ERR_NULL;
    if (format == FX_FMT_INT8) *max_level = 128u;
    else if (format == FX_FMT_INT16) *max_level = 32768u;
    else *max_level = magnitude_level(format, bits, (1u << (bits - 1)) - 1u);
    return FX_OK;
}

fx_status fx_quant_level(int32_t format, int32_t bits, uint32_t code, int32_t *level)
{
    uint32_t mag;
    fx_status st = fx_quant_check(format, bits);
    if (st != FX_OK) return st;
    if (level == NULL) return FX_ERR_NULL;
    if (code >> bits != 0u) return FX_ERR_PARAM;
    if (format == FX_FMT_INT8) {
        *level = code >= 128u ? (int32_t)code - 256 : (int32_t)code;
        return FX_OK;
    }
    if (format == FX_FMT_INT16) {
        *level = code >= 32768u ? (int32_t)code - 65536 : (int32_t)code;
        return FX_OK;
    }
    mag = magnitude_level(format, bits, code & ((1u << (bits - 1)) - 1u));
    *level = (code >> (bits - 1)) != 0u ? -(int32_t)mag : (int32_t)mag;
    return FX_OK;
}
