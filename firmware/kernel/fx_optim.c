/* fxlearn kernel: the Idle-and-Go state machine of the quantized optimizer (docs/optimizer.md):
 * candidates of one direction in phase order, the step schedule, phi of eq. (11), and the calls
 * init / direction / propose / report / commit. One trial per report, never an inner loop of
 * objective evaluations: propose only loops over candidates it can reject without evaluating
 * (a zero step, a step already tried, a vanished step). */
#include "fx_optim.h"
#include "fx_fixed.h"

enum { ST_NEED_DIRECTION = 0, ST_READY = 1, ST_PENDING = 2, ST_NEED_COMMIT = 3 };

#if FX_OPTIM_LATTICE
static const int8_t pattern_shift[3] = { 1, 0, 2 };   /* last step x 1/2, 1, 1/4 */
#endif

uint32_t fx_optim_sizeof(void)
{
    return (uint32_t)sizeof(fx_optim);
}

uint32_t fx_optim_work_len(const fx_optim_config *cfg, uint32_t n)
{
    if (!cfg) return 0;
    return n * ((cfg->rounding == FX_OPTIM_ERROR_FEEDBACK ? 1u : 0u) + (cfg->pattern ? 1u : 0u));
}

static fx_status check_config(const fx_optim_config *c)
{
    if (c->q < FX_OPTIM_Q_MIN || c->q > FX_OPTIM_Q_MAX) return FX_ERR_PARAM;
    if (c->dir_q < 0 || c->dir_q > FX_OPTIM_DIR_Q_MAX) return FX_ERR_PARAM;
    if (c->z_max < 1 || c->z_max > FX_OPTIM_Z_LIMIT) return FX_ERR_PARAM;
    if (c->c1_shift < 0 || c->c1_shift > 62 || c->shrink_shift < 1 || c->shrink_shift > 8) return FX_ERR_PARAM;
    if (c->rounding > FX_OPTIM_ERROR_FEEDBACK || c->schedule > FX_OPTIM_INTERP || c->policy > FX_OPTIM_ADAPT)
        return FX_ERR_PARAM;
    if (c->guess > 1 || c->min_lsb > 1 || c->pattern > 1 || c->expand > FX_OPTIM_EXPAND_MAX
        || c->box > FX_OPTIM_BOX_MAX || c->ortho > 2 || c->ray > FX_OPTIM_RAY_MAX || c->box_line > 1
        || c->ray_far > FX_OPTIM_RAY_MAX)
        return FX_ERR_PARAM;
    if (c->reserved[0] || c->reserved[1] || c->reserved[2] || c->reserved[3]) return FX_ERR_PARAM;
#if !FX_OPTIM_LATTICE
    if (c->min_lsb || c->pattern || c->expand || c->box || c->ray || c->box_line || c->ray_far) return FX_ERR_PARAM;
#endif
    return FX_OK;
}

fx_status fx_optim_init(fx_optim *o, const fx_optim_config *cfg, uint32_t n, int32_t *work, uint32_t work_len)
{
    fx_status st;
    uint32_t i, need;
    fx_optim_stats zero = { 0, 0, 0, 0, 0, 0, 0, 0 };
    if (!o || !cfg) return FX_ERR_NULL;
    st = check_config(cfg);
    if (st != FX_OK) return st;
    if (n == 0 || n > FX_OPTIM_N_MAX) return FX_ERR_SHAPE;
    need = fx_optim_work_len(cfg, n);
    if (need > 0 && !work) return FX_ERR_NULL;
    if (work_len < need) return FX_ERR_BUFFER;
    o->cfg = *cfg;
    o->n = n;
    o->resid = cfg->rounding == FX_OPTIM_ERROR_FEEDBACK ? work : NULL;
    o->last = cfg->pattern ? work + (o->resid ? n : 0) : NULL;
    for (i = 0; i < need; i++) work[i] = 0;
    o->k = 0;
    o->z = o->z_first = o->z_cur = cfg->z_max;
    o->f_x = o->slope = o->f_prev = 0;
    o->counter = 0;
    o->ring_len = o->ring_pos = 0;
    o->lazy = o->swapped = 0;
    o->state = ST_NEED_DIRECTION;
    o->phase = FX_OPTIM_PH_STALLED;
    o->have_last = o->has_prev = o->ortho_ready = o->box_ready = 0;
    o->stats = zero;
    return FX_OK;
}

