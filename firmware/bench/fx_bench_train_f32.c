/* The training step of fx_bench_train.c transcribed to float32, for the instruction ratio: the
 * same MLP, batch and algorithm as fx_train_step (docs/training.md) with float arithmetic in
 * place of the fixed-point one. Per sample: forward (ReLU hidden layer), softmax cross-entropy
 * and its gradient p - onehot, gradient accumulation (rows with a zero gradient skipped, as the
 * kernel does), the gradient to the hidden layer masked by the ReLU. Per batch: the direction
 * (the batch-mean gradient), the trial theta - lr d, the same batch's loss at the trial, and
 * Idle and Go: keep the trial if the loss dropped (lr doubles back up to its maximum), else
 * undo it (lr halves) - the optimizer configuration of the integer step (ADAPT, phi = 1).
 * Parameters, inputs and the learning rate come from the generated header (FXB_*_F). */
#include <math.h>
#include "fx_bench.h"
#include "fx_bench_train_data.h"

#define N_W0 (FXB_OUT0 * FXB_IN)
#define N_W1 (FXB_OUT1 * FXB_OUT0)
#define AT_B0 N_W0
#define AT_W1 (N_W0 + FXB_OUT0)
#define AT_B1 (AT_W1 + N_W1)

typedef char fxb_fan_ins_multiple_of_4[(FXB_IN % 4 == 0 && FXB_OUT0 % 4 == 0) ? 1 : -1];

float fxb_f_theta[FXB_N_PARAMS];                 /* W0, B0, W1, B1: theta's layout */
static float fxb_f_current[FXB_N_PARAMS];
static float fxb_f_grad[FXB_N_PARAMS];
static const float fxb_f_theta0[FXB_N_PARAMS] = FXB_THETA_F;
static const float fxb_f_x[FXB_BATCH * FXB_IN] = FXB_X_F;
static const uint16_t fxb_f_labels[FXB_BATCH] = FXB_LABELS;
static float fxb_f_lr;
float fxb_f_loss, fxb_f_loss_trial;             /* batch losses (sum, nats) before and at the trial */
int32_t fxb_f_correct;

void fx_bench_train_f32_init(void)
{
    uint32_t k;
    for (k = 0; k < FXB_N_PARAMS; k++) fxb_f_theta[k] = fxb_f_theta0[k];
    fxb_f_lr = FXB_LR_F;
}

/* out[i] = b[i] + sum_j w[i][j] x[j], unrolled by four (in % 4 == 0 here): the float
 * counterpart of the kernel's optimized forward, so that the ratio is not flattered */
static void f32_dense(const float *w, const float *b, const float *x, uint32_t in, uint32_t out, float *y)
{
    uint32_t i, j;
    for (i = 0; i < out; i++) {
        const float *xp = x;
        float acc = b[i];
        for (j = 0; j < in; j += 4, w += 4, xp += 4) {
            acc += w[0] * xp[0];
            acc += w[1] * xp[1];
            acc += w[2] * xp[2];
            acc += w[3] * xp[3];
        }
        y[i] = acc;
    }
}

static void f32_forward(const float *x, float *h, float *z)
{
    uint32_t i;
    f32_dense(fxb_f_theta, fxb_f_theta + AT_B0, x, FXB_IN, FXB_OUT0, h);
    for (i = 0; i < FXB_OUT0; i++) h[i] = h[i] > 0.0f ? h[i] : 0.0f;
    f32_dense(fxb_f_theta + AT_W1, fxb_f_theta + AT_B1, h, FXB_OUT0, FXB_OUT1, z);
}

/* Softmax cross-entropy: the loss, and (g != NULL) the gradient p - onehot. */
static float f32_softmax_xent(const float *z, uint32_t label, float *g)
{
    float e[FXB_OUT1], m = z[0], s = 0.0f;
    uint32_t i;
    for (i = 1; i < FXB_OUT1; i++) m = z[i] > m ? z[i] : m;
    for (i = 0; i < FXB_OUT1; i++) {
        e[i] = expf(z[i] - m);
        s += e[i];
    }
    if (g != NULL)
        for (i = 0; i < FXB_OUT1; i++) g[i] = e[i] / s - (i == label ? 1.0f : 0.0f);
    return logf(s) - (z[label] - m);
}

/* dw[i][j] += g[i] x[j], db[i] += g[i], rows with g[i] == 0 skipped */
static void f32_grad_accum(const float *x, const float *g, uint32_t in, uint32_t out, float *dw, float *db)
{
    uint32_t i, j;
    for (i = 0; i < out; i++) {
        if (g[i] == 0.0f) continue;
        for (j = 0; j < in; j++) dw[i * in + j] += g[i] * x[j];
        db[i] += g[i];
    }
}

static uint32_t f32_argmax(const float *z)
{
    uint32_t i, best = 0;
    for (i = 1; i < FXB_OUT1; i++)
        if (z[i] > z[best]) best = i;
    return best;
}

int32_t fx_bench_train_f32_step(void)
{
    float h[FXB_OUT0], z[FXB_OUT1], g[FXB_OUT1], gh[FXB_OUT0];
    const float step = fxb_f_lr / (float)FXB_BATCH;
    uint32_t n, i, j;
    int32_t accepted;
    fxb_f_loss = fxb_f_loss_trial = 0.0f;
    fxb_f_correct = 0;
    for (i = 0; i < FXB_N_PARAMS; i++) fxb_f_grad[i] = 0.0f;
    for (n = 0; n < FXB_BATCH; n++) {
        const float *x = fxb_f_x + n * FXB_IN;
        f32_forward(x, h, z);
        fxb_f_correct += f32_argmax(z) == fxb_f_labels[n];
        fxb_f_loss += f32_softmax_xent(z, fxb_f_labels[n], g);
        f32_grad_accum(h, g, FXB_OUT0, FXB_OUT1, fxb_f_grad + AT_W1, fxb_f_grad + AT_B1);
        for (j = 0; j < FXB_OUT0; j++) {                /* the gradient to h, then the ReLU mask */
            float acc = 0.0f;
            for (i = 0; i < FXB_OUT1; i++) acc += g[i] * fxb_f_theta[AT_W1 + i * FXB_OUT0 + j];
            gh[j] = h[j] > 0.0f ? acc : 0.0f;
        }
        f32_grad_accum(x, gh, FXB_IN, FXB_OUT0, fxb_f_grad, fxb_f_grad + AT_B0);
    }
    for (i = 0; i < FXB_N_PARAMS; i++) {                /* trial = theta - lr * batch-mean gradient */
        fxb_f_current[i] = fxb_f_theta[i];
        fxb_f_theta[i] -= step * fxb_f_grad[i];
    }
    for (n = 0; n < FXB_BATCH; n++) {
        f32_forward(fxb_f_x + n * FXB_IN, h, z);
        fxb_f_loss_trial += f32_softmax_xent(z, fxb_f_labels[n], NULL);
    }
    accepted = fxb_f_loss_trial < fxb_f_loss;
    if (accepted) {                                     /* go */
        fxb_f_lr = 2.0f * fxb_f_lr < FXB_LR_F ? 2.0f * fxb_f_lr : FXB_LR_F;
    } else {                                            /* idle */
        for (i = 0; i < FXB_N_PARAMS; i++) fxb_f_theta[i] = fxb_f_current[i];
        fxb_f_lr *= 0.5f;
    }
    return accepted;
}
