/* COBS (Consistent Overhead Byte Stuffing, Cheshire & Baker 1999): removes every 0x00 from a
 * buffer so that 0x00 can delimit frames. Canonical form (as the Python `cobs` package): a
 * block of 254 non-zero bytes is closed without a trailing empty block at the end of input.
 * Encoded size <= n + n / 254 + 1. Pure functions over byte buffers. */
#ifndef FX_COBS_H
#define FX_COBS_H

#include <stdint.h>
#include <stddef.h>

#define FX_COBS_MAX(n) ((n) + (n) / 254u + 1u)

/* Incremental encoder: push bytes one by one, then finish. It writes into out[0..cap) and may
 * run in place behind its input: a byte pushed from out + k is read before anything at or
 * after out + k is written as long as k >= (bytes pushed before it) + 1 + n / 254. */
typedef struct {
    uint8_t *out;
    size_t cap;
    size_t len;       /* bytes written or reserved so far */
    size_t code_at;   /* where the current block's code byte goes */
    uint8_t code;     /* 1 + data bytes in the current block */
    uint8_t overflow; /* cap was too small: the result is invalid */
} fx_cobs_encoder;

void fx_cobs_encoder_init(fx_cobs_encoder *e, uint8_t *out, size_t cap);
void fx_cobs_encoder_push(fx_cobs_encoder *e, uint8_t byte);
/* Closes the last block; returns the encoded length (no delimiter), 0 on overflow. */
size_t fx_cobs_encoder_finish(fx_cobs_encoder *e);

/* Whole-buffer encode: bytes written to out (no delimiter), 0 if cap is too small. */
size_t fx_cobs_encode(const uint8_t *in, size_t n, uint8_t *out, size_t cap);

/* Decode n encoded bytes (no delimiter) into out[0..cap); out may equal in (decoding never
 * writes ahead of its reading position). Returns 0 and sets *out_n, or -1 for invalid input
 * (a 0x00 byte, a block running past the end) and -2 when the result exceeds cap. */
int fx_cobs_decode(const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *out_n);

#endif
