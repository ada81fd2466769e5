/* The C side of the MicroPython call-overhead benchmark (host/fxlearn/bench/mp_overhead.py):
 * the very training steps fxlearn.Trainer.step runs, set up the way modfxlearn.c sets them up
 * (blob parsed in place, trained layers' weights inside theta, biases from theta), called
 * directly from C in a loop. Built by the benchmark with the unix port's -Os.
 *
 * usage: bench_step DIR FIRST STEPS BATCH SLOPE_SHIFT CACHE
 * DIR holds model.fxb, theta.bin (int16), scales.bin (int32, 9 per trained layer), optim.bin
 * (int32: q dir_q z_max c1_shift shrink_shift seed rounding schedule policy guess min_lsb
 * pattern expand box ortho), x.bin (int16 [n][in]), labels.bin (uint16 [n]).
 * Runs STEPS batches of BATCH samples (batch i starts at sample (i * BATCH) mod (n - BATCH + 1))
 * and prints "<loss of the last step> <checksum of theta>", then every step's time in ns. */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fx_blob.h"
#include "fx_optim.h"
#include "fx_train.h"

static void *load(const char *dir, const char *name, size_t *len)
{
    char path[1024];
    FILE *f;
    void *data;
    long n;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "rb");
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "bench_step: cannot read %s\n", path);
        exit(2);
    }
    data = malloc((size_t)n + 8);   /* malloc: 8-byte aligned, as the blob and theta need */
    if (data == NULL || fread(data, 1, (size_t)n, f) != (size_t)n) exit(2);
    fclose(f);
    *len = (size_t)n;
    return data;
}

static void check(fx_status st, const char *what)
{
    if (st != FX_OK) {
        fprintf(stderr, "bench_step: %s failed with %d\n", what, (int)st);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    size_t blob_len, theta_len, scales_len, optim_len, x_len, labels_len, ws_size;
    uint8_t *blob;
    int16_t *theta, *x;
    int32_t *scales, *o;
    uint16_t *labels;
    fx_blob_info info;
    fx_mlp_model model;
    fx_mlp_layer layers[16];
    fx_train_layer tl[16];
    fx_train_params p;
    fx_train_stats stats;
    fx_optim optim;
    fx_optim_config cfg;
    uint32_t first, steps, batch, n, n_in, k, i, work_len;
    int32_t *work;
    uint64_t *workspace;
    size_t at = 0;
    struct timespec t0, t1;
    uint32_t sum = 0;
    long *ns;

    if (argc != 7) {
        fprintf(stderr, "usage: bench_step DIR FIRST STEPS BATCH SLOPE_SHIFT CACHE\n");
        return 2;
    }
    first = (uint32_t)atoi(argv[2]);
    steps = (uint32_t)atoi(argv[3]);
    batch = (uint32_t)atoi(argv[4]);
    blob = load(argv[1], "model.fxb", &blob_len);
    theta = load(argv[1], "theta.bin", &theta_len);
    scales = load(argv[1], "scales.bin", &scales_len);
    o = load(argv[1], "optim.bin", &optim_len);
    x = load(argv[1], "x.bin", &x_len);
    labels = load(argv[1], "labels.bin", &labels_len);
    if (optim_len != 15 * 4) return 2;

    check(fx_blob_info_read(blob, blob_len, &info), "fx_blob_info_read");
    check(fx_blob_parse(blob, blob_len, &model, layers, 16), "fx_blob_parse");
    memset(&p, 0, sizeof p);
    for (k = first; k < model.n_layers; k++) {
        fx_dense_layer *d = &layers[k].dense;
        const int32_t *s = scales + 9 * (k - first);
        fx_train_layer *t = &tl[k - first];
        t->bias = (int32_t *)(uintptr_t)d->bias;
        t->bias_mult = s[0]; t->bias_shift = s[1]; t->grad_shift = s[2];
        t->back_mult = s[3]; t->back_shift = s[4]; t->dir_w_mult = s[5];
        t->dir_w_shift = s[6]; t->dir_b_mult = s[7]; t->dir_b_shift = s[8];
        d->weights = theta + at;
        at += (size_t)d->out * (d->in + 1u);
    }
    memset(&cfg, 0, sizeof cfg);
    cfg.q = o[0]; cfg.dir_q = o[1]; cfg.z_max = o[2]; cfg.c1_shift = o[3]; cfg.shrink_shift = o[4];
    cfg.seed = (uint32_t)o[5]; cfg.rounding = (uint8_t)o[6]; cfg.schedule = (uint8_t)o[7];
    cfg.policy = (uint8_t)o[8]; cfg.guess = (uint8_t)o[9]; cfg.min_lsb = (uint8_t)o[10];
    cfg.pattern = (uint8_t)o[11]; cfg.expand = (uint8_t)o[12]; cfg.box = (uint8_t)o[13]; cfg.ortho = (uint8_t)o[14];
    work_len = fx_optim_work_len(&cfg, (uint32_t)at);
    work = calloc(work_len + 1u, sizeof *work);
    check(fx_optim_init(&optim, &cfg, (uint32_t)at, work, work_len), "fx_optim_init");
    p.model = &model;
    p.layers = tl;
    p.theta = theta;
    p.optim = &optim;
    p.first = first;
    p.loss = FX_LOSS_SOFTMAX_XENT;
    p.loss_mult = info.loss_mult;
    p.loss_shift = info.loss_shift;
    p.slope_shift = atoi(argv[5]);
    p.cache = (uint32_t)atoi(argv[6]);
    check(fx_train_workspace_size(&p, &ws_size), "fx_train_workspace_size");
    workspace = calloc(ws_size / 8 + 1, 8);
    n_in = layers[0].dense.in;
    n = (uint32_t)(labels_len / 2);

    ns = calloc(steps + 1u, sizeof *ns);
    for (i = 0; i < steps; i++) {
        uint32_t s0 = (i * batch) % (n - batch + 1);
        fx_status st;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        st = fx_train_step(&p, x + (size_t)s0 * n_in, labels + s0, NULL, batch, workspace, ws_size, &stats);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        check(st, "fx_train_step");
        ns[i] = (t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec);
    }
    for (i = 0; i < at; i++) sum = sum * 31u + (uint16_t)theta[i];
    printf("%lld %u\n", (long long)stats.loss, sum);
    for (i = 0; i < steps; i++) printf("%ld ", ns[i]);
    printf("\n");
    return 0;
}
