/* Mini-batch training of an MLP: workspace layout, per-sample forward/backward, the direction
 * for the quantized optimizer, the trial on the same batch (docs/kernel.md section 8,
 * docs/training.md). */
#include "fx_train.h"
#include "fx_act.h"
#include "fx_loss.h"
#include "fx_requant.h"

#define TRAIN_MAGIC UINT32_C(0x46585452) /* "FXTR": the workspace holds a begun batch */

enum { PHASE_ACCUMULATE = 1, PHASE_EVALUATE = 2, PHASE_NO_TRIAL = 3 };

/* Batch state at the start of the workspace. */
typedef struct {
    uint32_t magic;
    uint32_t phase;
    uint32_t n_acc;       /* samples accumulated */
    uint32_t n_eval;      /* samples evaluated at the trial point */
    uint32_t correct;
    uint32_t changed;
    int64_t loss;
    int64_t loss_trial;
} train_state;

/* Where everything lives in the workspace; int32 regions first, then int16 ones. */
typedef struct {
    train_state *st;
    int32_t *acc;         /* theta's layout: gradient accumulators, then the direction d */
    uint32_t *bound;      /* per trained layer: bound of |accumulator| (fx_dense_grad_accum_s16) */
    int32_t *loss_grad;   /* [classes] */
    int16_t *current;     /* the current point while theta holds the trial (NULL: swap mode) */
    int16_t *act;         /* outputs of layers first-1 .. last, one after the other */
    int16_t *ping[2];     /* outputs of the frozen layers before first-1 */
    int16_t *g[2];        /* gradient of a layer output, of its input */
    int16_t *cache;       /* [cache][in of layer first]: inputs of the first trained layer */
} layout;

static const fx_dense_layer *dense_of(const fx_train_params *p, uint32_t k)
{
    return &p->model->layers[k].dense;
}

static uint64_t layer_params(const fx_dense_layer *d) { return (uint64_t)d->out * (d->in + 1u); }

static fx_status check_params(const fx_train_params *p)
{
    uint32_t k;
    uint64_t offset = 0;
    fx_status st;
    if (p == NULL || p->model == NULL || p->layers == NULL || p->theta == NULL || p->optim == NULL)
        return FX_ERR_NULL;
    if ((st = fx_mlp_check(p->model)) != FX_OK) return st;
    if (p->first >= p->model->n_layers) return FX_ERR_PARAM;
    if (p->loss == FX_LOSS_SOFTMAX_XENT) {
        if ((st = fx_requant_check(p->loss_mult, p->loss_shift)) != FX_OK) return st;
    } else if (p->loss != FX_LOSS_MSE) {
        return FX_ERR_PARAM;
    }
    if (p->slope_shift != FX_TRAIN_SLOPE_NONE && (p->slope_shift < 0 || p->slope_shift > 62)) return FX_ERR_PARAM;
    for (k = p->first; k < p->model->n_layers; k++) {
        const fx_dense_layer *d = dense_of(p, k);
        const fx_train_layer *t = &p->layers[k - p->first];
        if (d->format != FX_FMT_INT16) return FX_ERR_FORMAT;
        if (t->bias == NULL) return FX_ERR_NULL;
        if (offset > FX_OPTIM_N_MAX) return FX_ERR_SHAPE;
        /* theta's W of this layer is the model's weight array, the bias the model's bias */
        if ((uintptr_t)d->weights != (uintptr_t)p->theta + 2u * (uintptr_t)offset || d->bias != (const int32_t *)t->bias)
            return FX_ERR_PARAM;
        if ((st = fx_requant_check(t->bias_mult, t->bias_shift)) != FX_OK) return st;
        if (t->grad_shift < 0 || t->grad_shift > FX_GRAD_SHIFT_MAX) return FX_ERR_PARAM;
        if (k > p->first && (st = fx_requant_check(t->back_mult, t->back_shift)) != FX_OK) return st;
        if ((st = fx_requant_check(t->dir_w_mult, t->dir_w_shift)) != FX_OK) return st;
        if ((st = fx_requant_check(t->dir_b_mult, t->dir_b_shift)) != FX_OK) return st;
        offset += layer_params(d);
    }
    if (offset > FX_OPTIM_N_MAX) return FX_ERR_SHAPE;
    if (p->optim->n != (uint32_t)offset) return FX_ERR_PARAM;
    return FX_OK;
}

