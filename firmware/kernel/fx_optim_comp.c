/* fxlearn kernel: the quantized orthogonal compensation vector, eq. (12)-(24) of seed 000
 * (docs/optimizer.md section 4). Everything from integer quotients and remainders: the
 * restoring division fx_optim_udiv_shl computes floor(a 2^s / b) and its remainder without a
 * wider type, so Qp v_i^2 (up to 2^86) never has to be formed. */
#include "fx_optim.h"
#include "fx_fixed.h"

uint64_t fx_optim_udiv_shl(uint64_t a, uint64_t b, int32_t s, uint64_t cap, uint64_t *rem)
{
    uint64_t qt, r;
    if (b == 0) return cap;
    qt = fx_udiv64(a, b, &r);
    if (qt > cap) return cap;
    while (s-- > 0) {
        /* 2r >= b  <=>  r >= b - r, and 2r - b = r - (b - r): no overflow for any b */
        uint64_t bit = r >= b - r ? 1u : 0u;
        if (qt > (cap - bit) / 2) return cap;      /* 2 qt + bit > cap, checked before it overflows */
        qt = 2 * qt + bit;
        r = bit ? r - (b - r) : 2 * r;
    }
    if (rem) *rem = r;
    return qt;
}

static uint64_t mag(int32_t v)
{
    return v < 0 ? (uint64_t)(-(int64_t)v) : (uint64_t)v;
}

fx_status fx_optim_comp_coef(const int32_t *v, uint32_t n, int32_t q, uint32_t *m, int64_t *c)
{
    uint32_t i, im = 0;
    uint64_t vm = 0, b, quot = 0, rsum = 0, carry = 0;
    if (!v || !m || !c) return FX_ERR_NULL;
    if (n == 0) return FX_ERR_SHAPE;
    if (q < FX_OPTIM_Q_MIN || q > FX_OPTIM_Q_MAX) return FX_ERR_PARAM;
    for (i = 0; i < n; i++) {
        if (mag(v[i]) > vm) {
            vm = mag(v[i]);
            im = i;
        }
    }
    if (vm == 0) return FX_ERR_PARAM;          /* no direction: no compensation vector */
    b = vm * vm;                               /* <= 2^62 */
    for (i = 0; i < n; i++) {
        uint64_t r = 0;
        /* eq. (22)-(23): quotient floor(Qp v_i^2 / v_m^2) and remainder, v_i^2 <= v_m^2 */
        quot += fx_optim_udiv_shl(mag(v[i]) * mag(v[i]), b, q, UINT64_MAX, &r);
        rsum += r;                             /* rsum, r < b <= 2^62: no overflow */
        if (rsum >= b) {
            rsum -= b;
            carry++;
        }
    }
    /* [sum Rem] = carry + round half up of rsum / b */
    *m = im;
    *c = (int64_t)(quot + carry + (rsum >= b - rsum ? 1u : 0u));
    return FX_OK;
}

fx_status fx_optim_comp_vector(const int32_t *v, uint32_t n, int32_t q, int64_t *z)
{
    uint32_t i, m;
    int64_t c, f, lim;
    fx_status st;
    if (!z) return FX_ERR_NULL;
    st = fx_optim_comp_coef(v, n, q, &m, &c);
    if (st != FX_OK) return st;
    for (i = 0; i < n; i++) z[i] = (int64_t)v[i] * ((int64_t)1 << q);   /* |.| <= 2^55 */
    f = ((int64_t)1 << q) - c;                                            /* Qp - c */
    lim = (int64_t)fx_udiv64((uint64_t)INT64_MAX, mag(v[m]), NULL);      /* v_m != 0 */
    if (f != 0 && (f > lim || f < -lim))
        return FX_ERR_PARAM;
    z[m] = f * v[m];
    return FX_OK;
}

int32_t fx_optim_comp_direction_m(int32_t v_m, int64_t c, int32_t q)
{
    /* (Qp - c) v_m / Qp = (1 - c_hi) v_m - c_lo v_m / Qp with c = c_hi Qp + c_lo; the first
     * term is an integer, so it leaves the rounding, and c_lo v_m < 2^55 */
    int64_t c_hi = c >> q, c_lo = c & (((int64_t)1 << q) - 1);
    return fx_sat32((1 - c_hi) * (int64_t)v_m + fx_rhu_shift64(-c_lo * (int64_t)v_m, q));
}