/* floor(a z / 2^q) for a, z >= 0, saturated to INT64_MAX: the decrease predicted at lambda = z/Qp. */
static int64_t mulshr_sat(int64_t a, int32_t z, int32_t q)
{
    int64_t hi = a >> q, lo = a & (((int64_t)1 << q) - 1);
    int64_t low = (lo * z) >> q;                 /* lo < 2^24, z < 2^31 */
    if (hi != 0 && (uint64_t)z > fx_udiv64((uint64_t)INT64_MAX, (uint64_t)hi, NULL)) return INT64_MAX;
    if (hi * z > INT64_MAX - low) return INT64_MAX;
    return hi * z + low;
}

fx_status fx_optim_direction(fx_optim *o, int64_t f_x, int64_t slope)
{
    const fx_optim_config *c;
    int use_prev;
    int32_t z0;
    if (!o) return FX_ERR_NULL;
    if (o->state != ST_NEED_DIRECTION && o->state != ST_READY) return FX_ERR_STATE;
    if (slope < 0) return FX_ERR_PARAM;
    c = &o->cfg;
    use_prev = o->state == ST_NEED_DIRECTION && o->has_prev;
    if (c->policy == FX_OPTIM_ADAPT) {
        z0 = o->z_cur > 1 ? o->z_cur : 1;
    } else if (c->guess && use_prev && o->f_prev > f_x && slope > 0) {
        /* scipy's first trial lambda = 2 (f_prev - f_x) / slope, capped at lambda_max */
        uint64_t drop = (uint64_t)o->f_prev - (uint64_t)f_x;
        z0 = (int32_t)fx_optim_udiv_shl(drop, (uint64_t)slope, c->q + 1, (uint64_t)c->z_max, NULL);
        if (z0 < 1) z0 = 1;
    } else {
        z0 = c->z_max;
    }
    o->has_prev = 0;
    o->f_x = f_x;
    o->slope = slope;
    o->z_first = o->z = z0;
    o->phase = FX_OPTIM_PH_ORD;
    o->k = 0;
    o->ring_len = o->ring_pos = 0;
    o->lazy = o->swapped = 0;
    o->ortho_ready = o->box_ready = 0;
    o->stats.directions++;
    o->state = ST_READY;
    return FX_OK;
}

static void next_phase(fx_optim *o)
{
    o->phase++;
    o->k = 0;
    if (o->phase == FX_OPTIM_PH_ORTHO_POS || o->phase == FX_OPTIM_PH_ORTHO_NEG) o->z = o->z_first;
}

static int is_direction_phase(uint8_t phase)
{
    return phase == FX_OPTIM_PH_ORD || phase == FX_OPTIM_PH_MINLSB || phase == FX_OPTIM_PH_EXPAND
        || phase == FX_OPTIM_PH_FAR;
}

static fx_optim_cand make_cand(fx_optim *o, uint8_t phase, int32_t z, int8_t a, int8_t b)
{
    fx_optim_cand cand;
    cand.phase = phase;
    cand.z = z;
    cand.a = a;
    cand.b = b;
    cand.reserved = 0;
    cand.counter = o->counter;
    /* each candidate along d consumes one stochastic stream */
    if (o->cfg.rounding == FX_OPTIM_STOCHASTIC && is_direction_phase(phase)) o->counter++;
    return cand;
}

#if FX_OPTIM_LATTICE
/* The smallest z whose step moves the largest |d_i| by k + 1 LSB: ceil((2k + 1) 2^dir_q / (2 dmax))
 * (< 2^35: no overflow), at most INT32_MAX; 0 if d is all zero. */
static int32_t ray_z(const fx_optim *o, const int32_t *d, uint32_t k)
{
    int64_t dmax = 0, num, z;
    uint32_t i;
    for (i = 0; i < o->n; i++) {
        int64_t m = d[i] < 0 ? -(int64_t)d[i] : d[i];
        if (m > dmax) dmax = m;
    }
    if (dmax == 0) return 0;
    num = (int64_t)(2 * k + 1) << o->cfg.dir_q;
    z = (int64_t)fx_udiv64((uint64_t)(num + 2 * dmax - 1), (uint64_t)(2 * dmax), NULL);
    return z > INT32_MAX ? INT32_MAX : (int32_t)z;
}
#endif

