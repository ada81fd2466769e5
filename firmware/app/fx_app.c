/* Firmware application, link layer: bytes -> frames -> sessions and sequence numbers ->
 * command handlers -> replies (docs/protocol.md sections 1-2), plus the small commands. */
#include <string.h>

#include "fx_app.h"
#include "fx_app_internal.h"
#include "fx_board.h"
#include "fx_config.h"
#include "fx_crc32.h"
#include "fx_trainer.h"

fx_app_state fx_app_g;
#define A fx_app_g

/* Offset of the reply payload inside A.tx, so that replies are framed in place. */
#define TX_PAYLOAD_AT FX_FRAME_INPLACE_OFFSET(FX_APP_TX_FRAME_MAX)

static void fx_cmd_hello(const uint8_t *req, size_t n, fx_reply *r);
static void fx_cmd_echo(const uint8_t *req, size_t n, fx_reply *r);
static void fx_cmd_link_test(const uint8_t *req, size_t n, fx_reply *r);
static void fx_cmd_stats(const uint8_t *req, size_t n, fx_reply *r);
static void fx_cmd_reset(const uint8_t *req, size_t n, fx_reply *r);

/* Replayable commands have no side effect (or are idempotent by batch sequence) and run
 * again for a duplicate frame; the others never run twice. */
#define REPLAYABLE 1u
static const struct {
    uint8_t cmd;
    uint8_t flags;
    fx_handler run;
} fx_commands[] = {
    {FX_CMD_HELLO, 0, fx_cmd_hello},
    {FX_CMD_ECHO, REPLAYABLE, fx_cmd_echo},
    {FX_CMD_LINK_TEST, 0, fx_cmd_link_test},
    {FX_CMD_STATS, REPLAYABLE, fx_cmd_stats},
    {FX_CMD_RESET, 0, fx_cmd_reset},
    {FX_CMD_UPLOAD_BEGIN, 0, fx_cmd_upload_begin},
    {FX_CMD_UPLOAD_CHUNK, 0, fx_cmd_upload_chunk},
    {FX_CMD_UPLOAD_COMMIT, 0, fx_cmd_upload_commit},
    {FX_CMD_READ_MODEL, REPLAYABLE, fx_cmd_read_model},
    {FX_CMD_INFER, REPLAYABLE, fx_cmd_infer},
    {FX_CMD_STREAM_BEGIN, 0, fx_cmd_stream_begin},
    {FX_CMD_BATCH, REPLAYABLE, fx_cmd_batch},
    {FX_CMD_TRAIN_COMMIT, 0, fx_cmd_train_commit},
};
#define N_COMMANDS (sizeof fx_commands / sizeof fx_commands[0])

static int fx_command_index(uint8_t cmd) {
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (fx_commands[i].cmd == cmd) {
            return (int)i;
        }
    }
    return -1;
}

uint8_t fx_app_status_code(fx_status s) {
    switch (s) {
    case FX_ERR_SHAPE: return FX_ST_SHAPE;
    case FX_ERR_PARAM: return FX_ST_PARAM;
    case FX_ERR_BUFFER: return FX_ST_TOO_BIG;
    case FX_ERR_STATE: return FX_ST_STATE;
    case FX_ERR_CORRUPT:
    case FX_ERR_VERSION:
    case FX_ERR_FORMAT:
    case FX_ERR_BITS: return FX_ST_MODEL;
    default: return FX_ST_KERNEL;
    }
}

/* A short reply that must not disturb the cached one: errors and DUPLICATE. */
static void fx_send_small(uint8_t type, uint16_t seq, uint8_t status, uint32_t info) {
    uint8_t payload[FX_ERROR_PAYLOAD];
    size_t n = 1;
    payload[0] = status;
    if (status != FX_ST_DUPLICATE) {
        payload[1] = 0;
        fx_put_u32(payload + 2, info);
        n = FX_ERROR_PAYLOAD;
    }
    size_t len = fx_frame_encode(type, seq, payload, n, A.small, sizeof A.small);
    fx_board_write(A.small, len);
}

/* A frame with no readable request: the host learns which seq to resend from. Without a
 * session there is nothing to resend: say so instead. */
static void fx_link_error(uint8_t status) {
    if (A.session) {
        fx_send_small(FX_TYPE_LINK_ERROR, A.expected, status, A.expected);
    } else {
        fx_send_small(FX_TYPE_LINK_ERROR, 0, FX_ST_NO_SESSION, fx_app_store_g.boot_count);
    }
}

