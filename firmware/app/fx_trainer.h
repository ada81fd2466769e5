/* What the firmware application needs from on-device training. The app owns the protocol:
 * STREAM_BEGIN mode TRAIN copies the active model into the other slot and calls
 * fx_trainer_begin on that copy; every BATCH (already de-duplicated by its batch sequence:
 * each is passed exactly once) goes to fx_trainer_step; TRAIN_COMMIT calls fx_trainer_finish
 * and then makes the copy the active model. fx_trainer.c adapts the kernel's fx_train to this
 * interface; until it does, fx_trainer_available() is 0 and the app answers UNSUPPORTED. */
#ifndef FX_TRAINER_H
#define FX_TRAINER_H

#include "fx_status.h"
#include "fx_app_batch.h"

typedef struct {
    uint32_t steps;          /* batches applied */
    uint32_t accepted;       /* "go" steps (Idle and Go) */
    uint32_t idle;           /* "idle" steps: the trial step was undone */
    uint32_t compensations;  /* steps that used the quantization-error compensation */
    int32_t loss;            /* loss of the last batch, Q12 nats (softmax) */
    uint32_t work_bytes;     /* RAM the trainer holds */
} fx_trainer_stats;

/* 1 when this firmware can train (HELLO feature FX_FEATURE_TRAIN). */
int fx_trainer_available(void);

/* Starts training the blob model[0..len) (cap bytes may be used: the slot) with the host's
 * configuration bytes (the STREAM_BEGIN payload after its fixed fields). Zeroes the stats. */
fx_status fx_trainer_begin(uint8_t *model, size_t len, size_t cap, const uint8_t *config,
                           size_t config_len);

/* Applies one batch: *correct += samples classified right before the step, *loss += the
 * batch loss (Q12 nats). scratch: 2-aligned int16 memory the app lends (the inference work
 * area). */
fx_status fx_trainer_step(const fx_app_batch *batch, int16_t *scratch, size_t scratch_bytes,
                          uint32_t *correct, int32_t *loss);

/* Ends training: the trained blob is model[0..*len) of fx_trainer_begin's buffer. */
fx_status fx_trainer_finish(size_t *len);

void fx_trainer_get_stats(fx_trainer_stats *stats);

#endif