/* The candidate at the current (phase, k, z), entering later phases as they run out.
 * Returns 0 when every phase is used up. */
static int next_candidate(fx_optim *o, const int32_t *d, fx_optim_cand *out)
{
    const fx_optim_config *c = &o->cfg;
    for (;;) {
        switch (o->phase) {
        case FX_OPTIM_PH_ORD:
            if (o->z >= 1) {
                *out = make_cand(o, FX_OPTIM_PH_ORD, o->z, 0, 0);
                return 1;
            }
            break;
#if FX_OPTIM_LATTICE
        case FX_OPTIM_PH_MINLSB:
        case FX_OPTIM_PH_FAR: {
            /* the lattice ray: the largest |d_i| moves by k + 1 LSB (MINLSB), ray + k + 1 (FAR) */
            uint32_t ray = c->ray > c->min_lsb ? c->ray : c->min_lsb;
            int far = o->phase == FX_OPTIM_PH_FAR;
            if (o->k < (far ? c->ray_far : ray)) {
                int32_t z = ray_z(o, d, o->k + (far ? ray : 0));
                if (z > 0) {
                    *out = make_cand(o, o->phase, z, 0, 0);
                    return 1;
                }
            }
            break;
        }
        case FX_OPTIM_PH_PATTERN:
            if (c->pattern && o->have_last && o->k < 3) {
                *out = make_cand(o, FX_OPTIM_PH_PATTERN, 0, pattern_shift[o->k], 0);
                return 1;
            }
            break;
        case FX_OPTIM_PH_EXPAND:
            if (o->k < c->expand) {
                /* lambda_max, 2 lambda_max, ... (from 2 lambda_max when ORD started there) */
                int64_t z = (int64_t)c->z_max << (o->k + (o->z_first == c->z_max ? 1u : 0u));
                *out = make_cand(o, FX_OPTIM_PH_EXPAND, z > INT32_MAX ? INT32_MAX : (int32_t)z, 0, 0);
                return 1;
            }
            break;
        case FX_OPTIM_PH_BOX:
            if (o->k < (uint32_t)((2 * c->box + 1) * (2 * c->box + 1) - 1)) {
                int8_t a = 0, b = 0;
                if (!o->box_ready) {
                    fx_optim_box_plane(d, o->n, &o->box_j1, &o->box_j2);
                    o->box_d1 = d[o->box_j1];
                    o->box_d2 = d[o->box_j2];
                    o->box_ready = 1;
                }
                (void)fx_optim_box_move_ordered(c->box, c->box_line, o->box_d1, o->box_d2, o->k, &a, &b);
                *out = make_cand(o, FX_OPTIM_PH_BOX, 0, a, b);
                return 1;
            }
            break;
#else
        case FX_OPTIM_PH_MINLSB:
        case FX_OPTIM_PH_PATTERN:
        case FX_OPTIM_PH_EXPAND:
        case FX_OPTIM_PH_BOX:
        case FX_OPTIM_PH_FAR:
            break;   /* compiled out: fx_optim_init refused their options */
#endif
        case FX_OPTIM_PH_ORTHO_POS:
        case FX_OPTIM_PH_ORTHO_NEG:
            if (c->ortho >= (o->phase == FX_OPTIM_PH_ORTHO_POS ? 1 : 2) && o->z >= 1) {
                if (!o->ortho_ready) {
                    int64_t coef;
                    if (fx_optim_comp_coef(d, o->n, c->q, &o->ortho_m, &coef) != FX_OK) break;   /* d = 0 */
                    o->ortho_zm = fx_optim_comp_direction_m(d[o->ortho_m], coef, c->q);
                    o->ortho_ready = 1;
                }
                *out = make_cand(o, o->phase, o->z, o->phase == FX_OPTIM_PH_ORTHO_POS ? 1 : -1, 0);
                return 1;
            }
            break;
        default:
            return 0;
        }
        next_phase(o);
    }
}

/* Component i of a candidate's step; *rhu_nonzero records whether the round-half-up step of a
 * line candidate (along d or the compensation direction) is non-zero. */
