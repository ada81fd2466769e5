/* Firmware application, models: the two-slot store that survives resets where RAM does,
 * chunked uploads committed atomically, READ_MODEL and INFER. */
#include <string.h>

#include "fx_app_batch.h"
#include "fx_app_internal.h"
#include "fx_board.h"
#include "fx_crc32.h"

FX_APP_NOINIT fx_app_store fx_app_store_g;
#define A fx_app_g
#define S fx_app_store_g

void fx_app_sample(const uint8_t *x, uint16_t in, uint8_t x_bytes, uint16_t i, int16_t *out) {
    const uint8_t *p = x + (size_t)i * in * x_bytes;
    for (uint16_t j = 0; j < in; j++) {
        int32_t v;
        if (x_bytes == 1u) {
            v = p[j];
            v -= (v & 0x80) << 1;
        } else {
            v = (int32_t)fx_get_u16(p + 2u * j);
            v -= (v & 0x8000) << 1;
        }
        out[j] = (int16_t)v;
    }
}

int16_t *fx_app_work_x(void) {
    return A.work;
}

int16_t *fx_app_work_y(void) {
    return A.work + A.shape.in;
}

void *fx_app_work_scratch(size_t *size) {
    size_t used = (size_t)A.shape.in + A.shape.out;
    *size = sizeof A.work - used * sizeof(int16_t);
    return A.work + used;
}

static int fx_slot_valid(uint8_t s) {
    return s < 2u && S.len[s] <= FX_APP_MODEL_MAX && fx_crc32(0, S.slot[s], S.len[s]) == S.crc[s];
}

/* Loads slot s into the runtime and checks it fits the inference scratch. */
static fx_status fx_model_load(uint8_t s, uint32_t len, fx_app_model_shape *shape) {
    fx_status st = fx_app_runtime_load(S.slot[s], len, shape);
    if (st == FX_OK &&
        ((size_t)shape->in + shape->out) * sizeof(int16_t) + shape->work > sizeof A.work) {
        st = FX_ERR_BUFFER;
    }
    return st;
}

void fx_app_model_boot(void) {
    if (S.magic != FX_APP_STORE_MAGIC) {
        /* First boot (or RAM that does not survive resets): an empty store. */
        S.magic = FX_APP_STORE_MAGIC;
        S.boot_count = 0;
        S.len[0] = S.len[1] = 0;
        S.crc[0] = S.crc[1] = 0;
        S.active = FX_APP_NO_SLOT;
    }
    S.boot_count++;
    A.model_loaded = 0;
    uint8_t s = S.active;
    if (fx_slot_valid(s) && fx_model_load(s, S.len[s], &A.shape) == FX_OK) {
        A.model_loaded = 1;
    } else {
        S.active = FX_APP_NO_SLOT;
    }
}

uint8_t fx_app_model_present(void) {
    return A.model_loaded;
}

uint32_t fx_app_model_len(void) {
    return A.model_loaded ? S.len[S.active] : 0u;
}

uint32_t fx_app_model_crc(void) {
    return A.model_loaded ? S.crc[S.active] : 0u;
}

uint8_t fx_app_spare_slot(void) {
    return S.active == 0u ? 1u : 0u;
}

fx_status fx_app_model_commit(uint8_t s, uint32_t len, uint32_t crc) {
    fx_app_model_shape shape;
    fx_status st = fx_model_load(s, len, &shape);
    if (st != FX_OK) {
        /* The active slot was not touched: load it again. */
        uint8_t a = S.active;
        A.model_loaded = a < 2u && fx_model_load(a, S.len[a], &A.shape) == FX_OK;
        return st;
    }
    S.len[s] = len;
    S.crc[s] = crc;
    S.active = s; /* the commit point: one byte store */
    A.shape = shape;
    A.model_loaded = 1;
    return FX_OK;
}

void fx_app_model_info(uint8_t *out) {
    fx_put_u32(out, fx_app_model_len());
    fx_put_u32(out + 4, fx_app_model_crc());
    fx_put_u16(out + 8, A.shape.in);
    fx_put_u16(out + 10, A.shape.out);
    out[12] = A.shape.layers;
    fx_put_u32(out + 13, A.shape.work);
}

