/* Model runtime: a committed blob is parsed in place by the kernel's blob loader (zero copy:
 * the layer table points into the model slot) and run with fx_mlp. */
#include "fx_app_runtime.h"

#include "fx_app_config.h"
#include "fx_blob.h"
#include "fx_loss.h"
#include "fx_mlp.h"

static fx_mlp_layer fx_runtime_layers[FX_APP_MAX_LAYERS];
static fx_mlp_model fx_runtime_model;
static fx_blob_info fx_runtime_info;
static uint16_t fx_runtime_out;
static int fx_runtime_loaded;

int fx_app_runtime_can_infer(void) {
    return 1;
}

size_t fx_app_runtime_ram(void) {
    return sizeof fx_runtime_layers + sizeof fx_runtime_model + sizeof fx_runtime_info;
}

fx_status fx_app_runtime_load(const uint8_t *blob, size_t n, fx_app_model_shape *shape) {
    fx_mlp_model model;
    fx_blob_info info;
    size_t work = 0;
    fx_runtime_loaded = 0;
    fx_status st = fx_blob_parse(blob, n, &model, fx_runtime_layers, FX_APP_MAX_LAYERS);
    if (st == FX_OK) {
        st = fx_blob_info_read(blob, n, &info);
    }
    if (st == FX_OK) {
        st = fx_mlp_workspace_size(&model, &work);
    }
    if (st != FX_OK) {
        return st;
    }
    fx_runtime_model = model;
    fx_runtime_info = info;
    fx_runtime_out = (uint16_t)model.layers[model.n_layers - 1].dense.out;
    shape->in = (uint16_t)model.layers[0].dense.in;
    shape->out = fx_runtime_out;
    shape->layers = (uint8_t)model.n_layers;
    shape->work = (uint32_t)work;
    fx_runtime_loaded = 1;
    return FX_OK;
}

fx_status fx_app_runtime_predict(const int16_t *x, int16_t *y, void *work, size_t size,
                                 uint32_t *cls) {
    if (!fx_runtime_loaded) {
        return FX_ERR_STATE;
    }
    return fx_mlp_predict(&fx_runtime_model, x, y, work, size, cls);
}

fx_status fx_app_runtime_loss(const int16_t *y, uint16_t label, int32_t *loss) {
    if (!fx_runtime_loaded) {
        return FX_ERR_STATE;
    }
    return fx_softmax_xent_s16(y, fx_runtime_out, label, fx_runtime_info.loss_mult,
                               fx_runtime_info.loss_shift, NULL, loss);
}
