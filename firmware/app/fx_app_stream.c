/* Firmware application, batch streams: EVAL (forward and count) and TRAIN (dispatched to the
 * trainer), each batch applied exactly once by its batch sequence number. */
#include <string.h>

#include "fx_app_batch.h"
#include "fx_app_internal.h"
#include "fx_board.h"
#include "fx_crc32.h"
#include "fx_fixed.h"
#include "fx_trainer.h"

#define A fx_app_g
#define S fx_app_store_g

void fx_app_stream_reset(void) {
    A.stream_mode = FX_STREAM_NONE;
    A.stream_x_bytes = 0;
    A.last_bseq = 0;
    A.batches = A.samples = A.correct = 0;
    A.loss = 0;
    A.train_len = 0;
}

static void fx_batch_reply(fx_reply *r) {
    fx_put_u32(r->out, A.last_bseq);
    fx_put_u32(r->out + 4, A.samples);
    fx_put_u32(r->out + 8, A.correct);
    fx_put_u32(r->out + 12, (uint32_t)A.loss);
    r->len = FX_BATCH_REPLY;
}

void fx_cmd_stream_begin(const uint8_t *req, size_t n, fx_reply *r) {
    if (n < FX_STREAM_BEGIN_FIXED) {
        fx_reply_error(r, FX_ST_LENGTH, FX_OK, FX_STREAM_BEGIN_FIXED);
        return;
    }
    uint8_t mode = req[0], x_bytes = req[1];
    uint32_t first = fx_get_u32(req + 2);
    if ((mode != FX_STREAM_EVAL && mode != FX_STREAM_TRAIN) || (x_bytes != 1u && x_bytes != 2u) ||
        first == 0) {
        fx_reply_error(r, FX_ST_PARAM, FX_OK, 0);
        return;
    }
    if (mode == FX_STREAM_EVAL && !fx_app_runtime_can_infer()) {
        fx_reply_error(r, FX_ST_UNSUPPORTED, FX_OK, mode);
        return;
    }
    if (mode == FX_STREAM_TRAIN && !fx_trainer_available()) {
        fx_reply_error(r, FX_ST_UNSUPPORTED, FX_OK, mode);
        return;
    }
    if (mode == FX_STREAM_EVAL && n != FX_STREAM_BEGIN_FIXED) {
        fx_reply_error(r, FX_ST_LENGTH, FX_OK, FX_STREAM_BEGIN_FIXED);
        return;
    }
    if (!fx_app_model_present()) {
        fx_reply_error(r, FX_ST_NO_MODEL, FX_OK, 0);
        return;
    }
    if (A.shape.out > 256u) {
        fx_reply_error(r, FX_ST_PARAM, FX_OK, A.shape.out); /* labels travel as u8 */
        return;
    }
    fx_app_stream_reset();
    if (mode == FX_STREAM_TRAIN) {
        /* Train a copy in the spare slot: the active model stays intact until TRAIN_COMMIT. */
        uint8_t spare = fx_app_spare_slot();
        uint32_t len = fx_app_model_len();
        A.upload_state = FX_UPLOAD_NONE;
        memcpy(S.slot[spare], S.slot[S.active], len);
        fx_status st = fx_trainer_begin(S.slot[spare], len, FX_APP_MODEL_MAX,
                                        req + FX_STREAM_BEGIN_FIXED, n - FX_STREAM_BEGIN_FIXED);
        if (st != FX_OK) {
            /* TOO_BIG (FX_ERR_BUFFER): the model's training state exceeds the trainer's RAM */
            fx_reply_error(r, fx_app_status_code(st), st, st == FX_ERR_BUFFER ? FX_APP_TRAIN_MAX : 0u);
            return;
        }
        A.train_len = len;
    }
    A.stream_mode = mode;
    A.stream_x_bytes = x_bytes;
    A.last_bseq = first - 1u;
    size_t row = (size_t)A.shape.in * x_bytes + 1u;
    size_t batch_max = (FX_APP_RX_FRAME_MAX - FX_BATCH_HEADER) / row;
    fx_put_u16(r->out, A.shape.in);
    fx_put_u16(r->out + 2, A.shape.out);
    fx_put_u16(r->out + 4, (uint16_t)(batch_max > 0xFFFFu ? 0xFFFFu : batch_max));
    r->len = 6;
}

