/* fxlearn kernel: the quantized optimizer of Seok & Kim (ALGORITHMS.md section 1,
 * docs/optimizer.md): fixed-point parameters X = Qp x (Qp = 2^q), the quantized update
 * X' = X - round(z d / 2^dir_q) with the learning rate lambda = z / Qp (eq. 8-9), "Idle and Go"
 * (eq. 11: one trial per iteration, kept only if the objective drops by phi), the orthogonal
 * compensation vector of eq. (12)-(24), and a wider lattice search of our own.
 *
 * Step-wise API, no callbacks: the caller evaluates the objective between calls.
 *     fx_optim_init                      once (config, n, caller memory for n-vectors)
 *     fx_optim_direction(f_x, slope)     a new direction d at the current x
 *     fx_optim_propose_s32/_s16          -> FX_OPTIM_TRIAL (trial written) or FX_OPTIM_STALLED
 *     fx_optim_report(f_trial)           -> FX_OPTIM_GO or FX_OPTIM_IDLE
 *     fx_optim_commit_s32/_s16           after GO: x <- trial (then a new direction)
 * Negative returns are fx_status errors. Full batch: d is a gradient or quasi-Newton direction;
 * mini-batch: d is the batch gradient and f the batch loss (at x and at the trial, same batch).
 * No malloc, no floating point; the state is fixed-size, vectors live in caller memory. */
#ifndef FX_OPTIM_H
#define FX_OPTIM_H

#include "fx_config.h"
#include "fx_status.h"

#define FX_OPTIM_Q_MIN 1
#define FX_OPTIM_Q_MAX 24
#define FX_OPTIM_DIR_Q_MAX 30
#define FX_OPTIM_Z_LIMIT (INT32_C(1) << 30)
#define FX_OPTIM_N_MAX (UINT32_C(1) << 24)
#define FX_OPTIM_EXPAND_MAX 8
#define FX_OPTIM_BOX_MAX 3
#define FX_OPTIM_RAY_MAX 8
#define FX_OPTIM_RING 16            /* steps already tried in this direction (hashes) */

/* 0: no lattice search (phases MINLSB, PATTERN, EXPAND, BOX, FAR; about 1 KB of Cortex-M code)
 * for firmware whose flash is tight: fx_optim_init then refuses min_lsb, ray, pattern, expand,
 * box, box_line and ray_far with FX_ERR_PARAM; everything else is unchanged, bit for bit.
 * Mini-batch training does not use the lattice search (train.optimizer_config). */
#ifndef FX_OPTIM_LATTICE
#define FX_OPTIM_LATTICE 1
#endif

/* rounding of the update */
enum { FX_OPTIM_RHU = 0, FX_OPTIM_STOCHASTIC = 1, FX_OPTIM_ERROR_FEEDBACK = 2 };
/* step schedule after an idle trial */
enum { FX_OPTIM_HALVE = 0, FX_OPTIM_INTERP = 1 };
/* where a new direction starts: lambda_max (quasi-Newton) or the current lambda (mini-batch) */
enum { FX_OPTIM_RESET = 0, FX_OPTIM_ADAPT = 1 };
/* outcomes (positive; errors are negative fx_status) */
enum { FX_OPTIM_TRIAL = 1, FX_OPTIM_STALLED = 2, FX_OPTIM_GO = 3, FX_OPTIM_IDLE = 4 };
/* candidate phases of one direction, in trial order */
enum {
    FX_OPTIM_PH_ORD = 0,       /* z d at z = z_start, then smaller z after each idle */
    FX_OPTIM_PH_MINLSB = 1,    /* the smallest z moving the largest |d_i| by 1, 2, ... LSB (the ray) */
    FX_OPTIM_PH_PATTERN = 2,   /* the last accepted step times 1/2, 1, 1/4 */
    FX_OPTIM_PH_EXPAND = 3,    /* z_max, 2 z_max, ... (from 2 z_max if ORD started at z_max) */
    FX_OPTIM_PH_BOX = 4,       /* every move within +-box LSB in the plane of the 2 largest |d_i| */
    FX_OPTIM_PH_FAR = 5,       /* the ray of MINLSB continued beyond the box */
    FX_OPTIM_PH_ORTHO_POS = 6, /* the compensation direction of eq. (24), z halving */
    FX_OPTIM_PH_ORTHO_NEG = 7, /* its opposite */
    FX_OPTIM_PH_STALLED = 8
};

