/* Trainer adapter: the kernel's fx_train (streaming form) behind the fx_trainer.h interface.
 *
 * A BATCH frame holds the whole batch, so each sample is unpacked twice from the receive
 * buffer (accumulate, then evaluate at the trial point) and no batch memory is needed.
 * Everything the trainer keeps lives in one static arena of FX_APP_TRAIN_MAX bytes: the
 * optimizer, the layer table of the training copy, theta (the trained layers' W and B, int16
 * Q(q)), the optimizer's n-vectors and the fx_train workspace. A model that does not fit is
 * refused by fx_trainer_begin with FX_ERR_BUFFER (the app answers TOO_BIG, info = the arena).
 * After every step the trained weights are written back into the blob and its CRC resealed,
 * so READ_MODEL of the training copy and TRAIN_COMMIT see a valid blob.
 *
 * Configuration (STREAM_BEGIN mode TRAIN, after the fixed fields; little-endian), version 1:
 *   0 version:u8 first:u8 loss:u8 n_trained:u8
 *   4 loss_mult:i32 loss_shift:i32 slope_shift:i32 mse_one:i16 reserved:u16
 *  20 optimizer: q dir_q z_max c1_shift shrink_shift:i32 seed:u32
 *     rounding schedule policy guess min_lsb pattern expand box ortho ray box_line ray_far:u8
 *  56 per trained layer: bias_mult bias_shift grad_shift back_mult back_shift dir_w_mult
 *     dir_w_shift dir_b_mult dir_b_shift:i32 (36 bytes)
 *     then the initial biases B of every trained layer, int16 Q(q), in layer order.
 * MSE trains towards mse_one at the label's output and 0 elsewhere. */
#include <string.h>

#include "fx_trainer.h"
#include "fx_app_config.h"
#include "fx_blob.h"
#include "fx_fixed.h"
#include "fx_proto.h"
#include "fx_train.h"

#if FX_APP_TRAIN_MAX == 0u
/* No RAM for a trainer (8 KiB boards): the board does not advertise TRAIN, and a TRAIN
 * stream is answered UNSUPPORTED. */
int fx_trainer_available(void) {
    return 0;
}

fx_status fx_trainer_begin(uint8_t *model, size_t len, size_t cap, const uint8_t *config,
                           size_t config_len) {
    (void)model;
    (void)len;
    (void)cap;
    (void)config;
    (void)config_len;
    return FX_ERR_BUFFER;
}

fx_status fx_trainer_step(const fx_app_batch *batch, int16_t *scratch, size_t scratch_bytes,
                          uint32_t *correct, int32_t *loss) {
    (void)batch;
    (void)scratch;
    (void)scratch_bytes;
    (void)correct;
    (void)loss;
    return FX_ERR_STATE;
}

fx_status fx_trainer_finish(size_t *len) {
    (void)len;
    return FX_ERR_STATE;
}

void fx_trainer_get_stats(fx_trainer_stats *stats) {
    memset(stats, 0, sizeof *stats);
}
#else

#define CFG_VERSION 1u
#define CFG_FIXED 56u
#define CFG_LAYER 36u

static uint64_t arena[(FX_APP_TRAIN_MAX + 7u) / 8u + 1u];

static struct {
    int ready;            /* begun and not broken by a failed step */
    uint8_t *blob;
    size_t len;
    fx_mlp_model model;
    fx_train_params params;
    int16_t *blob_w[FX_APP_MAX_LAYERS];  /* where each trained layer's W sits in the blob */
    void *work;
    size_t work_size;
    int16_t mse_one;
    fx_trainer_stats stats;
} T;

int fx_trainer_available(void) {
    return 1;
}

static int32_t rd_i32(const uint8_t *p) {
    return (int32_t)fx_get_u32(p);
}

static int16_t rd_i16(const uint8_t *p) {
    int32_t v = fx_get_u16(p);
    return (int16_t)(v - ((v & 0x8000) << 1));
}

/* Bump allocation in the arena, 8-aligned; NULL when it is full. */
static void *take(size_t *used, size_t bytes) {
    size_t at = (*used + 7u) & ~(size_t)7u;
    if (at > FX_APP_TRAIN_MAX || bytes > FX_APP_TRAIN_MAX - at) {
        return NULL;
    }
    *used = at + bytes;
    return (uint8_t *)arena + at;
}

static void seal_blob(void) {
    (void)fx_blob_seal(T.blob, T.len); /* T.blob was parsed at begin: longer than its header */
}

/* theta's W of every trained layer back into the blob (the biases are already there). */
static void write_back(void) {
    const int16_t *theta = T.params.theta;
    for (uint32_t k = T.params.first; k < T.model.n_layers; k++) {
        const fx_dense_layer *d = &T.model.layers[k].dense;
        size_t nw = (size_t)d->out * d->in;
        memcpy(T.blob_w[k], theta, 2u * nw);
        theta += nw + d->out;
    }
    seal_blob();
}