fx_status fx_train_n_params(const fx_train_params *p, uint32_t *n)
{
    fx_status st = check_params(p);
    if (st != FX_OK) return st;
    if (n == NULL) return FX_ERR_NULL;
    *n = p->optim->n;
    return FX_OK;
}

/* Element counts of the regions; sizes as uint64 so that nothing wraps on 32-bit targets. */
typedef struct {
    uint64_t params, current, act, ping, g, classes, cache;
    uint32_t trained;
} region_sizes;

/* Swap mode (fx_optim_swap_ok): the trial is made in theta and the current point kept in the
 * direction's place (fx_optim_propose_s16_swap), so no copy of theta is needed: 2 bytes per
 * parameter less. One trial per batch is all fx_train ever asks for. */
static int swap_mode(const fx_train_params *p) { return fx_optim_swap_ok(&p->optim->cfg); }

static void sizes_of(const fx_train_params *p, region_sizes *r)
{
    uint32_t k, n = p->model->n_layers;
    r->params = r->act = r->ping = r->g = 0;
    r->trained = n - p->first;
    r->classes = dense_of(p, n - 1u)->out;
    r->cache = (uint64_t)p->cache * dense_of(p, p->first)->in;
    r->current = 0;
    for (k = 0; k < n; k++) {
        const fx_dense_layer *d = dense_of(p, k);
        if (k >= p->first) {
            r->params += layer_params(d);
            if (d->out > r->g) r->g = d->out;
        }
        if (k + 1u >= p->first) r->act += d->out;          /* layers first-1 .. last */
        else if (d->out > r->ping) r->ping = d->out;
    }
    if (!swap_mode(p)) r->current = r->params;
}

static int64_t add_sat64(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b) return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b) return INT64_MIN;
    return a + b;
}

static uint64_t round8(uint64_t b) { return (b + 7u) & ~(uint64_t)7u; }

static uint64_t int32_bytes(const region_sizes *r) { return round8(4u * (r->params + r->trained + r->classes)); }

static uint64_t total_bytes(const region_sizes *r)
{
    return round8(sizeof(train_state)) + int32_bytes(r)
           + 2u * (r->current + r->act + 2u * r->ping + 2u * r->g + r->cache);
}

fx_status fx_train_workspace_size(const fx_train_params *p, size_t *bytes)
{
    region_sizes r;
    uint64_t total;
    fx_status st = check_params(p);
    if (st != FX_OK) return st;
    if (bytes == NULL) return FX_ERR_NULL;
    sizes_of(p, &r);
    total = total_bytes(&r);
    if (total > (uint64_t)SIZE_MAX) return FX_ERR_SHAPE;
    *bytes = (size_t)total;
    return FX_OK;
}

/* Validates params and the buffer, then points the layout into it. */
static fx_status layout_of(const fx_train_params *p, void *workspace, size_t size, layout *L)
{
    region_sizes r;
    uint8_t *base = (uint8_t *)workspace;
    int32_t *w32;
    int16_t *w16;
    size_t need;
    fx_status st = fx_train_workspace_size(p, &need);
    if (st != FX_OK) return st;
    if (workspace == NULL) return FX_ERR_NULL;
    if (size < need || ((uintptr_t)workspace & (FX_TRAIN_ALIGN - 1u)) != 0u) return FX_ERR_BUFFER;
    sizes_of(p, &r);
    L->st = (train_state *)workspace;
    w32 = (int32_t *)(void *)(base + round8(sizeof(train_state)));
    L->acc = w32;
    L->bound = (uint32_t *)(w32 + r.params);
    L->loss_grad = w32 + r.params + r.trained;
    w16 = (int16_t *)(void *)(base + round8(sizeof(train_state)) + int32_bytes(&r));
    L->current = r.current ? w16 : NULL;
    L->act = w16 + r.current;
    L->ping[0] = L->act + r.act;
    L->ping[1] = L->ping[0] + r.ping;
    L->g[0] = L->ping[1] + r.ping;
    L->g[1] = L->g[0] + r.g;
    L->cache = L->g[1] + r.g;
    return FX_OK;
}

/* Offset of layer k's output (k >= first-1) inside L->act. */
static size_t act_offset(const fx_train_params *p, uint32_t k)
{
    uint32_t j;
    size_t off = 0;
    for (j = (p->first > 0u ? p->first - 1u : 0u); j < k; j++) off += dense_of(p, j)->out;
    return off;
}