static int32_t step_of(const fx_optim *o, const fx_optim_cand *cand, const int32_t *d, uint32_t i, int *rhu_nonzero)
{
    const fx_optim_config *c = &o->cfg;
    switch (cand->phase) {
    case FX_OPTIM_PH_ORD:
    case FX_OPTIM_PH_MINLSB:
    case FX_OPTIM_PH_EXPAND:
    case FX_OPTIM_PH_FAR: {
        int64_t t = (int64_t)cand->z * d[i] + (o->resid ? o->resid[i] : 0);
        uint32_t u = c->rounding == FX_OPTIM_STOCHASTIC ? fx_optim_random(c->seed, cand->counter, i) : 0;
        return fx_optim_round_step(t, c->dir_q, c->rounding, u, rhu_nonzero);
    }
#if FX_OPTIM_LATTICE
    case FX_OPTIM_PH_PATTERN:
        return fx_sat32(fx_rhu_shift64(o->last[i], cand->a));
    case FX_OPTIM_PH_BOX:
        return (i == o->box_j1 ? cand->a : 0) + (i == o->box_j2 ? cand->b : 0);
#endif
    default: {   /* ORTHO: z (sign) zc, zc = d with component m replaced */
        int64_t zc = i == o->ortho_m ? o->ortho_zm : d[i];
        return fx_optim_round_step((int64_t)cand->z * cand->a * zc, c->dir_q, FX_OPTIM_RHU, 0, rhu_nonzero);
    }
    }
}

/* Next z after an idle ORD trial (f_trial given) or a skipped one: halve, or (INTERP) the
 * minimiser of the quadratic through f_x, the predicted slope and f_trial, in [z/2^s, z/2]. */
static int32_t shrink(const fx_optim *o, int32_t z, int have_f, int64_t f_trial)
{
    const fx_optim_config *c = &o->cfg;
    int64_t p, df, e, zn;
    if (!have_f || c->schedule == FX_OPTIM_HALVE || o->slope <= 0 || f_trial <= o->f_x) return z >> 1;
    p = mulshr_sat(o->slope, z, c->q);
    if (p <= 0) return z >> 1;
    df = (uint64_t)f_trial - (uint64_t)o->f_x > (uint64_t)INT64_MAX ? INT64_MAX : f_trial - o->f_x;
    e = df > INT64_MAX - p ? INT64_MAX : df + p;
    while (e >= ((int64_t)1 << 31)) {
        e >>= 1;
        p >>= 1;
    }
    zn = (int64_t)fx_udiv64((uint64_t)((int64_t)z * p), (uint64_t)(2 * e), NULL);   /* all > 0 */
    if (zn > (z >> 1)) zn = z >> 1;
    if (zn < (z >> c->shrink_shift)) zn = z >> c->shrink_shift;
    return (int32_t)zn;
}

/* Move past a candidate that was skipped (have_f = 0) or idle. */
static void advance(fx_optim *o, const fx_optim_cand *cand, int have_f, int64_t f_trial)
{
    switch (cand->phase) {
    case FX_OPTIM_PH_ORD:
        o->z = shrink(o, cand->z, have_f, f_trial);
        if (o->cfg.policy == FX_OPTIM_ADAPT) o->z_cur = o->z > 1 ? o->z : 1;
        break;
    case FX_OPTIM_PH_ORTHO_POS:
    case FX_OPTIM_PH_ORTHO_NEG:
        o->z = cand->z >> 1;
        break;
    default:   /* MINLSB, PATTERN, EXPAND, BOX, FAR: the next candidate of the phase */
        o->k++;
    }
}

static int in_ring(const fx_optim *o, uint32_t h)
{
    uint32_t i;
    for (i = 0; i < o->ring_len; i++)
        if (o->ring[i] == h) return 1;
    return 0;
}

/* The RHU step of a line candidate without residual: sat32(rhu(z d_i / 2^dq)). |z d_i| < 2^61,
 * so adding the half before the shift cannot overflow (= fx_rhu_shift64). */
static inline int32_t rhu_line_step(int32_t z, int32_t d, int32_t dq, int64_t half)
{
    return fx_sat32(((int64_t)z * d + half) >> dq);
}

/* The hot path (mini-batch training of int16 parameters: RHU steps along d, no residual),
 * hoisted out of step_of; commit keeps the generic loop (fx_train uses fx_optim_accept). */
