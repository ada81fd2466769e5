/* libFuzzer target: the firmware app end to end (deframer, sessions, sequence numbers, every
 * command handler, upload, the model store, streams) on the memory board, no pty.
 *
 * Frames need valid CRCs to get past the link layer, so the input is a script the harness
 * turns into wire bytes:
 *   byte 0: bit 0 = boot with the reference model already committed (fuzz_ref_blob.h)
 *   then records, kind = byte & 3:
 *     0 frame:  type:u8 seq_delta:i8 len:u16 payload  (seq = next + delta; next = seq + 1)
 *     1 raw:    len:u8 bytes                           (fed as they are: garbage, partial frames)
 *     2 upload: len:u16 blob                           (blob CRC patched, then UPLOAD_BEGIN with
 *                                                       its CRC, chunks, UPLOAD_COMMIT)
 *     3 idle:   steps:u8                               (time passes: timeouts)
 * Invariants checked: every byte the device sends parses as intact frames whose replies are
 * well formed (status then data, or exactly an error payload) within the advertised size. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_crc32.h"
#include "fx_frame.h"
#include "fx_mem_app.h"
#include "fuzz_ref_blob.h"

#define STEPS_PER_BYTE 4
#define WIRE_CAP 8192u

static uint8_t wire[WIRE_CAP];
static uint8_t sent[1u << 16];
static uint8_t body[1u << 16];
static uint16_t next_seq;

/* An invariant failed: say which, then crash so libFuzzer keeps the input. */
#define check(ok) ((ok) ? (void)0 : fail(__LINE__, #ok))
static void fail(int line, const char *what) {
    fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, line, what);
    abort();
}

/* Everything the device wrote must be intact frames of a sane shape. */
static void check_output(void) {
    size_t n = fx_mem_app_take(sent, sizeof sent);
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (sent[i] != 0) {
            continue;
        }
        check(i > start); /* the device never sends empty frames */
        fx_frame f;
        check(fx_frame_decode(sent + start, i - start, body, sizeof body, &f) == FX_ST_OK);
        check(f.len <= fx_mem_app_tx_max());
        if (f.type != FX_TYPE_BOOT) {
            check(f.type & FX_TYPE_REPLY);
            check(f.len >= 1);
            uint8_t st = f.payload[0];
            if (st != FX_ST_OK && st != FX_ST_DUPLICATE) {
                check(f.len == FX_ERROR_PAYLOAD);
            }
        } else {
            check(f.len == 9);
        }
        start = i + 1;
    }
    check(start == n); /* no partial frame left behind */
}

static void feed(const uint8_t *data, size_t n) {
    check(fx_mem_app_feed(data, n, (long)(n * STEPS_PER_BYTE) + 256) >= 0);
    check_output();
}

static void send_frame(uint8_t type, uint16_t seq, const uint8_t *payload, size_t n) {
    size_t len = fx_frame_encode(type, seq, payload, n, wire, sizeof wire);
    if (len > 0) {
        feed(wire, len);
    }
}

static void upload(const uint8_t *blob, size_t n) {
    static uint8_t fixed[4096 + 4];
    if (n > 4096u) {
        n = 4096u;
    }
    memcpy(fixed + 4, blob, n);
    uint8_t *b = fixed + 4;
    if (n >= 48u) {
        uint32_t total = fx_get_u32(b + 8);
        if (total >= 16u && total <= n) {
            fx_put_u32(b + 12, fx_crc32(0, b + 16, total - 16u));
        }
    }
    uint8_t begin[8];
    fx_put_u32(begin, (uint32_t)n);
    fx_put_u32(begin + 4, fx_crc32(0, b, n));
    send_frame(FX_CMD_UPLOAD_BEGIN, next_seq++, begin, sizeof begin);
    size_t chunk = fx_mem_app_rx_max() - 4u;
    for (size_t off = 0; off < n; off += chunk) {
        size_t len = n - off < chunk ? n - off : chunk;
        /* The offset goes just before the data: build the payload in place. */
        uint8_t save[4];
        memcpy(save, b + off - 4, 4);
        fx_put_u32(b + off - 4, (uint32_t)off);
        send_frame(FX_CMD_UPLOAD_CHUNK, next_seq++, b + off - 4, len + 4u);
        memcpy(b + off - 4, save, 4);
    }
    send_frame(FX_CMD_UPLOAD_COMMIT, next_seq++, NULL, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) {
        return 0;
    }
    int preload = data[0] & 1u;
    check(fx_mem_app_start(fuzz_ref_blob, preload ? sizeof fuzz_ref_blob : 0) == preload);
    check_output();
    next_seq = 0;
    size_t i = 1;
    while (i < size) {
        uint8_t kind = data[i++] & 3u;
        if (kind == 0) {
            if (size - i < 4) {
                break;
            }
            uint8_t type = data[i];
            uint16_t seq = (uint16_t)(next_seq + (int8_t)data[i + 1]);
            size_t len = (size_t)fx_get_u16(data + i + 2);
            i += 4;
            if (len > size - i) {
                len = size - i;
            }
            send_frame(type, seq, data + i, len);
            next_seq = (uint16_t)(seq + 1u);
            i += len;
        } else if (kind == 1) {
            if (size - i < 1) {
                break;
            }
            size_t len = data[i++];
            if (len > size - i) {
                len = size - i;
            }
            feed(data + i, len);
            i += len;
        } else if (kind == 2) {
            if (size - i < 2) {
                break;
            }
            size_t len = (size_t)fx_get_u16(data + i);
            i += 2;
            if (len > size - i) {
                len = size - i;
            }
            upload(data + i, len);
            i += len;
        } else {
            if (size - i < 1) {
                break;
            }
            fx_mem_app_idle((long)data[i++] * 4);
            check_output();
        }
    }
    return 0;
}