/* Input of layer k (x itself for layer 0). */
static const int16_t *input_of(const fx_train_params *p, const layout *L, const int16_t *x, uint32_t k)
{
    return k == 0u ? x : L->act + act_offset(p, k - 1u);
}

/* Forward from layer `start`, whose input is x. */
static fx_status forward(const fx_train_params *p, const layout *L, const int16_t *x, uint32_t start)
{
    uint32_t k;
    const int16_t *in = x;
    for (k = start; k < p->model->n_layers; k++) {
        const fx_mlp_layer *layer = &p->model->layers[k];
        int16_t *out = k + 1u >= p->first ? L->act + act_offset(p, k) : L->ping[k & 1u];
        fx_status st = fx_dense_s16(&layer->dense, in, out);
        if (st != FX_OK) return st;
        if (layer->n_act_levels > 0u) {
            st = fx_snap_s16(out, layer->dense.out, layer->act_levels, layer->n_act_levels);
            if (st != FX_OK) return st;
        }
        in = out;
    }
    return FX_OK;
}

/* Loss of the sample whose logits are in L->act; gradient into L->loss_grad when grad != 0. */
static fx_status sample_loss(const fx_train_params *p, const layout *L, uint16_t label,
                             const int16_t *target, int grad, int64_t *loss, uint32_t *correct)
{
    uint32_t last = p->model->n_layers - 1u;
    uint16_t classes = (uint16_t)dense_of(p, last)->out;
    const int16_t *logits = L->act + act_offset(p, last);
    int32_t *g = grad ? L->loss_grad : NULL;
    fx_status st;
    *correct = 0;
    if (p->loss == FX_LOSS_SOFTMAX_XENT) {
        int32_t l32;
        uint32_t cls;
        st = fx_softmax_xent_s16(logits, classes, label, p->loss_mult, p->loss_shift, g, &l32);
        if (st != FX_OK) return st;
        (void)fx_argmax_s16(logits, classes, &cls);
        *correct = cls == label;
        *loss = l32;
        return FX_OK;
    }
    if (target == NULL) return FX_ERR_NULL;
    return fx_mse_s16(logits, target, classes, g, loss);
}

/* Validation of a sample's label or target. */
static fx_status target_args(const fx_train_params *p, uint16_t label, const int16_t *target)
{
    if (p->loss == FX_LOSS_SOFTMAX_XENT) {
        if (label >= dense_of(p, p->model->n_layers - 1u)->out) return FX_ERR_PARAM;
    } else if (target == NULL) {
        return FX_ERR_NULL;
    }
    return FX_OK;
}

/* The model's int32 biases from theta's B (accumulator units). */
static void write_biases(const fx_train_params *p)
{
    uint32_t k, i;
    const int16_t *theta = p->theta;
    for (k = p->first; k < p->model->n_layers; k++) {
        const fx_dense_layer *d = dense_of(p, k);
        const fx_train_layer *t = &p->layers[k - p->first];
        const int16_t *b = theta + (size_t)d->out * d->in;
        for (i = 0; i < d->out; i++) t->bias[i] = fx_requant(b[i], t->bias_mult, t->bias_shift);
        theta = b + d->out;
    }
}

fx_status fx_train_begin(const fx_train_params *p, void *workspace, size_t size)
{
    layout L;
    region_sizes r;
    uint64_t i;
    fx_status st = layout_of(p, workspace, size, &L);
    if (st != FX_OK) return st;
    sizes_of(p, &r);
    for (i = 0; i < r.params; i++) L.acc[i] = 0;
    for (i = 0; i < r.trained; i++) L.bound[i] = 0;
    write_biases(p);
    L.st->magic = TRAIN_MAGIC;
    L.st->phase = PHASE_ACCUMULATE;
    L.st->n_acc = L.st->n_eval = L.st->correct = L.st->changed = 0;
    L.st->loss = L.st->loss_trial = 0;
    return FX_OK;
}

