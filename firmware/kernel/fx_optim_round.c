/* fxlearn kernel: rounding of the quantized update (docs/optimizer.md section 3): round half up
 * (the paper, eq. 4), stochastic rounding from a counter-based hash stream (so any component can
 * be regenerated: commit recomputes the accepted trial), and the step fingerprint used to skip
 * candidates already tried. Error feedback is RHU of z d + residual (the caller of this file
 * adds the residual). */
#include "fx_optim.h"
#include "fx_fixed.h"

#define FX_OPTIM_GOLDEN UINT32_C(0x9E3779B9)
#define FX_OPTIM_MIXK UINT32_C(0x85EBCA6B)

extern inline uint32_t fx_optim_lowbias32(uint32_t x);

uint32_t fx_optim_random(uint32_t seed, uint32_t counter, uint32_t i)
{
    uint32_t key = fx_optim_lowbias32(seed + counter * FX_OPTIM_GOLDEN);
    return fx_optim_lowbias32(key + i * FX_OPTIM_MIXK);
}

int32_t fx_optim_round_step(int64_t t, int32_t dq, uint8_t rounding, uint32_t random, int *rhu_nonzero)
{
    int64_t r = fx_rhu_shift64(t, dq);
    if (r != 0) *rhu_nonzero = 1;
    if (rounding == FX_OPTIM_STOCHASTIC && dq > 0)
        r = (t + (int64_t)(random >> (32 - dq))) >> dq;   /* floor((t + u) / 2^dq), u < 2^dq */
    return fx_sat32(r);
}

uint32_t fx_optim_hash_term(int32_t s, uint32_t i)
{
    return fx_optim_lowbias32((uint32_t)s + i * FX_OPTIM_GOLDEN);
}
