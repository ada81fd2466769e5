#include "fx_frame.h"

#include "fx_cobs.h"
#include "fx_crc32.h"

static void fx_frame_push(fx_cobs_encoder *e, uint32_t *crc, uint8_t byte) {
    *crc = fx_crc32(*crc, &byte, 1);
    fx_cobs_encoder_push(e, byte);
}

size_t fx_frame_encode(uint8_t type, uint16_t seq, const uint8_t *payload, size_t n,
                       uint8_t *out, size_t cap) {
    uint8_t header[FX_FRAME_HEADER] = {type, (uint8_t)seq, (uint8_t)(seq >> 8)};
    uint8_t tail[FX_FRAME_CRC];
    uint32_t crc = 0;
    fx_cobs_encoder e;
    if (payload == NULL && n > 0) {
        return 0;
    }
    fx_cobs_encoder_init(&e, out, cap);
    for (size_t i = 0; i < FX_FRAME_HEADER; i++) {
        fx_frame_push(&e, &crc, header[i]);
    }
    /* Byte by byte, each read before the encoder writes: this is what makes in-place safe. */
    for (size_t i = 0; i < n; i++) {
        fx_frame_push(&e, &crc, payload[i]);
    }
    fx_put_u32(tail, crc);
    for (size_t i = 0; i < FX_FRAME_CRC; i++) {
        fx_cobs_encoder_push(&e, tail[i]);
    }
    size_t len = fx_cobs_encoder_finish(&e);
    if (len == 0 || len >= cap) {
        return 0;
    }
    out[len] = 0;
    return len + 1;
}

int fx_frame_decode(const uint8_t *wire, size_t n, uint8_t *body, size_t cap, fx_frame *f) {
    size_t len = 0;
    int r = fx_cobs_decode(wire, n, body, cap, &len);
    if (r == -2) {
        return FX_ST_OVERSIZE;
    }
    if (r != 0 || len < FX_FRAME_OVERHEAD) {
        return FX_ST_FRAMING;
    }
    size_t plen = len - FX_FRAME_OVERHEAD;
    if (fx_crc32(0, body, len - FX_FRAME_CRC) != fx_get_u32(body + len - FX_FRAME_CRC)) {
        return FX_ST_CRC;
    }
    f->type = body[0];
    f->seq = fx_get_u16(body + 1);
    f->payload = body + FX_FRAME_HEADER;
    f->len = plen;
    return FX_ST_OK;
}

void fx_deframer_init(fx_deframer *d, uint8_t *buf, size_t cap) {
    d->buf = buf;
    d->cap = cap;
    fx_deframer_reset(d);
}

void fx_deframer_reset(fx_deframer *d) {
    d->len = 0;
    d->dropping = 0;
    d->ready = 0;
}

size_t fx_deframer_pending(const fx_deframer *d) {
    return d->ready ? 0 : d->len;
}

int fx_deframer_push(fx_deframer *d, uint8_t byte) {
    if (d->ready) {
        d->len = 0;
        d->ready = 0;
    }
    if (byte == 0) {
        if (d->dropping) {
            d->dropping = 0;
            d->len = 0;
            return FX_DEFRAME_OVERSIZE;
        }
        if (d->len == 0) {
            return FX_DEFRAME_MORE;
        }
        d->ready = 1;
        return FX_DEFRAME_FRAME;
    }
    if (d->dropping) {
        return FX_DEFRAME_MORE;
    }
    if (d->len >= d->cap) {
        d->dropping = 1;
        return FX_DEFRAME_MORE;
    }
    d->buf[d->len++] = byte;
    return FX_DEFRAME_MORE;
}

int32_t fx_seq_diff(uint16_t seq, uint16_t ref) {
    uint32_t d = (uint32_t)(uint16_t)(seq - ref);
    return d < 0x8000u ? (int32_t)d : (int32_t)d - 0x10000;
}