typedef struct {
    int32_t q;              /* fractional bits of the parameters: Qp = 2^q, 1..24 */
    int32_t dir_q;          /* fractional bits of the direction d, 0..30 */
    int32_t z_max;          /* largest learning-rate numerator, 1..2^30 (Qp: lambda_max = 1) */
    int32_t c1_shift;       /* phi = max(1, lambda slope / 2^c1_shift); 0: phi = 1. 0..62 */
    int32_t shrink_shift;   /* FX_OPTIM_INTERP shrinks z by at most 2^shrink_shift per idle, 1..8 */
    uint32_t seed;          /* stochastic rounding stream */
    uint8_t rounding;       /* FX_OPTIM_RHU / _STOCHASTIC / _ERROR_FEEDBACK */
    uint8_t schedule;       /* FX_OPTIM_HALVE / _INTERP */
    uint8_t policy;         /* FX_OPTIM_RESET / _ADAPT */
    uint8_t guess;          /* 0/1: RESET starts at lambda = 2 (f_prev - f_x) / slope (scipy's) */
    uint8_t min_lsb;        /* 0/1: phase MINLSB (one step: the largest |d_i| moves 1 LSB) */
    uint8_t pattern;        /* 0/1: phase PATTERN (needs n int32 of work memory) */
    uint8_t expand;         /* 0..8 trials of phase EXPAND */
    uint8_t box;            /* 0..3: radius of phase BOX */
    uint8_t ortho;          /* 0: no compensation, 1: +z (the paper), 2: +z then -z */
    uint8_t ray;            /* 0..8: phase MINLSB moves the largest |d_i| by 1..K LSB, K = max(min_lsb, ray) */
    uint8_t box_line;       /* 0/1: BOX tries the moves nearest the line of d first (else nearest x) */
    uint8_t ray_far;        /* 0..8: phase FAR (after BOX) moves it by K + 1..K + ray_far LSB */
    uint8_t reserved[4];    /* must be 0 */
} fx_optim_config;

typedef struct {
    uint32_t evals;         /* reported trials = go + idle */
    uint32_t go;
    uint32_t idle;
    uint32_t search;        /* trials from MINLSB, PATTERN, EXPAND, BOX, FAR */
    uint32_t ortho;         /* trials along the compensation vector */
    uint32_t skips;         /* candidates dropped unevaluated: zero step or already tried */
    uint32_t stalls;
    uint32_t directions;
} fx_optim_stats;

typedef struct {
    int32_t z;              /* learning-rate numerator (ORD, MINLSB, EXPAND, ORTHO) */
    uint32_t counter;       /* stochastic rounding stream of this candidate */
    int8_t a, b;            /* BOX: moves on the two box coordinates; PATTERN: a = shift; ORTHO: a = sign */
    uint8_t phase;
    uint8_t reserved;
} fx_optim_cand;