fx_status fx_train_accumulate(const fx_train_params *p, void *workspace, size_t size,
                              const int16_t *x, uint16_t label, const int16_t *target)
{
    layout L;
    uint32_t k, classes, correct, j;
    int64_t loss;
    int32_t *acc;
    int16_t *g, *g_in;
    fx_status st = layout_of(p, workspace, size, &L);
    if (st != FX_OK) return st;
    if (L.st->magic != TRAIN_MAGIC || L.st->phase != PHASE_ACCUMULATE) return FX_ERR_STATE;
    if (x == NULL) return FX_ERR_NULL;
    if ((st = target_args(p, label, target)) != FX_OK) return st;
    if (L.st->n_acc == UINT32_MAX) return FX_ERR_STATE;
    if ((st = forward(p, &L, x, 0)) != FX_OK) return st;
    if ((st = sample_loss(p, &L, label, target, 1, &loss, &correct)) != FX_OK) return st;
    if (L.st->n_acc < p->cache) {
        const int16_t *a = input_of(p, &L, x, p->first);
        int16_t *slot = L.cache + (size_t)L.st->n_acc * dense_of(p, p->first)->in;
        for (j = 0; j < dense_of(p, p->first)->in; j++) slot[j] = a[j];
    }

    /* output gradient as int16: only +2^15 (softmax) or |y - t| >= 2^15 (MSE) saturate */
    classes = dense_of(p, p->model->n_layers - 1u)->out;
    g = L.g[0];
    g_in = L.g[1];
    for (j = 0; j < classes; j++) g[j] = fx_sat16(L.loss_grad[j]);

    /* the last layer's accumulators sit at the end: walk them backwards with the layers */
    acc = L.acc;
    for (k = p->first; k < p->model->n_layers; k++) acc += (size_t)layer_params(dense_of(p, k));
    for (k = p->model->n_layers; k-- > p->first;) {
        const fx_dense_layer *d = dense_of(p, k);
        const fx_train_layer *t = &p->layers[k - p->first];
        int16_t *swap;
        uint16_t in = (uint16_t)d->in, out = (uint16_t)d->out;
        acc -= (size_t)layer_params(d);
        st = fx_dense_grad_accum_s16(input_of(p, &L, x, k), g, in, out, t->grad_shift, acc,
                                     acc + (size_t)out * in, &L.bound[k - p->first]);
        if (st != FX_OK) return st;
        if (k == p->first) break;
        st = fx_dense_backward_input_s16(g, (const int16_t *)d->weights, in, out, t->back_mult, t->back_shift, g_in);
        if (st != FX_OK) return st;
        st = fx_act_backward_s16(input_of(p, &L, x, k), in, (int16_t)dense_of(p, k - 1u)->act_min,
                                 (int16_t)dense_of(p, k - 1u)->act_max, g_in);
        if (st != FX_OK) return st;
        swap = g; g = g_in; g_in = swap;
    }
    L.st->n_acc++;
    L.st->loss = add_sat64(L.st->loss, loss);
    L.st->correct += correct;
    return FX_OK;
}

/* acc[0..n) <- fx_requant(acc, mult, shift), hoisted out of the loop: acc mult + 2^(s-1) < 2^63,
 * so one shift of the rounded sum is the RHU shift. */
static void requant_run(int32_t *acc, uint32_t n, int32_t mult, int32_t shift)
{
    uint32_t i;
    int s = 31 - (int)shift;   /* check_params validated (mult, shift): s in 1..62 */
    int64_t half = (int64_t)1 << (s - 1);
    const uint32_t k = fx_requant_hi_k(shift);
    if (k != 0u) {             /* the usual direction scales: no 64-bit shift per parameter */
        const int32_t round = INT32_C(1) << (k - 1u);
        for (i = 0; i < n; i++) acc[i] = fx_requant_hi(acc[i], mult, k, round);
        return;
    }
    for (i = 0; i < n; i++) acc[i] = fx_sat32(((int64_t)acc[i] * mult + half) >> s);
}