/* The reply type of a request type: 0x80 | type for request ids, else the link error type,
 * so that no reply can look like a BOOT event (0xFF) or be taken for a request. */
static uint8_t fx_reply_type(uint8_t type) {
    if (type == 0 || type > FX_TYPE_REQUEST_LAST) {
        return FX_TYPE_LINK_ERROR;
    }
    return (uint8_t)(FX_TYPE_REPLY | type);
}

static void fx_execute(int index, uint8_t type, uint16_t seq, const uint8_t *req, size_t n) {
    uint8_t *payload = A.tx + TX_PAYLOAD_AT;
    fx_reply r;
    r.out = payload + 1;
    r.cap = FX_APP_TX_FRAME_MAX - 1u;
    r.len = 0;
    r.status = FX_ST_OK;
    r.kstatus = 0;
    r.info = 0;
    A.after = FX_APP_AFTER_NONE;
    if (index < 0) {
        fx_reply_error(&r, FX_ST_UNKNOWN_CMD, FX_OK, type);
    } else {
        fx_commands[index].run(req, n, &r);
    }
    size_t len = 1u + r.len;
    payload[0] = r.status;
    if (r.status != FX_ST_OK && r.status != FX_ST_DUPLICATE) {
        payload[1] = (uint8_t)r.kstatus;
        fx_put_u32(payload + 2, r.info);
        len = FX_ERROR_PAYLOAD;
    }
    A.cache_len = fx_frame_encode(fx_reply_type(type), seq, payload, len, A.tx,
                                  sizeof A.tx);
    fx_board_write(A.tx, A.cache_len);
    if (A.after == FX_APP_AFTER_RESET) {
        fx_board_reset();
    }
}

static void fx_handle_hello(const fx_frame *f) {
    /* The session's own HELLO again (nothing has run since: a client sends nothing else
     * before HELLO's reply) is answered without starting another session. */
    int duplicate = A.session && f->seq == A.session_seq0 &&
                    A.expected == (uint16_t)(A.session_seq0 + 1u);
    A.hello_ok = 0;
    fx_execute(fx_command_index(FX_CMD_HELLO), f->type, f->seq, f->payload, f->len);
    if (duplicate) {
        A.link.duplicates++;
    } else if (A.hello_ok) {
        A.session = 1;
        A.session_seq0 = f->seq;
        A.expected = (uint16_t)(f->seq + 1u);
    }
    A.cache_valid = 1;
    A.cache_seq = f->seq;
}

static void fx_handle_frame(void) {
    fx_frame f;
    int st = fx_frame_decode(A.rx, A.deframer.len, A.rx, sizeof A.rx, &f);
    if (st != FX_ST_OK) {
        if (st == FX_ST_CRC) {
            A.link.crc_errors++;
        } else if (st == FX_ST_OVERSIZE) {
            A.link.oversize++;
        } else {
            A.link.framing_errors++;
        }
        fx_link_error((uint8_t)st);
        return;
    }
    A.link.frames_ok++;
    if (f.type == FX_CMD_HELLO) {
        fx_handle_hello(&f);
        return;
    }
    uint8_t reply_type = fx_reply_type(f.type);
    if (!A.session) {
        fx_send_small(reply_type, f.seq, FX_ST_NO_SESSION, fx_app_store_g.boot_count);
        return;
    }
    int32_t d = fx_seq_diff(f.seq, A.expected);
    if (d > 0) {
        A.link.seq_gaps++;
        fx_send_small(reply_type, f.seq, FX_ST_SEQUENCE, A.expected);
        return;
    }
    int index = fx_reply_type(f.type) == FX_TYPE_LINK_ERROR ? -1 : fx_command_index(f.type);
    if (d < 0) {
        A.link.duplicates++;
        if (index >= 0 && (fx_commands[index].flags & REPLAYABLE)) {
            fx_execute(index, f.type, f.seq, f.payload, f.len);
            A.cache_valid = 0;
        } else if (A.cache_valid && A.cache_seq == f.seq) {
            fx_board_write(A.tx, A.cache_len);
        } else {
            fx_send_small(reply_type, f.seq, FX_ST_DUPLICATE, 0);
        }
        return;
    }
    A.expected = (uint16_t)(A.expected + 1u);
    A.cache_valid = 1;
    A.cache_seq = f.seq;
    fx_execute(index, f.type, f.seq, f.payload, f.len);
    if (A.after == FX_APP_AFTER_RAW) {
        A.raw_last_ms = fx_board_millis();
        A.raw_seq = f.seq;
    }
}