/* The optimizer state (fixed size, 264 bytes on x86-64). Fields are private: use the functions. */
typedef struct {
    fx_optim_config cfg;
    int32_t *resid;         /* n: error-feedback residual, Q(dir_q) (NULL unless ERROR_FEEDBACK) */
    int32_t *last;          /* n: the last accepted step (NULL unless pattern) */
    uint32_t n;
    uint32_t k;             /* index inside the phase */
    int32_t z, z_first, z_cur;
    int64_t f_x, slope, f_prev;
    uint32_t counter;
    uint32_t ring[FX_OPTIM_RING];
    uint32_t ring_len, ring_pos;
    fx_optim_cand pending;
    uint32_t ortho_m, box_j1, box_j2;
    int32_t ortho_zm, box_d1, box_d2;
    int32_t lazy_z;         /* z of ring[0] when its fingerprint is not computed yet (lazy) */
    uint8_t state, phase, have_last, has_prev, ortho_ready, box_ready, lazy, swapped;
    fx_optim_stats stats;
} fx_optim;

/* int32 entries of caller memory for n parameters: n per ERROR_FEEDBACK and per pattern. */
uint32_t fx_optim_work_len(const fx_optim_config *cfg, uint32_t n);
uint32_t fx_optim_sizeof(void);

/* FX_ERR_NULL, FX_ERR_SHAPE (n outside 1..2^24), FX_ERR_PARAM (a field out of range),
 * FX_ERR_BUFFER (work_len < fx_optim_work_len). work may be NULL when 0 entries are needed. */
fx_status fx_optim_init(fx_optim *o, const fx_optim_config *cfg, uint32_t n, int32_t *work, uint32_t work_len);

/* A new direction at the current x: f_x its objective (int64, any fixed scale of the caller's),
 * slope >= 0 the decrease predicted for lambda = 1 in the same units (g.h), 0 if unknown. */
fx_status fx_optim_direction(fx_optim *o, int64_t f_x, int64_t slope);

/* The next trial point into `trial` (n entries, must not be x): FX_OPTIM_TRIAL, or
 * FX_OPTIM_STALLED when every candidate of this direction is used up (give a new direction). */
int fx_optim_propose_s32(fx_optim *o, const int32_t *x, const int32_t *d, int32_t *trial);
int fx_optim_propose_s16(fx_optim *o, const int16_t *x, const int32_t *d, int16_t *trial);

/* eq. (11): FX_OPTIM_GO iff f_trial <= f_x - phi (phi >= 1: never an increase), else FX_OPTIM_IDLE. */
int fx_optim_report(fx_optim *o, int64_t f_trial);

/* After FX_OPTIM_GO, with the same d: x <- the trial (recomputed, saturated), the residual
 * and the last step updated. */
fx_status fx_optim_commit_s32(fx_optim *o, int32_t *x, const int32_t *d);
fx_status fx_optim_commit_s16(fx_optim *o, int16_t *x, const int32_t *d);

/* After FX_OPTIM_GO, when the caller keeps the trial itself as the new x (fx_train: theta holds
 * it): commit's state change without the O(n) recomputation. FX_ERR_PARAM (state unchanged) when
 * the optimizer keeps per-parameter memory (ERROR_FEEDBACK residual, pattern's last step):
 * call commit then. */
fx_status fx_optim_accept(fx_optim *o);

/* 1 if fx_optim_propose_s16_swap may be used with this configuration: the first ORD candidate
 * is the only one a direction can have, and nothing after it needs d (RHU rounding; no error
 * feedback, pattern, lattice search or compensation), and z_max < 2^(dir_q - 1) (each step
 * then takes one 32x32 multiply: z_max <= INT32_MAX >> (32 - dir_q), dir_q >= 1). */
int fx_optim_swap_ok(const fx_optim_config *cfg);

/* The first trial of a direction in place, for a caller that tries one trial per direction
 * (fx_train: one per mini-batch) and has no room for a copy of x: x becomes the trial and d[i]
 * the old x[i] (d is used up: the direction accepts no further propose, FX_ERR_STATE). Returns
 * FX_OPTIM_TRIAL with *changed = the entries that moved, or FX_OPTIM_STALLED (x unchanged) -
 * what fx_optim_propose_s16 would give. After fx_optim_report: GO ->
 * fx_optim_accept (x keeps the trial), IDLE -> x[i] = (int16_t)d[i] restores the point.
 * FX_ERR_PARAM unless fx_optim_swap_ok; FX_ERR_STATE unless the direction is fresh. */
