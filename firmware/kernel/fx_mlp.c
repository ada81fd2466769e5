/* Multilayer perceptron over int16 activations: validation, workspace, forward
 * (docs/kernel.md section 6). */
#include "fx_mlp.h"
#include "fx_act.h"

fx_status fx_mlp_check(const fx_mlp_model *model)
{
    uint32_t k, i;
    fx_status st;

    if (model == NULL || model->layers == NULL) return FX_ERR_NULL;
    if (model->n_layers == 0u) return FX_ERR_SHAPE;
    for (k = 0; k < model->n_layers; k++) {
        const fx_mlp_layer *layer = &model->layers[k];
        st = fx_dense_check(&layer->dense, 16);
        if (st != FX_OK) return st;
        if (k > 0u && layer->dense.in != model->layers[k - 1u].dense.out) return FX_ERR_SHAPE;
        if (layer->n_act_levels > 0u) {
            st = fx_levels_check_s16(layer->act_levels, layer->n_act_levels);
            if (st != FX_OK) return st;
            for (i = 0; i < layer->n_act_levels; i++)
                if (layer->act_levels[i] < layer->dense.act_min || layer->act_levels[i] > layer->dense.act_max)
                    return FX_ERR_PARAM;
        }
    }
    return FX_OK;
}

/* Elements of one ping-pong buffer: the widest output that is not the model's output. */
static uint32_t hidden_width(const fx_mlp_model *model)
{
    uint32_t k, w = 0;
    for (k = 0; k + 1u < model->n_layers; k++)
        if (model->layers[k].dense.out > w) w = model->layers[k].dense.out;
    return w;
}

fx_status fx_mlp_workspace_size(const fx_mlp_model *model, size_t *bytes)
{
    fx_status st = fx_mlp_check(model);
    if (st != FX_OK) return st;
    if (bytes == NULL) return FX_ERR_NULL;
    *bytes = 2u * sizeof(int16_t) * (size_t)hidden_width(model);
    return FX_OK;
}

fx_status fx_mlp_forward(const fx_mlp_model *model, const int16_t *x, int16_t *y,
                         void *workspace, size_t size)
{
    size_t need;
    uint32_t k, width;
    int16_t *buf[2];
    const int16_t *in;
    fx_status st = fx_mlp_workspace_size(model, &need);

    if (st != FX_OK) return st;
    if (x == NULL || y == NULL) return FX_ERR_NULL;
    if (size < need) return FX_ERR_BUFFER;
    if (need > 0u && (workspace == NULL || ((uintptr_t)workspace & 1u) != 0u)) return FX_ERR_BUFFER;

    width = hidden_width(model);
    buf[0] = (int16_t *)workspace;
    buf[1] = need > 0u ? buf[0] + width : NULL;
    in = x;
    for (k = 0; k < model->n_layers; k++) {
        const fx_mlp_layer *layer = &model->layers[k];
        int16_t *out = k + 1u == model->n_layers ? y : buf[k & 1u];
        st = fx_dense_s16(&layer->dense, in, out);
        if (st != FX_OK) return st;
        if (layer->n_act_levels > 0u) {
            st = fx_snap_s16(out, layer->dense.out, layer->act_levels, layer->n_act_levels);
            if (st != FX_OK) return st;
        }
        in = out;
    }
    return FX_OK;
}

fx_status fx_mlp_predict(const fx_mlp_model *model, const int16_t *x, int16_t *y,
                         void *workspace, size_t size, uint32_t *cls)
{
    fx_status st;
    if (cls == NULL) return FX_ERR_NULL;
    st = fx_mlp_forward(model, x, y, workspace, size);
    if (st != FX_OK) return st;
    return fx_argmax_s16(y, model->layers[model->n_layers - 1u].dense.out, cls);
}
