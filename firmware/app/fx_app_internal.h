/* Shared state and helpers of the firmware application's modules (not a public interface):
 * fx_app.c (link layer, sessions, dispatch, HELLO/ECHO/STATS/RESET/LINK_TEST),
 * fx_app_model.c (model store, upload, READ_MODEL, INFER), fx_app_stream.c (EVAL and TRAIN
 * streams, BATCH, TRAIN_COMMIT). All state is static; fx_app_init() rebuilds it, except the
 * model store, which survives a reset where the port keeps RAM (FX_APP_NOINIT). */
#ifndef FX_APP_INTERNAL_H
#define FX_APP_INTERNAL_H

#include <stdint.h>
#include <stddef.h>

#include "fx_app_config.h"
#include "fx_app_runtime.h"
#include "fx_frame.h"
#include "fx_status.h"

/* What a command handler fills in: reply data (after the status byte) or an error. */
typedef struct {
    uint8_t *out;     /* reply data */
    size_t cap;       /* bytes available at out */
    size_t len;       /* bytes written */
    uint8_t status;   /* FX_ST_OK, FX_ST_DUPLICATE or an error */
    int8_t kstatus;
    uint32_t info;
} fx_reply;

typedef void (*fx_handler)(const uint8_t *req, size_t n, fx_reply *r);

/* The two-slot model store. Committing writes the new slot's length and CRC, then `active` in
 * one byte store, so a reset at any instant leaves one complete model active. */
#define FX_APP_STORE_MAGIC 0x4D584631u /* "1FXM" */
#define FX_APP_NO_SLOT 0xFFu
typedef struct {
    uint32_t magic;
    uint32_t boot_count;
    uint32_t len[2];
    uint32_t crc[2];
    volatile uint8_t active;                /* slot of the committed model or FX_APP_NO_SLOT */
    uint8_t slot[2][FX_APP_MODEL_MAX] __attribute__((aligned(8)));
} fx_app_store;

typedef struct {
    uint32_t frames_ok, crc_errors, framing_errors, oversize, seq_gaps, duplicates, timeouts;
} fx_app_link_stats;

typedef struct {
    /* link */
    uint8_t read_buf[FX_APP_READ_CHUNK];
    size_t read_len, read_pos;
    uint8_t rx[FX_FRAME_WIRE_MAX(FX_APP_RX_FRAME_MAX)];
    fx_deframer deframer;
    uint8_t tx[FX_FRAME_WIRE_MAX(FX_APP_TX_FRAME_MAX)];
    uint8_t small[FX_FRAME_WIRE_MAX(FX_ERROR_PAYLOAD)];
    size_t cache_len;          /* tx holds the reply to cache_seq when cache_valid */
    uint16_t cache_seq;
    uint8_t cache_valid;
    uint32_t last_rx_ms;
    uint8_t session, hello_ok;
    uint16_t session_seq0, expected;
    uint8_t after;             /* action once the reply is out: FX_APP_AFTER_* */
    uint32_t raw_left, raw_last_ms;
    uint16_t raw_seq;
    fx_app_link_stats link;
    /* model */
    uint8_t model_loaded;
    fx_app_model_shape shape;
    uint8_t upload_state, upload_slot;
    uint32_t upload_total, upload_crc, upload_received;
    /* stream */
    uint8_t stream_mode, stream_x_bytes, train_slot_ready;
    uint32_t last_bseq, batches, samples, correct, train_len;
    int32_t loss;
    uint32_t counter_last, counter_total;
    /* inference scratch: input vector, output vector, fx_mlp workspace (8-aligned: lent to
     * the trainer, whose state holds int64) */
    int16_t work[FX_APP_WORK_MAX / 2] __attribute__((aligned(8)));
} fx_app_state;

enum { FX_APP_AFTER_NONE = 0, FX_APP_AFTER_RESET = 1, FX_APP_AFTER_RAW = 2 };

extern fx_app_state fx_app_g;
extern fx_app_store fx_app_store_g;

static inline void fx_reply_error(fx_reply *r, uint8_t status, fx_status k, uint32_t info) {
    r->status = status;
    r->kstatus = (int8_t)k;
    r->info = info;
    r->len = 0;
}

/* Maps a kernel status to the reply code that says what was wrong. */
uint8_t fx_app_status_code(fx_status s);

/* fx_app_model.c */
void fx_app_model_boot(void);
uint8_t fx_app_model_present(void);
uint32_t fx_app_model_len(void);
uint32_t fx_app_model_crc(void);
/* The slot that is not active: upload target and training copy. */
uint8_t fx_app_spare_slot(void);
/* Makes slot s (len bytes, crc) the active model after loading it; on failure reloads the
 * previous one and returns the loader's status. */
fx_status fx_app_model_commit(uint8_t s, uint32_t len, uint32_t crc);
void fx_app_model_info(uint8_t *out); /* FX_MODEL_INFO bytes */
/* Scratch layout: x[in] at work, y[out] after it, the forward workspace after that. */
int16_t *fx_app_work_x(void);
int16_t *fx_app_work_y(void);
void *fx_app_work_scratch(size_t *size);
void fx_cmd_upload_begin(const uint8_t *req, size_t n, fx_reply *r);
void fx_cmd_upload_chunk(const uint8_t *req, size_t n, fx_reply *r);
void fx_cmd_upload_commit(const uint8_t *req, size_t n, fx_reply *r);
void fx_cmd_read_model(const uint8_t *req, size_t n, fx_reply *r);
void fx_cmd_infer(const uint8_t *req, size_t n, fx_reply *r);

/* fx_app_stream.c */
void fx_app_stream_reset(void);
void fx_cmd_stream_begin(const uint8_t *req, size_t n, fx_reply *r);
void fx_cmd_batch(const uint8_t *req, size_t n, fx_reply *r);
void fx_cmd_train_commit(const uint8_t *req, size_t n, fx_reply *r);

#endif