static int is_rhu_line(const fx_optim *o, const fx_optim_cand *cand)
{
    return o->cfg.rounding == FX_OPTIM_RHU && !o->resid && is_direction_phase(cand->phase);
}

/* The RHU step along d at z clamped to +-2^16: beyond that, x - s saturates any int16 x just
 * as the step itself does (the fingerprint hashes the unclamped step, rhu_line_step). */
static inline int32_t line_step17(int32_t z, int32_t d, int32_t dq, int64_t half)
{
    const int64_t s = ((int64_t)z * d + half) >> dq;
    return s > 65536 ? 65536 : (s < -65536 ? -65536 : (int32_t)s);
}

/* sat16(x - c) for |c| <= 2^16 */
static inline int16_t sub_small16(int16_t x, int32_t c)
{
    const int32_t v = x - c;
    return (int16_t)(v > INT16_MAX ? INT16_MAX : (v < INT16_MIN ? INT16_MIN : v));
}

/* The fingerprint of the RHU line step at z (fx_optim_hash_term's terms, key = i 0x9E3779B9
 * kept incrementally). */
static uint32_t line_fingerprint(const fx_optim *o, int32_t z, const int32_t *d)
{
    const int32_t dq = o->cfg.dir_q;
    const int64_t half = dq > 0 ? (int64_t)1 << (dq - 1) : 0;
    uint32_t i, h = 0, key = 0;
    for (i = 0; i < o->n; i++, key += UINT32_C(0x9E3779B9))
        h += fx_optim_lowbias32((uint32_t)rhu_line_step(z, d[i], dq, half) + key);
    return h;
}

/* One pass of propose: the trial x - s and (if hash) the step's fingerprint; *any: some s != 0,
 * *rhu_nonzero: the RHU step of a line candidate is non-zero. */
static uint32_t trial_pass(const fx_optim *o, const fx_optim_cand *cand, const int32_t *d, const int16_t *x16,
                           const int32_t *x32, int16_t *t16, int32_t *t32, int *any, int *rhu_nonzero, int hash)
{
    uint32_t i, h = 0, n = o->n, nz = 0;
    if (t16 && is_rhu_line(o, cand)) {
        const int32_t z = cand->z, dq = o->cfg.dir_q;
        const int64_t half = dq > 0 ? (int64_t)1 << (dq - 1) : 0;
        for (i = 0; i < n; i++) {
            const int32_t s = line_step17(z, d[i], dq, half);
            nz |= (uint32_t)s;
            t16[i] = sub_small16(x16[i], s);
        }
        *any = *rhu_nonzero = nz != 0;
        /* the fingerprint in a pass of its own: only candidates after a direction's first need it */
        return hash && nz != 0 ? line_fingerprint(o, z, d) : 0;
    }
    for (i = 0; i < n; i++) {
        int32_t s = step_of(o, cand, d, i, rhu_nonzero);
        if (s != 0) *any = 1;
        h += fx_optim_hash_term(s, i);
        if (t16) t16[i] = fx_sat16((int64_t)x16[i] - s);
        else t32[i] = fx_sat32((int64_t)x32[i] - s);
    }
    return h;
}

/* Every candidate of the direction is used up. */
static int stall(fx_optim *o)
{
    o->stats.stalls++;
    if (o->cfg.policy == FX_OPTIM_ADAPT) o->z_cur = o->cfg.z_max;
    o->state = ST_NEED_DIRECTION;
    return FX_OPTIM_STALLED;
}

