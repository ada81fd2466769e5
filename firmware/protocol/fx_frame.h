/* fxlearn frames (docs/protocol.md section 1): COBS(type:u8 seq:u16 payload crc32:u32) 0x00.
 * Encoding, decoding of one frame, the byte-stream deframer and sequence arithmetic. Pure
 * functions over caller-provided buffers: no I/O, no allocation, no board code. */
#ifndef FX_FRAME_H
#define FX_FRAME_H

#include <stdint.h>
#include <stddef.h>

#include "fx_proto.h"

typedef struct {
    uint8_t type;
    uint16_t seq;
    const uint8_t *payload; /* inside the decode buffer */
    size_t len;
} fx_frame;

/* Offset at which a payload of up to pmax bytes may be placed inside the encode output buffer
 * to be encoded in place (see fx_frame_encode). */
#define FX_FRAME_INPLACE_OFFSET(pmax) (FX_FRAME_HEADER + 1u + ((pmax) + FX_FRAME_OVERHEAD) / 254u)

/* Writes the complete wire frame (COBS body and 0x00) to out[0..cap); returns its length, or
 * 0 if cap is too small (FX_FRAME_WIRE_MAX(n) always suffices). payload may be NULL when
 * n == 0, and may lie inside out at offset FX_FRAME_INPLACE_OFFSET(pmax) for any n <= pmax:
 * the frame is then built in place without a second buffer. */
size_t fx_frame_encode(uint8_t type, uint16_t seq, const uint8_t *payload, size_t n,
                       uint8_t *out, size_t cap);

/* Decodes one frame's COBS bytes (without the delimiter) into body[0..cap); body may equal
 * wire. Returns FX_ST_OK and fills f (payload points into body), or FX_ST_FRAMING (invalid
 * COBS, body shorter than the 7-byte overhead), FX_ST_OVERSIZE (body larger than cap) or
 * FX_ST_CRC. Nothing outside body[0..cap) is written, whatever the input. */
int fx_frame_decode(const uint8_t *wire, size_t n, uint8_t *body, size_t cap, fx_frame *f);

/* Splits a byte stream at 0x00 delimiters into COBS frames, in a buffer of cap bytes. */
typedef struct {
    uint8_t *buf;
    size_t cap;
    size_t len;       /* bytes of the current frame so far (or of the frame just completed) */
    uint8_t dropping; /* the current frame overflowed: discard up to the next delimiter */
    uint8_t ready;    /* the previous push completed a frame: start a new one */
} fx_deframer;

enum { FX_DEFRAME_MORE = 0, FX_DEFRAME_FRAME = 1, FX_DEFRAME_OVERSIZE = 2 };

void fx_deframer_init(fx_deframer *d, uint8_t *buf, size_t cap);
/* Feeds one byte. FX_DEFRAME_FRAME: buf[0..len) holds one complete COBS frame, valid until the
 * next push. FX_DEFRAME_OVERSIZE: a frame longer than cap ended and was discarded. Empty
 * frames (consecutive delimiters) are skipped. */
int fx_deframer_push(fx_deframer *d, uint8_t byte);
/* Drops a partial frame (timeouts, reset). */
void fx_deframer_reset(fx_deframer *d);
/* Bytes of an unfinished frame held (0 when idle). */
size_t fx_deframer_pending(const fx_deframer *d);

/* seq - ref as a signed distance in [-2^15, 2^15): < 0 behind, 0 same, > 0 ahead. */
int32_t fx_seq_diff(uint16_t seq, uint16_t ref);

#endif
