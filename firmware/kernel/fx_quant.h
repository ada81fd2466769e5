/* fxlearn kernel: quantized weight formats, packed codes and their integer levels
 * (docs/kernel.md section 3). */
#ifndef FX_QUANT_H
#define FX_QUANT_H

#include "fx_config.h"
#include "fx_status.h"

/* Weight formats; the numbers are part of the model blob and equal quant.py's FMT_*. */
typedef enum {
    FX_FMT_INT8 = 0,     /* int8_t[out][in], the value itself */
    FX_FMT_INT16 = 1,    /* int16_t[out][in], the value itself */
    FX_FMT_UNIFORM = 2,  /* packed sign-magnitude codes, level m */
    FX_FMT_POT = 3,      /* packed codes, level 0 or 2^(m-1) */
    FX_FMT_APOT = 4      /* packed codes, level L_B[m]: a sum of at most 3 powers of two */
} fx_format;

#define FX_APOT_MAX_TERMS 3

/* One APoT magnitude level as its powers of two: level = sum of 2^shift[k] for k < n.
 * A product with it is n shift-and-adds, no multiplication. */
typedef struct {
    uint8_t n;
    uint8_t shift[FX_APOT_MAX_TERMS];
} fx_apot_terms;

/* FX_OK if `bits` is a width of `format`: INT8 8, INT16 16, UNIFORM 2..6 and 8, POT 2..6,
 * APOT 2..7. Unknown format -> FX_ERR_FORMAT, unsupported width -> FX_ERR_BITS. */
fx_status fx_quant_check(int32_t format, int32_t bits);

/* Bytes of one weight row of `in` elements: in (INT8), 2 * in (INT16),
 * ceil(in * bits / 8) (packed codes, each row starts on a byte boundary). */
fx_status fx_quant_row_stride(int32_t format, int32_t bits, uint32_t in, uint32_t *stride);

/* Largest |level| of the format: 128, 32768, 2^B - 1, 2^(2^B - 2), L_B[2^B - 1]. */
fx_status fx_quant_max_level(int32_t format, int32_t bits, uint32_t *max_level);

/* Signed level of one code (packed formats) or one element's bit pattern (INT8: the low 8
 * bits as int8_t, INT16: the low 16 bits as int16_t). code >= 2^bits -> FX_ERR_PARAM. */
fx_status fx_quant_level(int32_t format, int32_t bits, uint32_t code, int32_t *level);

/* The 2^(bits-1) APoT magnitude levels of a bits-wide code as shift lists, ascending
 * by level; NULL if bits is not 2..7. */
const fx_apot_terms *fx_quant_apot_terms(int32_t bits);

#endif