/* LINK_TEST: echo raw bytes until raw_left reaches 0, or time out. */
static void fx_raw_echo_step(void) {
    if (A.read_pos == A.read_len) {
        A.read_pos = 0;
        A.read_len = fx_board_read(A.read_buf, sizeof A.read_buf);
        if (A.read_len == 0) {
            if ((uint32_t)(fx_board_millis() - A.raw_last_ms) > FX_APP_RX_TIMEOUT_MS) {
                A.raw_left = 0;
                A.link.timeouts++;
                fx_send_small((uint8_t)(FX_TYPE_REPLY | FX_CMD_LINK_TEST), A.raw_seq,
                              FX_ST_TIMEOUT, A.expected);
            } else {
                fx_board_idle();
            }
            return;
        }
        A.raw_last_ms = fx_board_millis();
    }
    size_t n = A.read_len - A.read_pos;
    if (n > A.raw_left) {
        n = A.raw_left;
    }
    fx_board_write(A.read_buf + A.read_pos, n);
    A.read_pos += n;
    A.raw_left -= (uint32_t)n;
}

void fx_app_init(void) {
    memset(&A, 0, sizeof A);
    fx_deframer_init(&A.deframer, A.rx, sizeof A.rx);
    A.last_rx_ms = fx_board_millis();
    fx_app_model_boot();
    fx_app_stream_reset();
    /* BOOT event: boot count, model present, model CRC. */
    uint8_t boot[9];
    fx_put_u32(boot, fx_app_store_g.boot_count);
    boot[4] = fx_app_model_present();
    fx_put_u32(boot + 5, fx_app_model_crc());
    size_t len = fx_frame_encode(FX_TYPE_BOOT, 0, boot, sizeof boot, A.tx, sizeof A.tx);
    fx_board_write(A.tx, len);
}

void fx_app_step(void) {
    if (A.raw_left > 0) {
        fx_raw_echo_step();
        return;
    }
    if (A.read_pos == A.read_len) {
        A.read_pos = 0;
        A.read_len = fx_board_read(A.read_buf, sizeof A.read_buf);
        if (A.read_len == 0) {
            if (fx_deframer_pending(&A.deframer) > 0 &&
                (uint32_t)(fx_board_millis() - A.last_rx_ms) > FX_APP_RX_TIMEOUT_MS) {
                fx_deframer_reset(&A.deframer);
                A.link.timeouts++;
                fx_link_error(FX_ST_TIMEOUT);
                return;
            }
            fx_board_idle();
            return;
        }
        A.last_rx_ms = fx_board_millis();
    }
    while (A.read_pos < A.read_len) {
        int ev = fx_deframer_push(&A.deframer, A.read_buf[A.read_pos++]);
        if (ev == FX_DEFRAME_FRAME) {
            fx_handle_frame();
            return;
        }
        if (ev == FX_DEFRAME_OVERSIZE) {
            A.link.oversize++;
            fx_link_error(FX_ST_OVERSIZE);
            return;
        }
    }
}

/* ---- small commands ---- */

