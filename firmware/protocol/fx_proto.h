/* fxlearn serial protocol: constants shared by the firmware and (mirrored) the host.
 * The specification is docs/protocol.md; host/fxlearn/protocol.py mirrors these values and
 * tests/test_protocol.py checks that the two agree. */
#ifndef FX_PROTO_H
#define FX_PROTO_H

#include <stdint.h>
#include <stddef.h>

#define FX_PROTO_MAJOR 1
#define FX_PROTO_MINOR 0

/* Body: type:u8 seq:u16 payload crc:u32. */
#define FX_FRAME_HEADER 3u
#define FX_FRAME_CRC 4u
#define FX_FRAME_OVERHEAD (FX_FRAME_HEADER + FX_FRAME_CRC)
/* Largest COBS-encoded frame (with its 0x00 delimiter) for a payload of p bytes. */
#define FX_FRAME_WIRE_MAX(p) ((p) + FX_FRAME_OVERHEAD + ((p) + FX_FRAME_OVERHEAD) / 254u + 2u)

/* Frame types: requests 0x01..0x7F, the reply to c is 0x80 | c. */
#define FX_TYPE_REPLY 0x80u
#define FX_TYPE_LINK_ERROR 0x80u  /* reply to no readable request */
#define FX_TYPE_BOOT 0xFFu        /* unsolicited: the device has (re)started */
/* Highest request id: 0x7F is reserved, its reply type would be BOOT's. A frame of any other
 * type (0x00, 0x7F, 0x80..0xFF) is answered UNKNOWN_CMD with type FX_TYPE_LINK_ERROR. */
#define FX_TYPE_REQUEST_LAST 0x7Eu

enum {
    FX_CMD_HELLO = 0x01,
    FX_CMD_ECHO = 0x02,
    FX_CMD_LINK_TEST = 0x03,
    FX_CMD_STATS = 0x04,
    FX_CMD_RESET = 0x05,
    FX_CMD_UPLOAD_BEGIN = 0x10,
    FX_CMD_UPLOAD_CHUNK = 0x11,
    FX_CMD_UPLOAD_COMMIT = 0x12,
    FX_CMD_READ_MODEL = 0x13,
    FX_CMD_INFER = 0x20,
    FX_CMD_STREAM_BEGIN = 0x30,
    FX_CMD_BATCH = 0x31,
    FX_CMD_TRAIN_COMMIT = 0x32
};

/* Reply status codes (first payload byte of every reply). */
enum {
    FX_ST_OK = 0x00,
    FX_ST_DUPLICATE = 0x01,
    FX_ST_CRC = 0x10,
    FX_ST_FRAMING = 0x11,
    FX_ST_OVERSIZE = 0x12,
    FX_ST_SEQUENCE = 0x13,
    FX_ST_NO_SESSION = 0x14,
    FX_ST_TIMEOUT = 0x15,
    FX_ST_UNKNOWN_CMD = 0x20,
    FX_ST_LENGTH = 0x21,
    FX_ST_VERSION = 0x22,
    FX_ST_SHAPE = 0x23,
    FX_ST_PARAM = 0x24,
    FX_ST_STATE = 0x25,
    FX_ST_NO_MODEL = 0x26,
    FX_ST_TOO_BIG = 0x27,
    FX_ST_BOUNDS = 0x28,
    FX_ST_CHECKSUM = 0x29,
    FX_ST_MODEL = 0x2A,
    FX_ST_BATCH_SEQ = 0x2B,
    FX_ST_UNSUPPORTED = 0x2C,
    FX_ST_KERNEL = 0x2D
};
/* An error reply's payload: status:u8 kstatus:i8 info:u32. */
#define FX_ERROR_PAYLOAD 6u

/* HELLO features. */
#define FX_FEATURE_INFER 0x0001u
#define FX_FEATURE_EVAL 0x0002u
#define FX_FEATURE_TRAIN 0x0004u
#define FX_FEATURE_KEEPS_MODEL 0x0008u

/* INFER flags. */
#define FX_INFER_OUTPUTS 0x01u
#define FX_INFER_X16 0x02u

/* STREAM_BEGIN modes; READ_MODEL selectors; STATS upload states. */
enum { FX_STREAM_NONE = 0, FX_STREAM_EVAL = 1, FX_STREAM_TRAIN = 2 };
enum { FX_MODEL_ACTIVE = 0, FX_MODEL_TRAINING = 1 };
enum { FX_UPLOAD_NONE = 0, FX_UPLOAD_RECEIVING = 1, FX_UPLOAD_COMPLETE = 2 };

/* Fixed payload sizes. */
#define FX_HELLO_REQ 2u
#define FX_HELLO_REPLY_FIXED 33u    /* + name */
#define FX_STATS_REPLY 120u
#define FX_MODEL_INFO 17u
#define FX_BATCH_HEADER 6u          /* bseq:u32 count:u16 */
#define FX_BATCH_REPLY 16u
#define FX_INFER_HEADER 3u          /* flags:u8 count:u16 */
#define FX_STREAM_BEGIN_FIXED 6u    /* mode:u8 x_bytes:u8 first:u32 */

/* Little-endian field access (payloads are unaligned). */
static inline uint16_t fx_get_u16(const uint8_t *p) {
    return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t fx_get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline void fx_put_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void fx_put_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

#endif
