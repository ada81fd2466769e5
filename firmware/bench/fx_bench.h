/* Instruction-count benchmark entries (firmware/bench, host/fxlearn/mcu_run.py). Not part of
 * the kernel: linked only into the bare benchmark images. */
#ifndef FX_BENCH_H
#define FX_BENCH_H

#include <stdint.h>

int32_t fx_bench_nop(void);

/* fx_bench_train.c: one fx_train_step on the generated batch (init first: the optimizer). */
int32_t fx_bench_train_init(void);
int32_t fx_bench_train_step(void);

/* fx_bench_train_f32.c: the same training step in float32. */
void fx_bench_train_f32_init(void);
int32_t fx_bench_train_f32_step(void);

#endif
