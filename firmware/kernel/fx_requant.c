#include "fx_requant.h"

extern inline int32_t fx_requant(int32_t acc, int32_t mult, int32_t shift);
extern inline int32_t fx_requant_hi(int32_t acc, int32_t mult, uint32_t k, int32_t round);
extern inline uint32_t fx_requant_hi_k(int32_t shift);
extern inline int32_t fx_requant_fast(int32_t acc, int32_t mult, int32_t shift);
extern inline int16_t fx_requant_s16(int32_t acc, int32_t mult, int32_t shift, int16_t act_min, int16_t act_max);
extern inline int8_t fx_requant_s8(int32_t acc, int32_t mult, int32_t shift, int8_t act_min, int8_t act_max);

fx_status fx_requant_check(int32_t mult, int32_t shift)
{
    if (mult != 0 && mult < FX_MULT_MIN) return FX_ERR_PARAM;
    if (shift < FX_SHIFT_MIN || shift > FX_SHIFT_MAX) return FX_ERR_PARAM;
    return FX_OK;
}
