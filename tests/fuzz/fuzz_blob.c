/* libFuzzer target: the model blob loader (fx_blob_info_read, fx_blob_parse), and that a model
 * it accepts is safe to run. The input is parsed as given, then again with its header CRC
 * recomputed so mutations reach the layer table and sections past the CRC check. Every parse
 * works on an exactly sized heap copy: ASan flags any read outside the blob. An
 * accepted model is run once (fx_mlp_predict on a pattern input) with the workspace it asks
 * for, up to a limit. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_blob.h"
#include "fx_crc32.h"
#include "fx_mlp.h"

#define MAX_LAYERS 8u
#define MAX_WORK (1u << 20)

/* An invariant failed: say which, then crash so libFuzzer keeps the input. */
#define check(ok) ((ok) ? (void)0 : fail(__LINE__, #ok))
static void fail(int line, const char *what) {
    fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, line, what);
    abort();
}

static void run_model(const fx_mlp_model *m) {
    size_t work = 0;
    if (fx_mlp_workspace_size(m, &work) != FX_OK || work > MAX_WORK) {
        return;
    }
    uint32_t in = m->layers[0].dense.in, out = m->layers[m->n_layers - 1].dense.out;
    int16_t *x = malloc(in * sizeof *x), *y = malloc(out * sizeof *y);
    void *ws = malloc(work ? work : 1);
    for (uint32_t i = 0; i < in; i++) {
        x[i] = (int16_t)(i * 2654435761u >> 16);
    }
    uint32_t cls = 0;
    fx_status st = fx_mlp_predict(m, x, y, ws, work, &cls);
    check(st != FX_OK || cls < out);
    free(ws);
    free(y);
    free(x);
}

static void parse(const uint8_t *blob, size_t n, size_t max_layers) {
    uint8_t *copy = malloc(n ? n : 1); /* malloc is 16-aligned; exact size for ASan */
    memcpy(copy, blob, n);
    fx_blob_info info;
    fx_status st = fx_blob_info_read(copy, n, &info);
    check(st == FX_OK || st == FX_ERR_CORRUPT || st == FX_ERR_VERSION);
    if (st == FX_OK) {
        check(info.total_size <= n && info.n_layers > 0);
    }
    fx_mlp_layer layers[MAX_LAYERS];
    fx_mlp_model model;
    st = fx_blob_parse(copy, n, &model, layers, max_layers);
    if (st == FX_OK) {
        check(model.n_layers <= max_layers && fx_mlp_check(&model) == FX_OK);
        run_model(&model);
    }
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) {
        return 0;
    }
    size_t max_layers = (size_t)(data[0] % MAX_LAYERS) + 1u;
    const uint8_t *blob = data + 1;
    size_t n = size - 1;
    parse(blob, n, max_layers);
    if (n >= FX_BLOB_HEADER_SIZE) {
        uint8_t *fixed = malloc(n);
        memcpy(fixed, blob, n);
        uint32_t total = (uint32_t)fixed[8] | (uint32_t)fixed[9] << 8 | (uint32_t)fixed[10] << 16 |
                         (uint32_t)fixed[11] << 24;
        if (total >= 16u && total <= n) {
            uint32_t crc = fx_crc32(0, fixed + 16, total - 16u);
            fixed[12] = (uint8_t)crc;
            fixed[13] = (uint8_t)(crc >> 8);
            fixed[14] = (uint8_t)(crc >> 16);
            fixed[15] = (uint8_t)(crc >> 24);
        }
        parse(fixed, n, max_layers);
        free(fixed);
    }
    return 0;
}