static void read_optim_config(const uint8_t *c, fx_optim_config *o) {
    memset(o, 0, sizeof *o);
    o->q = rd_i32(c);
    o->dir_q = rd_i32(c + 4);
    o->z_max = rd_i32(c + 8);
    o->c1_shift = rd_i32(c + 12);
    o->shrink_shift = rd_i32(c + 16);
    o->seed = fx_get_u32(c + 20);
    o->rounding = c[24];
    o->schedule = c[25];
    o->policy = c[26];
    o->guess = c[27];
    o->min_lsb = c[28];
    o->pattern = c[29];
    o->expand = c[30];
    o->box = c[31];
    o->ortho = c[32];
    o->ray = c[33];
    o->box_line = c[34];
    o->ray_far = c[35];
}

fx_status fx_trainer_begin(uint8_t *model, size_t len, size_t cap, const uint8_t *config,
                           size_t config_len) {
    memset(&T, 0, sizeof T);
    (void)cap;
    if (model == NULL || config == NULL) {
        return FX_ERR_NULL;
    }
    if (config_len < CFG_FIXED || config[0] != CFG_VERSION) {
        return FX_ERR_PARAM;
    }
    size_t used = 0;
    fx_mlp_layer *layers = take(&used, sizeof(fx_mlp_layer) * FX_APP_MAX_LAYERS);
    fx_optim *optim = take(&used, sizeof(fx_optim));
    if (layers == NULL || optim == NULL) {
        return FX_ERR_BUFFER;
    }
    fx_status st = fx_blob_parse(model, len, &T.model, layers, FX_APP_MAX_LAYERS);
    if (st != FX_OK) {
        return st;
    }
    uint32_t n_layers = T.model.n_layers, first = config[1];
    if (first >= n_layers || config[3] != n_layers - first) {
        return FX_ERR_PARAM;
    }
    uint32_t trained = n_layers - first, n = 0, n_bias = 0;
    for (uint32_t k = first; k < n_layers; k++) {
        const fx_dense_layer *d = &layers[k].dense;
        if (d->format != FX_FMT_INT16) {
            return FX_ERR_FORMAT;
        }
        n += d->out * (d->in + 1u);
        n_bias += d->out;
    }
    if (config_len != CFG_FIXED + CFG_LAYER * trained + 2u * n_bias) {
        return FX_ERR_PARAM;
    }
    fx_train_layer *tl = take(&used, sizeof(fx_train_layer) * trained);
    int16_t *theta = take(&used, 2u * (size_t)n);
    if (tl == NULL || theta == NULL) {
        return FX_ERR_BUFFER;
    }

    /* theta: W as the blob holds it, B as the host sent it; the model's W becomes theta's */
    const uint8_t *cl = config + CFG_FIXED;
    const uint8_t *cb = cl + CFG_LAYER * trained;
    int16_t *t = theta;
    for (uint32_t k = first; k < n_layers; k++, cl += CFG_LAYER) {
        fx_dense_layer *d = &layers[k].dense;
        size_t nw = (size_t)d->out * d->in;
        fx_train_layer *s = &tl[k - first];
        T.blob_w[k] = (int16_t *)(uintptr_t)d->weights;  /* the slot is RAM: the copy is ours */
        memcpy(t, d->weights, 2u * nw);
        d->weights = t;
        for (uint32_t i = 0; i < d->out; i++, cb += 2) {
            t[nw + i] = rd_i16(cb);
        }
        s->bias = (int32_t *)(uintptr_t)d->bias;
        s->bias_mult = rd_i32(cl);
        s->bias_shift = rd_i32(cl + 4);
        s->grad_shift = rd_i32(cl + 8);
        s->back_mult = rd_i32(cl + 12);
        s->back_shift = rd_i32(cl + 16);
        s->dir_w_mult = rd_i32(cl + 20);
        s->dir_w_shift = rd_i32(cl + 24);
        s->dir_b_mult = rd_i32(cl + 28);
        s->dir_b_shift = rd_i32(cl + 32);
        t += nw + d->out;
    }

    fx_optim_config oc;
    read_optim_config(config + 20, &oc);
    uint32_t owork_len = fx_optim_work_len(&oc, n);
    int32_t *owork = owork_len ? take(&used, 4u * (size_t)owork_len) : NULL;
    if (owork_len && owork == NULL) {
        return FX_ERR_BUFFER;
    }
    if ((st = fx_optim_init(optim, &oc, n, owork, owork_len)) != FX_OK) {
        return st;
    }

    fx_train_params *p = &T.params;
    p->model = &T.model;
    p->layers = tl;
    p->theta = theta;
    p->optim = optim;
    p->first = first;
    p->loss = config[2];
    p->loss_mult = rd_i32(config + 4);
    p->loss_shift = rd_i32(config + 8);
    p->slope_shift = rd_i32(config + 12);
    p->cache = 0;  /* the batch stays in the receive buffer: evaluate reads it again */
    T.mse_one = rd_i16(config + 16);
    size_t need;
    if ((st = fx_train_workspace_size(p, &need)) != FX_OK) {
        return st;
    }
    if ((T.work = take(&used, need)) == NULL) {
        return FX_ERR_BUFFER;
    }
    T.work_size = need;
    /* begin writes the model's biases from theta: the blob is the training start point */
    if ((st = fx_train_begin(p, T.work, T.work_size)) != FX_OK) {
        return st;
    }
    T.blob = model;
    T.len = len;
    write_back();
    T.stats.work_bytes = (uint32_t)used;
    T.ready = 1;
    return FX_OK;
}

