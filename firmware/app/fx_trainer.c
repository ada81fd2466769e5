/* Trainer adapter. On-device training (the kernel's fx_train behind the fx_trainer.h
 * interface) is not wired in yet: this firmware reports it cannot train, and the app answers
 * STREAM_BEGIN mode TRAIN and TRAIN_COMMIT with UNSUPPORTED without calling the rest. */
#include "fx_trainer.h"

int fx_trainer_available(void) {
    return 0;
}

fx_status fx_trainer_begin(uint8_t *model, size_t len, size_t cap, const uint8_t *config,
                           size_t config_len) {
    (void)model;
    (void)len;
    (void)cap;
    (void)config;
    (void)config_len;
    return FX_ERR_STATE;
}

fx_status fx_trainer_step(const fx_app_batch *batch, int16_t *scratch, size_t scratch_bytes,
                          uint32_t *correct, int32_t *loss) {
    (void)batch;
    (void)scratch;
    (void)scratch_bytes;
    (void)correct;
    (void)loss;
    return FX_ERR_STATE;
}

fx_status fx_trainer_finish(size_t *len) {
    (void)len;
    return FX_ERR_STATE;
}

void fx_trainer_get_stats(fx_trainer_stats *stats) {
    fx_trainer_stats zero = {0, 0, 0, 0, 0, 0};
    *stats = zero;
}