int64_t fx_train_slope(const int32_t *d, uint32_t n, int32_t shift)
{
    uint32_t i;
    uint64_t slope = 0;
    if (d == NULL || shift < 0 || shift > 62) return 0;
    if (shift >= 31 && n <= FX_OPTIM_N_MAX) {
        /* d^2 = H 2^31 + L with H = d^2 >> 31 <= 2^31 and L < 2^31; for e = shift - 31 >= 1 the
         * rounding bit is in H: rhu(d^2 / 2^shift) = (H + 2^(e-1)) >> e, and for e = 0 it is
         * H + bit 30 of L. Every term is at most 2^31 + 1 and 2^24 of them stay below 2^56: no
         * 64-bit shift per parameter, and no branch (m selects the e = 0 bit) */
        const uint32_t e = (uint32_t)shift - 31u, c = e ? UINT32_C(1) << (e - 1u) : 0u, m = e ? 0u : 1u;
        for (i = 0; i < n; i++) {
            const uint64_t p = (uint64_t)((int64_t)d[i] * d[i]);
            slope += ((uint32_t)(p >> 31) + c + (((uint32_t)p >> 30) & m)) >> e;
        }
        return (int64_t)slope;
    }
    {
        /* d^2 <= 2^62: d^2 + 2^(shift-1) < 2^63, one shift rounds half up; once past INT64_MAX
         * nothing more is added (no wrap) */
        const uint64_t half = shift > 0 ? (uint64_t)1 << (shift - 1) : 0u;
        for (i = 0; i < n && slope <= (uint64_t)INT64_MAX; i++)
            slope += ((uint64_t)((int64_t)d[i] * d[i]) + half) >> shift;
    }
    return slope > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)slope;
}

/* Accumulators -> direction d in place; returns the slope sum_i rhu(d_i^2 / 2^slope_shift). */
static int64_t make_direction(const fx_train_params *p, int32_t *acc)
{
    uint32_t k;
    uint64_t slope = 0;
    for (k = p->first; k < p->model->n_layers; k++) {
        const fx_dense_layer *d = dense_of(p, k);
        const fx_train_layer *t = &p->layers[k - p->first];
        uint32_t nw = d->out * d->in;
        requant_run(acc, nw, t->dir_w_mult, t->dir_w_shift);
        requant_run(acc + nw, d->out, t->dir_b_mult, t->dir_b_shift);
        if (p->slope_shift != FX_TRAIN_SLOPE_NONE) {   /* both <= INT64_MAX: no uint64 wrap */
            slope += (uint64_t)fx_train_slope(acc, nw + d->out, p->slope_shift);
            if (slope > (uint64_t)INT64_MAX) slope = (uint64_t)INT64_MAX;
        }
        acc += nw + d->out;
    }
    return (int64_t)slope;
}

fx_status fx_train_propose(const fx_train_params *p, void *workspace, size_t size, uint32_t *evaluate)
{
    layout L;
    uint32_t i, n, changed = 0;
    int r;
    fx_status st = layout_of(p, workspace, size, &L);
    if (st != FX_OK) return st;
    if (L.st->magic != TRAIN_MAGIC || L.st->phase != PHASE_ACCUMULATE || L.st->n_acc == 0u) return FX_ERR_STATE;
    n = p->optim->n;
    /* from here on the accumulators are the direction: a failure ends the batch */
    st = fx_optim_direction(p->optim, L.st->loss, make_direction(p, L.acc));
    if (st != FX_OK) {
        L.st->magic = 0;
        return st;
    }
    if (L.current == NULL) {
        /* swap mode: the trial in theta, the current point in the direction's place */
        r = fx_optim_propose_s16_swap(p->optim, p->theta, L.acc, &changed);
    } else {
        for (i = 0; i < n; i++) L.current[i] = p->theta[i];
        r = fx_optim_propose_s16(p->optim, L.current, L.acc, p->theta);
        if (r == FX_OPTIM_TRIAL)
            for (i = 0; i < n; i++) changed += p->theta[i] != L.current[i];
        else  /* stalled, or an error: theta may hold a discarded candidate */
            for (i = 0; i < n; i++) p->theta[i] = L.current[i];
    }
    if (r < 0) {
        L.st->magic = 0;
        return (fx_status)r;
    }
    if (r == FX_OPTIM_TRIAL) {
        write_biases(p);
        L.st->phase = PHASE_EVALUATE;
    } else {
        L.st->phase = PHASE_NO_TRIAL;
    }
    L.st->changed = changed;
    if (evaluate != NULL) *evaluate = r == FX_OPTIM_TRIAL;
    return FX_OK;
}

