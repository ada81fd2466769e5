/* The model runtime seen by the app: a committed blob is parsed once (at commit and at boot)
 * into a layer table, then run sample by sample. fx_app_runtime.c binds it to the kernel's
 * blob loader and fx_mlp. */
#ifndef FX_APP_RUNTIME_H
#define FX_APP_RUNTIME_H

#include <stdint.h>
#include <stddef.h>

#include "fx_status.h"

typedef struct {
    uint16_t in;      /* input width */
    uint16_t out;     /* output width (classes) */
    uint8_t layers;
    uint32_t work;    /* bytes of forward-pass scratch */
} fx_app_model_shape;

/* 1 when a forward pass is linked in (HELLO features INFER and EVAL). */
int fx_app_runtime_can_infer(void);

/* Bytes of RAM the runtime holds (its layer table), for STATS. */
size_t fx_app_runtime_ram(void);

/* Validates blob[0..n) and makes it the model that predict runs (the blob must stay in place).
 * On failure the previous model is no longer loaded: reload it. */
fx_status fx_app_runtime_load(const uint8_t *blob, size_t n, fx_app_model_shape *shape);

/* y[out] and *cls (argmax, ties -> lowest) of x[in]; work: 2-aligned, shape.work bytes. */
fx_status fx_app_runtime_predict(const int16_t *x, int16_t *y, void *work, size_t size,
                                 uint32_t *cls);

/* Softmax cross-entropy of one sample, Q12 nats, from its outputs y and label (the blob's
 * loss scale); an error leaves the loss out of the totals. */
fx_status fx_app_runtime_loss(const int16_t *y, uint16_t label, int32_t *loss);

#endif
