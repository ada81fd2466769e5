/* fxlearn kernel: the model blob loader (docs/blob.md). A blob is a versioned, CRC-protected,
 * little-endian image of an MLP; parsing validates every field and yields an fx_mlp_model
 * whose arrays point into the blob itself (zero copy: the blob must stay in place). */
#ifndef FX_BLOB_H
#define FX_BLOB_H

#include "fx_config.h"
#include "fx_status.h"
#include "fx_mlp.h"

#define FX_BLOB_VERSION 1u
#define FX_BLOB_HEADER_SIZE 48u
#define FX_BLOB_LAYER_SIZE 64u

/* The header fields the firmware may need (the float scales are host-side only). */
typedef struct {
    uint32_t total_size;   /* bytes of the blob */
    uint32_t crc;          /* CRC-32 (zlib) of bytes [16, total_size) */
    uint32_t n_layers;
    int32_t loss_mult;     /* (output scale * 4096) as a requantization scale, for fx_softmax_xent_s16 */
    int32_t loss_shift;
} fx_blob_info;

/* Validates the header of blob[0..len): size, magic, version, sizes, reserved fields, loss
 * scale, CRC. Errors: NULL -> FX_ERR_NULL, unknown version -> FX_ERR_VERSION, anything else
 * -> FX_ERR_CORRUPT. len may exceed total_size (trailing bytes are ignored). */
fx_status fx_blob_info_read(const uint8_t *blob, size_t len, fx_blob_info *info);

/* fx_blob_info_read, then every layer entry and section, then fx_mlp_check of the result.
 * layers[0..max_layers) receives the layer descriptors, *model points at them. Errors as
 * fx_blob_info_read, plus: more layers than max_layers -> FX_ERR_BUFFER, blob not 4-byte
 * aligned -> FX_ERR_PARAM, big-endian host -> FX_ERR_STATE. Nothing outside blob[0..len) is
 * ever read; on error *model is untouched (layers may hold partial descriptors). */
fx_status fx_blob_parse(const uint8_t *blob, size_t len, fx_mlp_model *model,
                        fx_mlp_layer *layers, size_t max_layers);

/* Rewrite the CRC field of a blob of len bytes whose contents were changed in place (e.g.
 * weights after on-device training). Errors: NULL -> FX_ERR_NULL, len shorter than the
 * header -> FX_ERR_CORRUPT. Touches only the CRC field. */
fx_status fx_blob_seal(uint8_t *blob, size_t len);

#endif