fx_status fx_train_evaluate(const fx_train_params *p, void *workspace, size_t size,
                            const int16_t *x, uint16_t label, const int16_t *target)
{
    layout L;
    int64_t loss;
    uint32_t correct;
    fx_status st = layout_of(p, workspace, size, &L);
    if (st != FX_OK) return st;
    if (L.st->magic != TRAIN_MAGIC || L.st->phase != PHASE_EVALUATE) return FX_ERR_STATE;
    if (L.st->n_eval >= L.st->n_acc) return FX_ERR_STATE;
    if (x == NULL && L.st->n_eval >= p->cache) return FX_ERR_NULL;
    if ((st = target_args(p, label, target)) != FX_OK) return st;
    if (x == NULL) /* the cached input of the first trained layer: frozen layers need not run again */
        st = forward(p, &L, L.cache + (size_t)L.st->n_eval * dense_of(p, p->first)->in, p->first);
    else
        st = forward(p, &L, x, 0);
    if (st != FX_OK) return st;
    if ((st = sample_loss(p, &L, label, target, 0, &loss, &correct)) != FX_OK) return st;
    L.st->n_eval++;
    L.st->loss_trial = add_sat64(L.st->loss_trial, loss);
    return FX_OK;
}

fx_status fx_train_finish(const fx_train_params *p, void *workspace, size_t size, fx_train_stats *stats)
{
    layout L;
    uint32_t i, accept = 0;
    fx_status st = layout_of(p, workspace, size, &L);
    if (st != FX_OK) return st;
    if (L.st->magic != TRAIN_MAGIC) return FX_ERR_STATE;
    if (L.st->phase == PHASE_EVALUATE) {
        int r;
        if (L.st->n_eval != L.st->n_acc) return FX_ERR_STATE;
        r = fx_optim_report(p->optim, L.st->loss_trial);
        if (r < 0) return (fx_status)r;
        if (r == FX_OPTIM_GO) {
            /* theta already holds the trial (the next propose copies it to L.current): commit,
             * which recomputes it, is needed only for the optimizer's residual or last step
             * (never in swap mode) */
            st = fx_optim_accept(p->optim);
            if (st == FX_ERR_PARAM && L.current != NULL) st = fx_optim_commit_s16(p->optim, L.current, L.acc);
            if (st != FX_OK) return st;
            accept = 1;
        } else {
            if (L.current != NULL)
                for (i = 0; i < p->optim->n; i++) p->theta[i] = L.current[i];
            else   /* swap mode: the current point waits in the accumulators' place */
                for (i = 0; i < p->optim->n; i++) p->theta[i] = (int16_t)L.acc[i];
            write_biases(p);
        }
    } else if (L.st->phase == PHASE_NO_TRIAL) {
        L.st->loss_trial = L.st->loss;
    } else {
        return FX_ERR_STATE;
    }
    if (stats != NULL) {
        stats->loss = L.st->loss;
        stats->loss_trial = L.st->loss_trial;
        stats->n = L.st->n_acc;
        stats->correct = L.st->correct;
        stats->changed = L.st->changed;
        stats->accepted = accept;
    }
    L.st->magic = 0; /* the batch is over */
    return FX_OK;
}

fx_status fx_train_step(const fx_train_params *p, const int16_t *x, const uint16_t *labels,
                        const int16_t *targets, uint32_t n, void *workspace, size_t size,
                        fx_train_stats *stats)
{
    uint32_t s, in, classes, evaluate;
    fx_status st = fx_train_begin(p, workspace, size);
    if (st != FX_OK) return st;
    if (x == NULL) return FX_ERR_NULL;
    if (n == 0u) return FX_ERR_SHAPE;
    if (p->loss == FX_LOSS_SOFTMAX_XENT ? labels == NULL : targets == NULL) return FX_ERR_NULL;
    in = dense_of(p, 0)->in;
    classes = dense_of(p, p->model->n_layers - 1u)->out;
    /* the labels are checked up front, so a bad one leaves the parameters untouched */
    for (s = 0; p->loss == FX_LOSS_SOFTMAX_XENT && s < n; s++)
        if (labels[s] >= classes) return FX_ERR_PARAM;
    for (s = 0; s < n; s++) {
        st = fx_train_accumulate(p, workspace, size, x + (size_t)s * in, labels ? labels[s] : 0u,
                                 targets ? targets + (size_t)s * classes : NULL);
        if (st != FX_OK) return st;
    }
    if ((st = fx_train_propose(p, workspace, size, &evaluate)) != FX_OK) return st;
    for (s = 0; evaluate && s < n; s++) {
        st = fx_train_evaluate(p, workspace, size, s < p->cache ? NULL : x + (size_t)s * in,
                               labels ? labels[s] : 0u, targets ? targets + (size_t)s * classes : NULL);
        if (st != FX_OK) return st;
    }
    return fx_train_finish(p, workspace, size, stats);
}
