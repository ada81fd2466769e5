/* fxlearn kernel: on-device mini-batch training of an MLP (docs/kernel.md section 8,
 * docs/training.md). Trains the layers from `first` to the last (0: all layers, n_layers-1:
 * the last layer only, the usual fine-tuning case). The trained parameters form ONE int16
 * vector theta in Q(q) (X = Qp x, the quantized optimizer's premise), per trained layer its
 * weights W[out][in] then its biases B[out]; the model's weight pointer of a trained layer is
 * its W inside theta (FX_FMT_INT16), and the model's int32 bias (accumulator units) is derived
 * from B by the trainer. Frozen layers may be any format.
 *
 * One batch: per sample forward, loss, backward into int32 gradient accumulators; then the
 * direction (the batch-mean gradient) goes to the quantized optimizer (fx_optim.h), whose trial
 * point is evaluated on the same batch; the optimizer's Idle-and-Go rule keeps or undoes it.
 * Streaming form (samples need not stay in memory, each is passed twice):
 *     fx_train_begin, fx_train_accumulate x n, fx_train_propose,
 *     fx_train_evaluate x n (the same samples), fx_train_finish
 * or all of it at once with fx_train_step. No malloc: the batch state lives in the caller's
 * workspace (fx_train_workspace_size), the optimizer state in the caller's fx_optim. */
#ifndef FX_TRAIN_H
#define FX_TRAIN_H

#include "fx_mlp.h"
#include "fx_optim.h"
#include "fx_train_backward.h"

typedef enum {
    FX_LOSS_SOFTMAX_XENT = 0,  /* fx_softmax_xent_s16 on the logits, a class label per sample */
    FX_LOSS_MSE = 1            /* fx_mse_s16 against an int16 target vector per sample */
} fx_train_loss;

/* Workspace alignment (it holds int64 and int32 state). */
#define FX_TRAIN_ALIGN 8u
#define FX_TRAIN_SLOPE_NONE (-1)

/* One trained layer: its derived bias and its integer scales (all made by the host). */
typedef struct {
    int32_t *bias;           /* must equal the model layer's bias: rewritten as requant(B, bias scale) */
    int32_t bias_mult;       /* B in Q(q) -> accumulator units: 1 / s_in */
    int32_t bias_shift;
    int32_t grad_shift;      /* rounding pre-shift of g_i * x_j into the weight accumulators, 0..30 */
    int32_t back_mult;       /* gradient to the layer input: s_g * 2^-q / s_g_in (requant scale); */
    int32_t back_shift;      /* unused for the first trained layer */
    int32_t dir_w_mult;      /* weight accumulator -> direction: the batch-mean gradient in Q(dir_q) */
    int32_t dir_w_shift;
    int32_t dir_b_mult;      /* bias accumulator -> direction */
    int32_t dir_b_shift;
} fx_train_layer;

typedef struct {
    const fx_mlp_model *model;
    fx_train_layer *layers;  /* n_layers - first entries: layers[k] trains model layer first + k */
    int16_t *theta;          /* the trained parameters, fx_train_n_params entries */
    fx_optim *optim;         /* initialised (fx_optim_init) for fx_train_n_params parameters */
    uint32_t first;          /* first trained layer */
    int32_t loss;            /* fx_train_loss */
    int32_t loss_mult;       /* softmax: logit scale * 4096 as (mult, shift), see fx_loss.h */
    int32_t loss_shift;
    int32_t slope_shift;     /* slope given to the optimizer: sum_i rhu(d_i^2 / 2^slope_shift),
                                0..62, or FX_TRAIN_SLOPE_NONE for 0 (unknown) */
    uint32_t cache;          /* samples per batch whose input to layer `first` the workspace keeps, so
                                that the trial pass skips the frozen layers (0: none) */
} fx_train_params;

typedef struct {
    int64_t loss;            /* batch loss (sum over samples) before the step: Q12 nats or squared error */
    int64_t loss_trial;      /* the same at the trial point (= loss when there was no trial) */
    uint32_t n;              /* samples in the batch */
    uint32_t correct;        /* softmax: samples classified right before the step */
    uint32_t changed;        /* parameters the trial changed (0: the optimizer stalled) */
    uint32_t accepted;       /* 1: the trial was kept ("go"), 0: undone ("idle") or no trial */
} fx_train_stats;

/* The optimizer's slope of a direction d (n entries): sum_i rhu(d_i^2 / 2^shift), saturated to
 * INT64_MAX; 0 for d NULL or shift outside 0..62. fx_train_propose adds it up over the trained
 * layers (docs/training.md). */
int64_t fx_train_slope(const int32_t *d, uint32_t n, int32_t shift);

/* Number of trained parameters: sum over trained layers of out * (in + 1). Validates p. */
fx_status fx_train_n_params(const fx_train_params *p, uint32_t *n);

/* Validates params (FX_ERR_NULL; FX_ERR_FORMAT for a trained layer that is not INT16;
 * FX_ERR_PARAM for scales, aliases, first, loss, slope_shift out of range or an optimizer
 * for a different n; FX_ERR_SHAPE if the parameters exceed the optimizer's 2^24) and reports
 * the workspace bytes. */
fx_status fx_train_workspace_size(const fx_train_params *p, size_t *bytes);

/* Starts a batch: zeroes the accumulators and rewrites the model biases from theta.
 * workspace: FX_TRAIN_ALIGN-aligned, at least fx_train_workspace_size bytes (FX_ERR_BUFFER);
 * it carries the batch state between calls. */
fx_status fx_train_begin(const fx_train_params *p, void *workspace, size_t size);

/* One sample: forward, loss, backward into the accumulators. label (softmax) < classes;
 * target (MSE): the int16 target vector, else may be NULL. FX_ERR_STATE outside a batch. */
fx_status fx_train_accumulate(const fx_train_params *p, void *workspace, size_t size,
                              const int16_t *x, uint16_t label, const int16_t *target);

/* The direction from the accumulators, then the optimizer's trial point written into theta
 * (the current point kept in the workspace). *evaluate (may be NULL) = 1 if the batch must now
 * be evaluated at the trial, 0 if the optimizer stalled (no trial: call fx_train_finish).
 * Optimizer errors (e.g. FX_ERR_STATE from an optimizer left mid-step) are passed on. */
fx_status fx_train_propose(const fx_train_params *p, void *workspace, size_t size, uint32_t *evaluate);

/* One sample of the same batch, in any order: forward and loss at the trial point.
 * x == NULL: the next sample in accumulation order (the n-th evaluate call takes the n-th
 * accumulated sample) from the cache, if it holds that sample (FX_ERR_NULL otherwise). */
fx_status fx_train_evaluate(const fx_train_params *p, void *workspace, size_t size,
                            const int16_t *x, uint16_t label, const int16_t *target);

/* Reports the trial loss to the optimizer; keeps the trial (commit) or restores the current
 * point, and reports the batch (stats may be NULL). FX_ERR_STATE if not every accumulated
 * sample was evaluated. */
fx_status fx_train_finish(const fx_train_params *p, void *workspace, size_t size, fx_train_stats *stats);

/* The whole batch: x [n][in of layer 0], labels [n] (softmax) or targets [n][classes] (MSE). */
fx_status fx_train_step(const fx_train_params *p, const int16_t *x, const uint16_t *labels,
                        const int16_t *targets, uint32_t n, void *workspace, size_t size,
                        fx_train_stats *stats);

#endif
