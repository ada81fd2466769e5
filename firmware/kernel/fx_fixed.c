/* External definitions of the C99 inline helpers of fx_fixed.h. */
#include "fx_fixed.h"

extern inline int32_t fx_sat32(int64_t x);
extern inline int16_t fx_sat16(int64_t x);
extern inline int16_t fx_sat16_32(int32_t x);
extern inline int8_t fx_sat8(int64_t x);
extern inline int64_t fx_rhu_shift64(int64_t x, int s);
extern inline int64_t fx_rhu_div(int64_t a, int64_t b);
extern inline int16_t fx_add_sat16(int16_t a, int16_t b);
extern inline int16_t fx_sub_sat16(int16_t a, int16_t b);
extern inline int16_t fx_mul_sat16(int16_t a, int16_t b);
extern inline int32_t fx_add_sat32(int32_t a, int32_t b);
extern inline int32_t fx_sub_sat32(int32_t a, int32_t b);
extern inline int32_t fx_q_from_int(int32_t i, int q);
extern inline int32_t fx_q_rescale(int32_t x, int q_from, int q_to);