static void fx_cmd_hello(const uint8_t *req, size_t n, fx_reply *r) {
    if (n != FX_HELLO_REQ) {
        fx_reply_error(r, FX_ST_LENGTH, FX_OK, FX_HELLO_REQ);
        return;
    }
    if (req[0] != FX_PROTO_MAJOR) {
        fx_reply_error(r, FX_ST_VERSION, FX_OK, FX_PROTO_MAJOR);
        return;
    }
    const char *name = fx_board_name();
    size_t name_len = strlen(name);
    if (name_len > r->cap - FX_HELLO_REPLY_FIXED) {
        name_len = r->cap - FX_HELLO_REPLY_FIXED;
    }
    if (name_len > 255u) {
        name_len = 255u;
    }
    uint8_t *p = r->out;
    uint16_t features = 0;
    if (fx_app_runtime_can_infer()) {
        features |= FX_FEATURE_INFER | FX_FEATURE_EVAL;
    }
    if (fx_trainer_available()) {
        features |= FX_FEATURE_TRAIN;
    }
    if (FX_APP_KEEPS_MODEL) {
        features |= FX_FEATURE_KEEPS_MODEL;
    }
    p[0] = FX_PROTO_MAJOR;
    p[1] = FX_PROTO_MINOR;
    p[2] = FX_APP_FW_MAJOR;
    p[3] = FX_APP_FW_MINOR;
    p[4] = FX_APP_FW_PATCH;
    p[5] = FX_KERNEL_VERSION_MAJOR;
    p[6] = FX_KERNEL_VERSION_MINOR;
    p[7] = (uint8_t)fx_board_counter_kind();
    fx_put_u16(p + 8, features);
    p[10] = FX_APP_WINDOW;
    p[11] = FX_APP_MAX_LAYERS;
    fx_put_u16(p + 12, FX_APP_RX_FRAME_MAX);
    fx_put_u16(p + 14, FX_APP_TX_FRAME_MAX);
    fx_put_u32(p + 16, FX_APP_MODEL_MAX);
    fx_put_u32(p + 20, FX_APP_WORK_MAX);
    fx_put_u32(p + 24, fx_app_store_g.boot_count);
    fx_put_u32(p + 28, FX_MAX_FAN_IN);
    p[32] = (uint8_t)name_len;
    memcpy(p + FX_HELLO_REPLY_FIXED, name, name_len);
    r->len = FX_HELLO_REPLY_FIXED + name_len;
    A.hello_ok = 1;
}

static void fx_cmd_echo(const uint8_t *req, size_t n, fx_reply *r) {
    if (n > r->cap) {
        fx_reply_error(r, FX_ST_TOO_BIG, FX_OK, (uint32_t)r->cap);
        return;
    }
    memcpy(r->out, req, n);
    r->len = n;
}

static void fx_cmd_link_test(const uint8_t *req, size_t n, fx_reply *r) {
    if (n != 4u) {
        fx_reply_error(r, FX_ST_LENGTH, FX_OK, 4u);
        return;
    }
    A.raw_left = fx_get_u32(req);
    A.after = FX_APP_AFTER_RAW;
}

static void fx_cmd_reset(const uint8_t *req, size_t n, fx_reply *r) {
    (void)req;
    if (n != 0) {
        fx_reply_error(r, FX_ST_LENGTH, FX_OK, 0);
        return;
    }
    A.after = FX_APP_AFTER_RESET;
}

static uint8_t *put32(uint8_t *p, uint32_t v) {
    fx_put_u32(p, v);
    return p + 4;
}

static void fx_cmd_stats(const uint8_t *req, size_t n, fx_reply *r) {
    (void)req;
    if (n != 0) {
        fx_reply_error(r, FX_ST_LENGTH, FX_OK, 0);
        return;
    }
    fx_trainer_stats t;
    fx_trainer_get_stats(&t);
    uint8_t *p = r->out;
    p[0] = fx_app_model_present();
    p[1] = A.upload_state;
    p[2] = A.stream_mode;
    p[3] = (uint8_t)fx_board_counter_kind();
    p = put32(p + 4, fx_app_model_len());
    p = put32(p, fx_app_model_crc());
    p = put32(p, A.upload_received);
    p = put32(p, A.last_bseq);
    p = put32(p, A.batches);
    p = put32(p, A.samples);
    p = put32(p, A.correct);
    p = put32(p, (uint32_t)A.loss);
    p = put32(p, t.steps);
    p = put32(p, t.accepted);
    p = put32(p, t.idle);
    p = put32(p, t.compensations);
    p = put32(p, (uint32_t)t.loss);
    p = put32(p, A.counter_last);
    p = put32(p, A.counter_total);
    p = put32(p, A.link.frames_ok);
    p = put32(p, A.link.crc_errors);
    p = put32(p, A.link.framing_errors);
    p = put32(p, A.link.oversize);
    p = put32(p, A.link.seq_gaps);
    p = put32(p, A.link.duplicates);
    p = put32(p, A.link.timeouts);
    p = put32(p, (uint32_t)(sizeof fx_app_g + sizeof fx_app_store_g + fx_app_runtime_ram()));
    p = put32(p, (uint32_t)sizeof fx_app_store_g.slot);
    p = put32(p, (uint32_t)sizeof A.work);
    p = put32(p, t.work_bytes);
    p = put32(p, fx_board_millis());
    p = put32(p, fx_app_store_g.boot_count);
    fx_put_u16(p, fx_app_model_present() ? A.shape.in : 0u);
    fx_put_u16(p + 2, fx_app_model_present() ? A.shape.out : 0u);
    r->len = (size_t)(p + 4 - r->out);
}