static int propose(fx_optim *o, const int16_t *x16, const int32_t *x32, const int32_t *d, int16_t *t16, int32_t *t32)
{
    fx_optim_cand cand;
    if (!o || !d || (!x16 && !x32) || (!t16 && !t32)) return FX_ERR_NULL;
    if ((x16 && (const void *)x16 == (void *)t16) || (x32 && (const void *)x32 == (void *)t32)) return FX_ERR_PARAM;
    if (o->state != ST_READY || o->swapped) return FX_ERR_STATE;
    for (;;) {
        int rhu_nonzero = 0, any = 0;
        uint32_t h;
        int defer;
        if (!next_candidate(o, d, &cand)) return stall(o);
        /* The first candidate of a direction has nothing in the ring to be compared with: its
         * fingerprint waits until a second candidate needs it (most mini-batch steps keep their
         * first trial). Only RHU line steps: they depend on z and d alone (d is fixed within a
         * direction), so the fingerprint can be computed later exactly as now. */
        defer = o->ring_len == 0 && t16 != NULL && is_rhu_line(o, &cand);
        h = trial_pass(o, &cand, d, x16, x32, t16, t32, &any, &rhu_nonzero, !defer);
        if (!rhu_nonzero && (is_direction_phase(cand.phase) || cand.phase >= FX_OPTIM_PH_ORTHO_POS)) {
            /* the step vanished: this line of candidates is used up */
            if (cand.phase == FX_OPTIM_PH_EXPAND) o->k++;
            else next_phase(o);
            continue;
        }
        if (o->lazy && o->ring_len > 0) {
            o->ring[0] = line_fingerprint(o, o->lazy_z, d);
            o->lazy = 0;
        }
        if (!any || in_ring(o, h)) {
            o->stats.skips++;
            advance(o, &cand, 0, 0);
            continue;
        }
        if (defer) {
            o->lazy = 1;
            o->lazy_z = cand.z;
        }
        o->ring[o->ring_pos] = h;
        o->ring_pos = (o->ring_pos + 1) % FX_OPTIM_RING;
        if (o->ring_len < FX_OPTIM_RING) o->ring_len++;
        o->pending = cand;
        o->state = ST_PENDING;
        return FX_OPTIM_TRIAL;
    }
}

int fx_optim_swap_ok(const fx_optim_config *c)
{
    /* z_max < 2^(dir_q - 1): every step is one 32x32 multiply in fx_optim_propose_s16_swap */
    return c != NULL && c->rounding == FX_OPTIM_RHU && !c->pattern && !c->min_lsb && !c->ray && !c->expand
           && !c->box && !c->ray_far && !c->ortho && c->dir_q >= 1 && c->z_max <= (INT32_MAX >> (32 - c->dir_q));
}

int fx_optim_propose_s16_swap(fx_optim *o, int16_t *x, int32_t *d, uint32_t *changed)
{
    fx_optim_cand cand;
    uint32_t i, n, moved = 0, nz = 0;
    int32_t zs;
    if (!o || !x || !d || !changed) return FX_ERR_NULL;
    if (!fx_optim_swap_ok(&o->cfg)) return FX_ERR_PARAM;
    if (o->state != ST_READY || o->swapped || o->ring_len != 0) return FX_ERR_STATE;
    if (!next_candidate(o, d, &cand)) return stall(o);
    if (cand.z < 1 || cand.z > o->cfg.z_max) return FX_ERR_STATE;   /* ORD steps stay in 1..z_max */
    /* swap_ok: z <= z_max < 2^(dq-1), so rhu(z d / 2^dq) is exactly the high word of
     * (z 2^(32-dq)) d + 2^31 - one multiply, no 64-bit shift per parameter - and |s| <= 2^30
     * needs no clamp before sat16(x - s) */
    zs = (int32_t)((uint32_t)cand.z << (32 - o->cfg.dir_q));
    n = o->n;
    for (i = 0; i < n; i++) {
        const int16_t xi = x[i];
        const int32_t s = (int32_t)(((int64_t)zs * d[i] + INT64_C(0x80000000)) >> 32);
        const int16_t t = fx_sat16_32(xi - s);
        nz |= (uint32_t)s;
        moved += t != xi;
        d[i] = xi;
        x[i] = t;
    }
    o->swapped = 1;   /* d is used up: no other candidate, no commit in this direction */
    if (nz == 0) {
        /* the step vanished (x is unchanged): as in propose the next phases follow, and with
         * fx_optim_swap_ok they are all off, so the direction stalls without reading d */
        next_phase(o);
        if (!next_candidate(o, d, &cand)) return stall(o);
        return FX_ERR_STATE;   /* unreachable with fx_optim_swap_ok */
    }
    /* the first trial of the direction: never in the ring of an earlier one, none follows */
    o->pending = cand;
    o->state = ST_PENDING;
    *changed = moved;
    return FX_OPTIM_TRIAL;
}

int fx_optim_propose_s32(fx_optim *o, const int32_t *x, const int32_t *d, int32_t *trial)
{
    if (!x || !trial) return FX_ERR_NULL;
    return propose(o, NULL, x, d, NULL, trial);
}

