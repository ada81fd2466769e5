/* Model blob loader (docs/blob.md): every field is validated, with bounds computed in 64 bits,
 * before anything is used; the parsed model points into the blob. */
#include "fx_blob.h"
#include "fx_requant.h"

#define HDR_MAGIC 0u
#define HDR_VERSION 4u
#define HDR_HEADER_SIZE 6u
#define HDR_TOTAL_SIZE 8u
#define HDR_CRC 12u
#define HDR_N_LAYERS 16u
#define HDR_LAYER_SIZE 20u
#define HDR_FLAGS 22u
#define HDR_INPUT_SCALE 24u
#define HDR_OUTPUT_SCALE 32u
#define HDR_LOSS_MULT 40u
#define HDR_LOSS_SHIFT 44u
#define CRC_START 16u

#define LY_FORMAT 0u
#define LY_BITS 1u
#define LY_SCALE_MODE 2u
#define LY_RESERVED 3u
#define LY_IN 4u
#define LY_OUT 8u
#define LY_ACT_MIN 12u
#define LY_ACT_MAX 16u
#define LY_N_ACT_LEVELS 20u
#define LY_SECTIONS 24u     /* 5 x (offset u32, length u32): weights, bias, mult, shift, act levels */
#define N_SECTIONS 5u

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (uint16_t)(p[1] << 8));
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int32_t rds32(const uint8_t *p)
{
    uint32_t u = rd32(p);
    return u <= (uint32_t)INT32_MAX ? (int32_t)u : -(int32_t)~u - 1;
}

/* CRC-32/ISO-HDLC (zlib): reflected polynomial 0xEDB88320, one 16-entry table lookup per
 * nibble. The kernel keeps its own copy: it may not depend on firmware/protocol. */
static uint32_t crc32(const uint8_t *data, size_t n)
{
    static const uint32_t nibble[16] = {
        0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
        0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
        0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu};
    uint32_t crc = 0xFFFFFFFFu;
    size_t i;
    for (i = 0; i < n; i++) {
        crc ^= data[i];
        crc = (crc >> 4) ^ nibble[crc & 15u];
        crc = (crc >> 4) ^ nibble[crc & 15u];
    }
    return ~crc;
}

/* The bit pattern of a little-endian IEEE-754 double is a finite number > 0. */
static int positive_finite_f64(const uint8_t *p)
{
    uint32_t lo = rd32(p), hi = rd32(p + 4);
    if ((hi >> 31) != 0u || ((hi >> 20) & 0x7FFu) == 0x7FFu) return 0;
    return (hi | lo) != 0u;
}

fx_status fx_blob_info_read(const uint8_t *blob, size_t len, fx_blob_info *info)
{
    uint32_t total, n_layers;
    int32_t loss_mult, loss_shift;

    if (blob == NULL || info == NULL) return FX_ERR_NULL;
    if (len < FX_BLOB_HEADER_SIZE) return FX_ERR_CORRUPT;
    if (blob[0] != 'F' || blob[1] != 'X' || blob[2] != 'M' || blob[3] != 'B') return FX_ERR_CORRUPT;
    if (rd16(blob + HDR_VERSION) != FX_BLOB_VERSION) return FX_ERR_VERSION;
    if (rd16(blob + HDR_HEADER_SIZE) != FX_BLOB_HEADER_SIZE || rd16(blob + HDR_LAYER_SIZE) != FX_BLOB_LAYER_SIZE
        || rd16(blob + HDR_FLAGS) != 0u)
        return FX_ERR_CORRUPT;
    total = rd32(blob + HDR_TOTAL_SIZE);
    if (total > len || total % 4u != 0u) return FX_ERR_CORRUPT;
    n_layers = rd32(blob + HDR_N_LAYERS);
    if (n_layers == 0u || FX_BLOB_HEADER_SIZE + (uint64_t)n_layers * FX_BLOB_LAYER_SIZE > total)
        return FX_ERR_CORRUPT;
    if (!positive_finite_f64(blob + HDR_INPUT_SCALE) || !positive_finite_f64(blob + HDR_OUTPUT_SCALE))
        return FX_ERR_CORRUPT;
    loss_mult = rds32(blob + HDR_LOSS_MULT);
    loss_shift = rds32(blob + HDR_LOSS_SHIFT);
    if (fx_requant_check(loss_mult, loss_shift) != FX_OK) return FX_ERR_CORRUPT;
    if (crc32(blob + CRC_START, total - CRC_START) != rd32(blob + HDR_CRC)) return FX_ERR_CORRUPT;

    info->total_size = total;
    info->crc = rd32(blob + HDR_CRC);
    info->n_layers = n_layers;
    info->loss_mult = loss_mult;
    info->loss_shift = loss_shift;
    return FX_OK;
}

/* Advances *pos over the zero padding up to the next multiple of 4 (inside total). */
static int skip_padding(const uint8_t *blob, uint64_t *pos, uint64_t total)
{
    while (*pos % 4u != 0u) {
        if (*pos >= total || blob[*pos] != 0u) return 0;
        *pos += 1u;
    }
    return 1;
}

