/* fxlearn kernel: status codes shared by every fallible routine. */
#ifndef FX_STATUS_H
#define FX_STATUS_H

typedef enum {
    FX_OK = 0,
    FX_ERR_NULL = -1,      /* a required pointer is NULL */
    FX_ERR_SHAPE = -2,     /* zero-sized or too large dimension, or shapes that do not chain */
    FX_ERR_BITS = -3,      /* bit width not supported by the format */
    FX_ERR_FORMAT = -4,    /* unknown weight / layer format */
    FX_ERR_PARAM = -5,     /* a parameter outside its documented range */
    FX_ERR_BUFFER = -6,    /* caller-provided buffer too small */
    FX_ERR_CORRUPT = -7,   /* a serialized object failed validation (magic, CRC, field) */
    FX_ERR_VERSION = -8,   /* a serialized object of an unsupported version */
    FX_ERR_STATE = -9      /* call not valid in the current state */
} fx_status;

#endif
