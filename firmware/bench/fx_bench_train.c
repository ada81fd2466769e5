/* Instruction-count benchmark of on-device training: one fx_train_step of an MLP (all layers
 * int16, softmax cross-entropy, the quantized optimizer) on one batch. The model, its training
 * scales, the optimizer configuration and the batch come from the header the benchmark writes
 * (host/fxlearn/bench/mcu.py -> build/mcu/gen/fx_bench_train_data.h): FXB_* macros. */
#include "fx_bench.h"
#include "fx_train.h"
#include "fx_bench_train_data.h"

int16_t fxb_theta[FXB_N_PARAMS] = FXB_THETA;     /* trained parameters: RAM */
static int32_t fxb_bias0[FXB_OUT0], fxb_bias1[FXB_OUT1];
static const int32_t fxb_mult0[1] = { FXB_MULT0 }, fxb_shift0[1] = { FXB_SHIFT0 };
static const int32_t fxb_mult1[1] = { FXB_MULT1 }, fxb_shift1[1] = { FXB_SHIFT1 };
static const int16_t fxb_x[FXB_BATCH * FXB_IN] = FXB_X;
static const uint16_t fxb_labels[FXB_BATCH] = FXB_LABELS;

static fx_mlp_layer fxb_layers[2] = {
    { { FX_FMT_INT16, 16, FXB_IN, FXB_OUT0, fxb_theta, fxb_bias0, fxb_mult0, fxb_shift0, 1, FXB_ACT0 },
      NULL, 0 },
    { { FX_FMT_INT16, 16, FXB_OUT0, FXB_OUT1, fxb_theta + FXB_OUT0 * (FXB_IN + 1), fxb_bias1, fxb_mult1,
        fxb_shift1, 1, FXB_ACT1 }, NULL, 0 },
};
static const fx_mlp_model fxb_model = { fxb_layers, 2 };
static fx_train_layer fxb_train_layers[2] = {
    { fxb_bias0, FXB_SCALES0 },
    { fxb_bias1, FXB_SCALES1 },
};
static fx_optim fxb_optim;
static int32_t fxb_optim_work[FXB_OPTIM_WORK + 1];   /* + 1: never a zero-length array */
static uint64_t fxb_workspace[(FXB_WORKSPACE + 7) / 8];
static fx_train_params fxb_params = {
    &fxb_model, fxb_train_layers, fxb_theta, &fxb_optim, 0, FX_LOSS_SOFTMAX_XENT, FXB_LOSS_SCALE,
    FXB_SLOPE_SHIFT, 0
};
fx_train_stats fxb_stats;

int32_t fx_bench_train_init(void)
{
    const fx_optim_config cfg = FXB_OPTIM_CONFIG;
    size_t need;
    fx_status st = fx_optim_init(&fxb_optim, &cfg, FXB_N_PARAMS, fxb_optim_work, FXB_OPTIM_WORK);
    if (st != FX_OK) return st;
    st = fx_train_workspace_size(&fxb_params, &need);
    if (st != FX_OK) return st;
    return need <= sizeof fxb_workspace ? FX_OK : FX_ERR_BUFFER;
}

int32_t fx_bench_train_step(void)
{
    return fx_train_step(&fxb_params, fxb_x, fxb_labels, NULL, FXB_BATCH, fxb_workspace, sizeof fxb_workspace,
                         &fxb_stats);
}