int fx_optim_propose_s16_swap(fx_optim *o, int16_t *x, int32_t *d, uint32_t *changed);

fx_status fx_optim_stats_get(const fx_optim *o, fx_optim_stats *out);

/* ---- compensation vector, eq. (12)-(24) (fx_optim_comp.c) ----
 * m = argmax |v_i| (lowest index on ties), c = sum floor(Qp v_i^2 / v_m^2) + [sum Rem(.)]
 * from integer quotients and remainders. FX_ERR_SHAPE for n == 0, FX_ERR_PARAM for an all-zero
 * v or q outside 1..24. */
fx_status fx_optim_comp_coef(const int32_t *v, uint32_t n, int32_t q, uint32_t *m, int64_t *c);
/* Z = Qp v - c v_m e_m exactly (FX_ERR_PARAM if a component overflows int64). */
fx_status fx_optim_comp_vector(const int32_t *v, uint32_t n, int32_t q, int64_t *z);
/* Component m of the compensation direction in the units of v: sat32(rhu((Qp - c) v_m / Qp)). */
int32_t fx_optim_comp_direction_m(int32_t v_m, int64_t c, int32_t q);
/* min(cap, floor(a 2^s / b)) for b > 0, and the remainder (a 2^s) mod b when not capped. */
uint64_t fx_optim_udiv_shl(uint64_t a, uint64_t b, int32_t s, uint64_t cap, uint64_t *rem);

/* ---- rounding, random stream and step fingerprint (fx_optim_round.c) ---- */
/* C. Wellons' lowbias32: a cheap 32-bit integer hash with good avalanche. C99 inline (the
 * per-parameter loops of propose call it; fx_optim_round.c holds the external definition). */
inline uint32_t fx_optim_lowbias32(uint32_t x)
{
    x ^= x >> 16;
    x *= UINT32_C(0x7FEB352D);
    x ^= x >> 15;
    x *= UINT32_C(0x846CA68B);
    x ^= x >> 16;
    return x;
}
/* the i-th uint32 of the stochastic-rounding stream (seed, counter) */
uint32_t fx_optim_random(uint32_t seed, uint32_t counter, uint32_t i);
/* one component of z d + r rounded with the mode: RHU, floor((t + u) / 2^dq) for STOCHASTIC
 * (u = random >> (32 - dq)), sat32; *rhu_nonzero |= (rhu(t) != 0). */
int32_t fx_optim_round_step(int64_t t, int32_t dq, uint8_t rounding, uint32_t random, int *rhu_nonzero);
/* fingerprint term of component i: lowbias32((uint32) s + i 0x9E3779B9); a step's hash is the sum. */
uint32_t fx_optim_hash_term(int32_t s, uint32_t i);

/* ---- the wide search (fx_optim_search.c) ---- */
/* The two coordinates of largest |d_i| (ties: lower index); j2 = j1 when n = 1. */
void fx_optim_box_plane(const int32_t *d, uint32_t n, uint32_t *j1, uint32_t *j2);
/* The k-th move (a, b) of the box of radius r, in trial order: ring max(|a|,|b|), then
 * a d1 + b d2 descending, then (a, b) ascending. FX_ERR_PARAM for k >= (2r+1)^2 - 1 or r > 3. */
fx_status fx_optim_box_move(int32_t r, int32_t d1, int32_t d2, uint32_t k, int8_t *a, int8_t *b);
/* The same with line = 1 (config box_line): first by |a d2 - b d1| ascending (the distance from
 * the line of (d1, d2), times |d|), then as above. line = 0 is fx_optim_box_move. */
fx_status fx_optim_box_move_ordered(int32_t r, uint8_t line, int32_t d1, int32_t d2, uint32_t k, int8_t *a, int8_t *b);

#endif