/* Sample i of the batch into x (and the MSE target after it). */
static void load_sample(const fx_app_batch *b, uint16_t i, int16_t *x, int16_t *target,
                        uint32_t classes) {
    fx_app_sample(b->x, b->in, b->x_bytes, i, x);
    if (target != NULL) {
        for (uint32_t j = 0; j < classes; j++) {
            target[j] = j == b->labels[i] ? T.mse_one : 0;
        }
    }
}

static fx_status run_batch(const fx_app_batch *b, int16_t *x, int16_t *target, uint32_t classes,
                           fx_train_stats *ts) {
    const fx_train_params *p = &T.params;
    uint32_t evaluate = 0;
    fx_status st = fx_train_begin(p, T.work, T.work_size);
    for (uint16_t i = 0; st == FX_OK && i < b->count; i++) {
        load_sample(b, i, x, target, classes);
        st = fx_train_accumulate(p, T.work, T.work_size, x, b->labels[i], target);
    }
    if (st != FX_OK) {
        return st;  /* nothing proposed yet: theta and the optimizer are untouched */
    }
    if ((st = fx_train_propose(p, T.work, T.work_size, &evaluate)) != FX_OK) {
        T.ready = 0;
        return st;
    }
    for (uint16_t i = 0; evaluate && i < b->count; i++) {
        load_sample(b, i, x, target, classes);
        if ((st = fx_train_evaluate(p, T.work, T.work_size, x, b->labels[i], target)) != FX_OK) {
            T.ready = 0;  /* the optimizer holds a pending trial */
            return st;
        }
    }
    if ((st = fx_train_finish(p, T.work, T.work_size, ts)) != FX_OK) {
        T.ready = 0;
    }
    return st;
}

fx_status fx_trainer_step(const fx_app_batch *batch, int16_t *scratch, size_t scratch_bytes,
                          uint32_t *correct, int32_t *loss) {
    if (!T.ready) {
        return FX_ERR_STATE;
    }
    if (batch == NULL || scratch == NULL || correct == NULL || loss == NULL) {
        return FX_ERR_NULL;
    }
    uint32_t classes = T.model.layers[T.model.n_layers - 1u].dense.out;
    int mse = T.params.loss == FX_LOSS_MSE;
    if (batch->in != T.model.layers[0].dense.in) {
        return FX_ERR_SHAPE;
    }
    if (scratch_bytes / 2u < (size_t)batch->in + (mse ? classes : 0u)) {
        return FX_ERR_BUFFER;
    }
    fx_train_stats ts;
    fx_status st = run_batch(batch, scratch, mse ? scratch + batch->in : NULL, classes, &ts);
    if (st != FX_OK) {
        return st;
    }
    write_back();
    fx_optim_stats os;
    (void)fx_optim_stats_get(T.params.optim, &os);
    int32_t batch_loss = ts.loss > INT32_MAX ? INT32_MAX : ts.loss < INT32_MIN ? INT32_MIN : (int32_t)ts.loss;
    T.stats.steps++;
    T.stats.accepted += ts.accepted;
    T.stats.idle += ts.changed != 0u && !ts.accepted;
    T.stats.compensations = os.ortho;
    T.stats.loss = batch_loss;
    *correct += ts.correct;
    *loss = fx_add_sat32(*loss, batch_loss);
    return FX_OK;
}

fx_status fx_trainer_finish(size_t *len) {
    if (!T.ready) {
        return FX_ERR_STATE;
    }
    if (len == NULL) {
        return FX_ERR_NULL;
    }
    write_back();
    *len = T.len;
    T.ready = 0;
    return FX_OK;
}

void fx_trainer_get_stats(fx_trainer_stats *stats) {
    *stats = T.stats;
}
#endif