int fx_optim_propose_s16(fx_optim *o, const int16_t *x, const int32_t *d, int16_t *trial)
{
    if (!x || !trial) return FX_ERR_NULL;
    return propose(o, x, NULL, d, trial, NULL);
}

/* phi(lambda, k) of eq. (11): c1 lambda slope for steps along d (lambda = z/Qp shrinks with
 * the idle count k), at least 1 objective unit; 1 for the search phases. */
static int64_t phi(const fx_optim *o, const fx_optim_cand *cand)
{
    int64_t p;
    if (o->cfg.c1_shift == 0 || o->slope <= 0 || !is_direction_phase(cand->phase)) return 1;
    p = mulshr_sat(o->slope, cand->z, o->cfg.q) >> o->cfg.c1_shift;
    return p > 1 ? p : 1;
}

int fx_optim_report(fx_optim *o, int64_t f_trial)
{
    const fx_optim_cand *cand;
    if (!o) return FX_ERR_NULL;
    if (o->state != ST_PENDING) return FX_ERR_STATE;
    cand = &o->pending;
    o->stats.evals++;
    if (cand->phase == FX_OPTIM_PH_ORTHO_POS || cand->phase == FX_OPTIM_PH_ORTHO_NEG) o->stats.ortho++;
    else if (cand->phase != FX_OPTIM_PH_ORD) o->stats.search++;
    if (f_trial <= o->f_x && (uint64_t)o->f_x - (uint64_t)f_trial >= (uint64_t)phi(o, cand)) {
        o->stats.go++;
        if (o->cfg.policy == FX_OPTIM_ADAPT)
            o->z_cur = o->z_cur > o->cfg.z_max / 2 ? o->cfg.z_max : 2 * o->z_cur;
        o->f_prev = o->f_x;
        o->has_prev = 1;
        o->state = ST_NEED_COMMIT;
        return FX_OPTIM_GO;
    }
    o->stats.idle++;
    advance(o, cand, 1, f_trial);
    o->state = ST_READY;
    return FX_OPTIM_IDLE;
}

static fx_status commit(fx_optim *o, int16_t *x16, int32_t *x32, const int32_t *d)
{
    uint32_t i;
    int dummy = 0;
    const fx_optim_cand *cand;
    if (!o || !d) return FX_ERR_NULL;
    if (o->state != ST_NEED_COMMIT || o->swapped) return FX_ERR_STATE;   /* swap: d is used up */
    cand = &o->pending;
    for (i = 0; i < o->n; i++) {
        int32_t s = step_of(o, cand, d, i, &dummy);
        if (x16) x16[i] = fx_sat16((int64_t)x16[i] - s);
        else x32[i] = fx_sat32((int64_t)x32[i] - s);
        if (o->resid && is_direction_phase(cand->phase)) {
            /* error feedback: what the rounding left out goes into the next step */
            int64_t t = (int64_t)cand->z * d[i] + o->resid[i];
            o->resid[i] = fx_sat32(t - (int64_t)s * ((int64_t)1 << o->cfg.dir_q));
        }
        if (o->last) o->last[i] = s;
    }
    if (o->last) o->have_last = 1;
    o->state = ST_NEED_DIRECTION;
    return FX_OK;
}

fx_status fx_optim_commit_s32(fx_optim *o, int32_t *x, const int32_t *d)
{
    if (!x) return FX_ERR_NULL;
    return commit(o, NULL, x, d);
}

fx_status fx_optim_commit_s16(fx_optim *o, int16_t *x, const int32_t *d)
{
    if (!x) return FX_ERR_NULL;
    return commit(o, x, NULL, d);
}

fx_status fx_optim_accept(fx_optim *o)
{
    if (!o) return FX_ERR_NULL;
    if (o->state != ST_NEED_COMMIT) return FX_ERR_STATE;
    if (o->resid || o->last) return FX_ERR_PARAM;
    o->state = ST_NEED_DIRECTION;
    return FX_OK;
}

fx_status fx_optim_stats_get(const fx_optim *o, fx_optim_stats *out)
{
    if (!o || !out) return FX_ERR_NULL;
    *out = o->stats;
    return FX_OK;
}