/* Layer entry k -> layer, sections checked to be exactly where the canonical layout puts them. */
static fx_status parse_layer(const uint8_t *blob, uint64_t total, const uint8_t *entry, uint64_t *pos,
                             fx_mlp_layer *layer)
{
    const int32_t format = entry[LY_FORMAT], bits = entry[LY_BITS];
    const uint32_t in = rd32(entry + LY_IN), out = rd32(entry + LY_OUT);
    const uint32_t n_levels = rd32(entry + LY_N_ACT_LEVELS);
    uint32_t stride, n_scale, s;
    uint64_t size[N_SECTIONS];
    const uint8_t *data[N_SECTIONS];

    if (entry[LY_SCALE_MODE] > 1u || entry[LY_RESERVED] != 0u) return FX_ERR_CORRUPT;
    if (fx_quant_check(format, bits) != FX_OK) return FX_ERR_CORRUPT;
    if (in == 0u || in > FX_MAX_FAN_IN || out == 0u || out > FX_MAX_FAN_OUT) return FX_ERR_CORRUPT;
    (void)fx_quant_row_stride(format, bits, in, &stride);
    n_scale = entry[LY_SCALE_MODE] == 1u ? out : 1u;
    size[0] = (uint64_t)out * stride;
    size[1] = 4u * (uint64_t)out;
    size[2] = 4u * (uint64_t)n_scale;
    size[3] = 4u * (uint64_t)n_scale;
    size[4] = 2u * (uint64_t)n_levels;
    for (s = 0; s < N_SECTIONS; s++) {
        const uint8_t *field = entry + LY_SECTIONS + 8u * s;
        if (!skip_padding(blob, pos, total)) return FX_ERR_CORRUPT;
        if (rd32(field) != *pos || rd32(field + 4) != size[s] || size[s] > total - *pos) return FX_ERR_CORRUPT;
        data[s] = size[s] > 0u ? blob + (size_t)*pos : NULL;
        *pos += size[s];
    }
    layer->dense.format = format;
    layer->dense.bits = bits;
    layer->dense.in = in;
    layer->dense.out = out;
    layer->dense.weights = data[0];
    layer->dense.bias = (const int32_t *)(const void *)data[1];
    layer->dense.mult = (const int32_t *)(const void *)data[2];
    layer->dense.shift = (const int32_t *)(const void *)data[3];
    layer->dense.n_scale = n_scale;
    layer->dense.act_min = rds32(entry + LY_ACT_MIN);
    layer->dense.act_max = rds32(entry + LY_ACT_MAX);
    layer->act_levels = (const int16_t *)(const void *)data[4];
    layer->n_act_levels = n_levels;
    return FX_OK;
}

fx_status fx_blob_parse(const uint8_t *blob, size_t len, fx_mlp_model *model,
                        fx_mlp_layer *layers, size_t max_layers)
{
    const uint16_t one = 1u;
    fx_blob_info info;
    fx_mlp_model parsed;
    uint64_t pos;
    uint32_t k;
    fx_status st;

    if (model == NULL || layers == NULL) return FX_ERR_NULL;
    st = fx_blob_info_read(blob, len, &info);
    if (st != FX_OK) return st;
    if (*(const uint8_t *)&one != 1u) return FX_ERR_STATE;      /* sections are little-endian */
    if (((uintptr_t)blob & 3u) != 0u) return FX_ERR_PARAM;
    if (info.n_layers > max_layers) return FX_ERR_BUFFER;

    pos = FX_BLOB_HEADER_SIZE + (uint64_t)info.n_layers * FX_BLOB_LAYER_SIZE;
    for (k = 0; k < info.n_layers; k++) {
        st = parse_layer(blob, info.total_size, blob + FX_BLOB_HEADER_SIZE + (size_t)k * FX_BLOB_LAYER_SIZE,
                         &pos, &layers[k]);
        if (st != FX_OK) return st;
    }
    if (!skip_padding(blob, &pos, info.total_size) || pos != info.total_size) return FX_ERR_CORRUPT;
    parsed.layers = layers;
    parsed.n_layers = info.n_layers;
    if (fx_mlp_check(&parsed) != FX_OK) return FX_ERR_CORRUPT;
    *model = parsed;
    return FX_OK;
}

fx_status fx_blob_seal(uint8_t *blob, size_t len)
{
    uint32_t crc;
    if (blob == NULL) return FX_ERR_NULL;
    if (len < FX_BLOB_HEADER_SIZE) return FX_ERR_CORRUPT;
    crc = crc32(blob + CRC_START, len - CRC_START);
    blob[HDR_CRC] = (uint8_t)crc;
    blob[HDR_CRC + 1u] = (uint8_t)(crc >> 8);
    blob[HDR_CRC + 2u] = (uint8_t)(crc >> 16);
    blob[HDR_CRC + 3u] = (uint8_t)(crc >> 24);
    return FX_OK;
}
