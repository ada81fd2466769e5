/* A mini-batch as it arrives in a BATCH frame (docs/protocol.md): samples stay packed in the
 * receive buffer (int8 or little-endian int16, unaligned) and are unpacked one at a time. */
#ifndef FX_APP_BATCH_H
#define FX_APP_BATCH_H

#include <stdint.h>
#include <stddef.h>

typedef struct {
    uint32_t bseq;          /* batch sequence number */
    uint16_t count;         /* samples */
    uint16_t in;            /* values per sample: the model's input width */
    uint8_t x_bytes;        /* 1: int8, 2: little-endian int16 */
    const uint8_t *x;       /* count * in * x_bytes bytes */
    const uint8_t *labels;  /* count class indices, each < the model's output width */
} fx_app_batch;

/* Sample i of packed rows x (in values of x_bytes each) as int16 (sign-extended). */
void fx_app_sample(const uint8_t *x, uint16_t in, uint8_t x_bytes, uint16_t i, int16_t *out);

#endif