void fx_cmd_upload_begin(const uint8_t *req, size_t n, fx_reply *r) {
    if (n != 8u) {
        fx_reply_error(r, FX_ST_LENGTH, FX_OK, 8u);
        return;
    }
    uint32_t total = fx_get_u32(req);
    if (total == 0) {
        fx_reply_error(r, FX_ST_PARAM, FX_OK, 0);
        return;
    }
    if (total > FX_APP_MODEL_MAX) {
        fx_reply_error(r, FX_ST_TOO_BIG, FX_OK, FX_APP_MODEL_MAX);
        return;
    }
    if (A.stream_mode == FX_STREAM_TRAIN) {
        fx_app_stream_reset(); /* the training copy lives in the slot we are about to fill */
    }
    A.upload_slot = fx_app_spare_slot();
    A.upload_total = total;
    A.upload_crc = fx_get_u32(req + 4);
    A.upload_received = 0;
    A.upload_state = FX_UPLOAD_RECEIVING;
}

void fx_cmd_upload_chunk(const uint8_t *req, size_t n, fx_reply *r) {
    if (n < 4u) {
        fx_reply_error(r, FX_ST_LENGTH, FX_OK, 0);
        return;
    }
    if (A.upload_state == FX_UPLOAD_NONE) {
        fx_reply_error(r, FX_ST_STATE, FX_OK, 0);
        return;
    }
    uint32_t offset = fx_get_u32(req);
    uint32_t len = (uint32_t)(n - 4u);
    if (offset != A.upload_received) {
        fx_reply_error(r, FX_ST_BOUNDS, FX_OK, A.upload_received);
        return;
    }
    if (len > A.upload_total - offset) {
        fx_reply_error(r, FX_ST_BOUNDS, FX_OK, A.upload_total);
        return;
    }
    memcpy(S.slot[A.upload_slot] + offset, req + 4, len);
    A.upload_received += len;
    if (A.upload_received == A.upload_total) {
        A.upload_state = FX_UPLOAD_COMPLETE;
    }
    fx_put_u32(r->out, A.upload_received);
    r->len = 4;
}

void fx_cmd_upload_commit(const uint8_t *req, size_t n, fx_reply *r) {
    (void)req;
    if (n != 0) {
        fx_reply_error(r, FX_ST_LENGTH, FX_OK, 0);
        return;
    }
    if (A.upload_state != FX_UPLOAD_COMPLETE) {
        fx_reply_error(r, FX_ST_STATE, FX_OK, A.upload_received);
        return;
    }
    /* Whatever happens now, these bytes are used up: a retry starts with UPLOAD_BEGIN. */
    A.upload_state = FX_UPLOAD_NONE;
    uint32_t crc = fx_crc32(0, S.slot[A.upload_slot], A.upload_total);
    if (crc != A.upload_crc) {
        fx_reply_error(r, FX_ST_CHECKSUM, FX_OK, crc);
        return;
    }
    fx_status st = fx_app_model_commit(A.upload_slot, A.upload_total, crc);
    if (st != FX_OK) {
        fx_reply_error(r, st == FX_ERR_BUFFER ? FX_ST_TOO_BIG : FX_ST_MODEL, st,
                       st == FX_ERR_BUFFER ? (uint32_t)sizeof A.work : 0u);
        return;
    }
    fx_app_stream_reset(); /* a stream belongs to the model it started on */
    fx_app_model_info(r->out);
    r->len = FX_MODEL_INFO;
}

