/* libFuzzer target: the frame layer (fx_cobs, fx_crc32, fx_frame). Input byte 0 picks the
 * decode buffer's size; the rest is fed (a) to fx_frame_decode as one frame, into an exactly
 * sized heap buffer so ASan sees any write past it, (b) byte by byte to the deframer, every
 * completed frame decoded in place as the app does, and (c) re-encoded as a payload and
 * decoded back, which must give the same frame. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_cobs.h"
#include "fx_frame.h"

/* An invariant failed: say which, then crash so libFuzzer keeps the input. */
#define check(ok) ((ok) ? (void)0 : fail(__LINE__, #ok))
static void fail(int line, const char *what) {
    fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, line, what);
    abort();
}

static void decode_one(const uint8_t *wire, size_t n, size_t cap) {
    uint8_t *body = malloc(cap ? cap : 1);
    fx_frame f;
    int st = fx_frame_decode(wire, n, body, cap, &f);
    check(st == FX_ST_OK || st == FX_ST_FRAMING || st == FX_ST_OVERSIZE || st == FX_ST_CRC);
    if (st == FX_ST_OK) {
        check(f.payload == body + FX_FRAME_HEADER);
        check(f.len + FX_FRAME_OVERHEAD <= cap);
    }
    free(body);
}

static void deframe(const uint8_t *data, size_t n, size_t cap) {
    uint8_t *buf = malloc(cap ? cap : 1);
    fx_deframer d;
    fx_deframer_init(&d, buf, cap);
    for (size_t i = 0; i < n; i++) {
        int ev = fx_deframer_push(&d, data[i]);
        check(ev == FX_DEFRAME_MORE || ev == FX_DEFRAME_FRAME || ev == FX_DEFRAME_OVERSIZE);
        check(d.len <= cap);
        if (ev == FX_DEFRAME_FRAME) {
            fx_frame f;
            check(d.len > 0);
            (void)fx_frame_decode(buf, d.len, buf, cap, &f);
        }
    }
    (void)fx_deframer_pending(&d);
    free(buf);
}

static void roundtrip(const uint8_t *payload, size_t n, uint8_t type, uint16_t seq) {
    size_t cap = FX_FRAME_WIRE_MAX(n);
    uint8_t *wire = malloc(cap);
    size_t len = fx_frame_encode(type, seq, payload, n, wire, cap);
    check(len > 0 && len <= cap && wire[len - 1] == 0);
    for (size_t i = 0; i + 1 < len; i++) {
        check(wire[i] != 0);
    }
    /* A buffer one byte short of the frame must be refused, never overrun. */
    check(fx_frame_encode(type, seq, payload, n, wire, len - 1) == 0);
    size_t body_cap = n + FX_FRAME_OVERHEAD;
    uint8_t *body = malloc(body_cap);
    fx_frame f;
    check(fx_frame_decode(wire, len - 1, body, body_cap, &f) == FX_ST_OK);
    check(f.type == type && f.seq == seq && f.len == n && memcmp(f.payload, payload, n) == 0);
    if (body_cap > FX_FRAME_OVERHEAD) {
        check(fx_frame_decode(wire, len - 1, body, body_cap - 1, &f) == FX_ST_OVERSIZE);
    }
    /* COBS alone, whole-buffer and in place. */
    uint8_t *enc = malloc(FX_COBS_MAX(n));
    size_t elen = fx_cobs_encode(payload, n, enc, FX_COBS_MAX(n));
    check(elen > 0 && elen <= FX_COBS_MAX(n));
    size_t dlen = 0;
    check(fx_cobs_decode(enc, elen, enc, elen, &dlen) == 0 && dlen == n);
    check(memcmp(enc, payload, n) == 0);
    free(enc);
    free(body);
    free(wire);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) {
        return 0;
    }
    size_t cap = data[0] < 8u ? data[0] : (size_t)data[0] * 8u;
    const uint8_t *rest = data + 1;
    size_t n = size - 1;
    /* The frame decoder never sees a 0x00 from the deframer, but must cope with one. */
    decode_one(rest, n, cap);
    deframe(rest, n, cap);
    if (n >= 3) {
        roundtrip(rest + 3, n - 3, rest[0], (uint16_t)(rest[1] | rest[2] << 8));
    }
    return 0;
}
