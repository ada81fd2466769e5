#include "fx_cobs.h"

void fx_cobs_encoder_init(fx_cobs_encoder *e, uint8_t *out, size_t cap) {
    e->out = out;
    e->cap = cap;
    e->len = 1; /* room for the first code byte */
    e->code_at = 0;
    e->code = 1;
    e->overflow = cap < 1u;
}

static void fx_cobs_close_block(fx_cobs_encoder *e) {
    if (!e->overflow) {
        e->out[e->code_at] = e->code;
    }
    e->code_at = e->len++;
    e->code = 1;
    if (e->len > e->cap) {
        e->overflow = 1;
    }
}

void fx_cobs_encoder_push(fx_cobs_encoder *e, uint8_t byte) {
    /* A full block is closed lazily, when more data follows: the canonical encoding of
     * exactly 254 non-zero bytes is 0xFF + data, with no empty block after it. */
    if (e->code == 0xFFu) {
        fx_cobs_close_block(e);
    }
    if (byte == 0) {
        fx_cobs_close_block(e);
        return;
    }
    if (e->len >= e->cap) {
        e->overflow = 1;
    }
    if (!e->overflow) {
        e->out[e->len] = byte;
    }
    e->len++;
    e->code++;
}

size_t fx_cobs_encoder_finish(fx_cobs_encoder *e) {
    if (e->overflow) {
        return 0;
    }
    e->out[e->code_at] = e->code;
    return e->len;
}

size_t fx_cobs_encode(const uint8_t *in, size_t n, uint8_t *out, size_t cap) {
    fx_cobs_encoder e;
    fx_cobs_encoder_init(&e, out, cap);
    for (size_t i = 0; i < n; i++) {
        fx_cobs_encoder_push(&e, in[i]);
    }
    return fx_cobs_encoder_finish(&e);
}

int fx_cobs_decode(const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *out_n) {
    size_t i = 0, j = 0;
    while (i < n) {
        uint8_t code = in[i++];
        if (code == 0) {
            return -1;
        }
        for (uint8_t k = 1; k < code; k++) {
            if (i >= n || in[i] == 0) {
                return -1;
            }
            if (j >= cap) {
                return -2;
            }
            out[j++] = in[i++];
        }
        /* Every block but a full one and the last is followed by an implied zero. */
        if (code != 0xFFu && i < n) {
            if (j >= cap) {
                return -2;
            }
            out[j++] = 0;
        }
    }
    *out_n = j;
    return 0;
}