/* Forward every sample; the stream's counters change only if the whole batch went through. */
static fx_status fx_eval_batch(const fx_app_batch *b, uint32_t *correct, int32_t *loss) {
    int16_t *x = fx_app_work_x(), *y = fx_app_work_y();
    size_t scratch_size;
    void *scratch = fx_app_work_scratch(&scratch_size);
    for (uint16_t i = 0; i < b->count; i++) {
        uint32_t cls = 0;
        int32_t l = 0;
        fx_app_sample(b->x, b->in, b->x_bytes, i, x);
        fx_status st = fx_app_runtime_predict(x, y, scratch, scratch_size, &cls);
        if (st != FX_OK) {
            return st;
        }
        *correct += cls == b->labels[i];
        if (fx_app_runtime_loss(y, b->labels[i], &l) == FX_OK) {
            *loss = fx_add_sat32(*loss, l);
        }
    }
    return FX_OK;
}

void fx_cmd_batch(const uint8_t *req, size_t n, fx_reply *r) {
    if (n < FX_BATCH_HEADER) {
        fx_reply_error(r, FX_ST_LENGTH, FX_OK, 0);
        return;
    }
    if (A.stream_mode == FX_STREAM_NONE) {
        fx_reply_error(r, FX_ST_STATE, FX_OK, 0);
        return;
    }
    fx_app_batch b;
    b.bseq = fx_get_u32(req);
    b.count = fx_get_u16(req + 4);
    b.in = A.shape.in;
    b.x_bytes = A.stream_x_bytes;
    if (b.bseq <= A.last_bseq) {
        /* Applied before: acknowledge again, with the current totals, without applying. */
        fx_batch_reply(r);
        r->status = FX_ST_DUPLICATE;
        return;
    }
    if (b.bseq != A.last_bseq + 1u) {
        fx_reply_error(r, FX_ST_BATCH_SEQ, FX_OK, A.last_bseq);
        return;
    }
    uint64_t xlen = (uint64_t)b.count * b.in * b.x_bytes;
    if (b.count == 0 || (uint64_t)n != FX_BATCH_HEADER + xlen + b.count) {
        fx_reply_error(r, FX_ST_SHAPE, FX_OK, b.in);
        return;
    }
    b.x = req + FX_BATCH_HEADER;
    b.labels = b.x + xlen;
    for (uint16_t i = 0; i < b.count; i++) {
        if (b.labels[i] >= A.shape.out) {
            fx_reply_error(r, FX_ST_PARAM, FX_OK, i);
            return;
        }
    }
    uint32_t correct = 0;
    int32_t loss = 0;
    uint32_t start = fx_board_counter();
    fx_status st;
    if (A.stream_mode == FX_STREAM_EVAL) {
        st = fx_eval_batch(&b, &correct, &loss);
    } else {
        st = fx_trainer_step(&b, A.work, sizeof A.work, &correct, &loss);
    }
    A.counter_last = fx_board_counter() - start;
    A.counter_total += A.counter_last;
    if (st != FX_OK) {
        fx_reply_error(r, FX_ST_KERNEL, st, b.bseq);
        return;
    }
    A.last_bseq = b.bseq;
    A.batches++;
    A.samples += b.count;
    A.correct += correct;
    A.loss = fx_add_sat32(A.loss, loss);
    fx_batch_reply(r);
}

void fx_cmd_train_commit(const uint8_t *req, size_t n, fx_reply *r) {
    (void)req;
    if (n != 0) {
        fx_reply_error(r, FX_ST_LENGTH, FX_OK, 0);
        return;
    }
    if (!fx_trainer_available()) {
        fx_reply_error(r, FX_ST_UNSUPPORTED, FX_OK, 0);
        return;
    }
    if (A.stream_mode != FX_STREAM_TRAIN) {
        fx_reply_error(r, FX_ST_STATE, FX_OK, 0);
        return;
    }
    size_t len = A.train_len;
    fx_status st = fx_trainer_finish(&len);
    if (st == FX_OK && len > FX_APP_MODEL_MAX) {
        st = FX_ERR_BUFFER;
    }
    if (st != FX_OK) {
        fx_reply_error(r, fx_app_status_code(st), st, 0);
        return;
    }
    uint8_t spare = fx_app_spare_slot();
    st = fx_app_model_commit(spare, (uint32_t)len, fx_crc32(0, S.slot[spare], len));
    if (st != FX_OK) {
        fx_reply_error(r, FX_ST_MODEL, st, 0);
        return;
    }
    fx_app_stream_reset();
    fx_app_model_info(r->out);
    r->len = FX_MODEL_INFO;
}