void fx_cmd_read_model(const uint8_t *req, size_t n, fx_reply *r) {
    if (n != 7u) {
        fx_reply_error(r, FX_ST_LENGTH, FX_OK, 7u);
        return;
    }
    uint8_t which = req[0];
    uint32_t offset = fx_get_u32(req + 1);
    uint32_t len = fx_get_u16(req + 5);
    const uint8_t *src;
    uint32_t total;
    if (which == FX_MODEL_ACTIVE) {
        if (!A.model_loaded) {
            fx_reply_error(r, FX_ST_NO_MODEL, FX_OK, 0);
            return;
        }
        src = S.slot[S.active];
        total = S.len[S.active];
    } else if (which == FX_MODEL_TRAINING) {
        if (A.stream_mode != FX_STREAM_TRAIN) {
            fx_reply_error(r, FX_ST_STATE, FX_OK, 0);
            return;
        }
        src = S.slot[fx_app_spare_slot()];
        total = A.train_len;
    } else {
        fx_reply_error(r, FX_ST_PARAM, FX_OK, which);
        return;
    }
    if (offset > total) {
        fx_reply_error(r, FX_ST_BOUNDS, FX_OK, total);
        return;
    }
    if (len > r->cap - 4u) {
        fx_reply_error(r, FX_ST_TOO_BIG, FX_OK, (uint32_t)(r->cap - 4u));
        return;
    }
    if (len > total - offset) {
        len = total - offset;
    }
    fx_put_u32(r->out, total);
    memcpy(r->out + 4, src + offset, len);
    r->len = 4u + len;
}

void fx_cmd_infer(const uint8_t *req, size_t n, fx_reply *r) {
    if (!fx_app_runtime_can_infer()) {
        fx_reply_error(r, FX_ST_UNSUPPORTED, FX_OK, 0);
        return;
    }
    if (n < FX_INFER_HEADER) {
        fx_reply_error(r, FX_ST_LENGTH, FX_OK, 0);
        return;
    }
    uint8_t flags = req[0];
    uint16_t count = fx_get_u16(req + 1);
    if (flags & (uint8_t)~(FX_INFER_OUTPUTS | FX_INFER_X16)) {
        fx_reply_error(r, FX_ST_PARAM, FX_OK, flags);
        return;
    }
    if (!A.model_loaded) {
        fx_reply_error(r, FX_ST_NO_MODEL, FX_OK, 0);
        return;
    }
    uint8_t x_bytes = (flags & FX_INFER_X16) ? 2u : 1u;
    uint16_t in = A.shape.in, out = A.shape.out;
    if (out > 256u) {
        fx_reply_error(r, FX_ST_PARAM, FX_OK, out); /* classes travel as u8 */
        return;
    }
    if (count == 0 || (uint64_t)n != FX_INFER_HEADER + (uint64_t)count * in * x_bytes) {
        fx_reply_error(r, FX_ST_SHAPE, FX_OK, in);
        return;
    }
    size_t per = 1u + ((flags & FX_INFER_OUTPUTS) ? 2u * out : 0u);
    if (2u + (size_t)count * per + 4u > r->cap) {
        fx_reply_error(r, FX_ST_TOO_BIG, FX_OK, (uint32_t)((r->cap - 6u) / per));
        return;
    }
    int16_t *x = fx_app_work_x(), *y = fx_app_work_y();
    size_t scratch_size;
    void *scratch = fx_app_work_scratch(&scratch_size);
    uint8_t *classes = r->out + 2;
    uint8_t *outputs = classes + count;
    uint32_t start = fx_board_counter();
    for (uint16_t i = 0; i < count; i++) {
        uint32_t cls = 0;
        fx_app_sample(req + FX_INFER_HEADER, in, x_bytes, i, x);
        fx_status st = fx_app_runtime_predict(x, y, scratch, scratch_size, &cls);
        if (st != FX_OK) {
            fx_reply_error(r, FX_ST_KERNEL, st, i);
            return;
        }
        classes[i] = (uint8_t)cls;
        if (flags & FX_INFER_OUTPUTS) {
            for (uint16_t k = 0; k < out; k++) {
                fx_put_u16(outputs + 2u * ((size_t)i * out + k), (uint16_t)y[k]);
            }
        }
    }
    A.counter_last = fx_board_counter() - start;
    A.counter_total += A.counter_last;
    size_t len = 2u + (size_t)count * per;
    fx_put_u16(r->out, count);
    fx_put_u32(r->out + len, A.counter_last);
    r->len = len + 4u;
}
