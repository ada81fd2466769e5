/* CRC-32/ISO-HDLC (zlib, Ethernet): reflected polynomial 0xEDB88320, init and xorout
 * 0xFFFFFFFF. A 16-entry table: 64 bytes of flash, fast enough for any UART. */
#ifndef FX_CRC32_H
#define FX_CRC32_H

#include <stdint.h>
#include <stddef.h>

/* CRC of data[0..n); chain pieces by passing the previous result as crc (start with 0). */
uint32_t fx_crc32(uint32_t crc, const uint8_t *data, size_t n);

#endif
