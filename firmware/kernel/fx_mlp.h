/* fxlearn kernel: multilayer perceptron forward over int16 activations
 * (docs/kernel.md section 6). No malloc: the caller passes the scratch buffer. */
#ifndef FX_MLP_H
#define FX_MLP_H

#include "fx_config.h"
#include "fx_status.h"
#include "fx_dense.h"

typedef struct {
    fx_dense_layer dense;        /* int16 in, int16 out; act_min = 0 is a ReLU */
    const int16_t *act_levels;   /* ascending levels the outputs snap to, or NULL */
    uint32_t n_act_levels;       /* 0: no snapping */
} fx_mlp_layer;

typedef struct {
    const fx_mlp_layer *layers;
    uint32_t n_layers;
} fx_mlp_model;

/* Validates the whole model: every layer (fx_dense_check for int16 outputs), layer[k].in ==
 * layer[k-1].out (FX_ERR_SHAPE), act levels strictly ascending inside [act_min, act_max]
 * (FX_ERR_PARAM), n_layers >= 1 (FX_ERR_SHAPE). */
fx_status fx_mlp_check(const fx_mlp_model *model);

/* Bytes of scratch fx_mlp_forward needs: two int16 buffers of the widest hidden layer
 * (0 for a single layer). Validates the model. */
fx_status fx_mlp_workspace_size(const fx_mlp_model *model, size_t *bytes);

/* y[out of the last layer] = the model applied to x[in of the first layer]. workspace must
 * be 2-byte aligned and at least fx_mlp_workspace_size bytes (FX_ERR_BUFFER otherwise; may
 * be NULL when that is 0). Everything is checked before any memory is written. */
fx_status fx_mlp_forward(const fx_mlp_model *model, const int16_t *x, int16_t *y,
                         void *workspace, size_t size);

/* fx_mlp_forward, then *cls = fx_argmax_s16 of y (ties -> lowest index). */
fx_status fx_mlp_predict(const fx_mlp_model *model, const int16_t *x, int16_t *y,
                         void *workspace, size_t size, uint32_t *cls);

#endif
