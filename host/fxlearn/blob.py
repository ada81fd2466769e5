"""The model blob (docs/blob.md): a versioned, CRC-32-protected, little-endian image of an
``IntModel`` that the kernel's ``fx_blob_parse`` loads in place. ``write_blob`` and
``read_blob`` apply the same validation as the C loader, with ValueError messages that say
which field is wrong."""
from __future__ import annotations

import ctypes as C
import math
import struct
import zlib
from dataclasses import dataclass

import numpy as np

from . import fixed, mlp, native, quant

MAGIC = b"FXMB"
VERSION = 1
HEADER = struct.Struct("<4sHHIIIHHddii")    # 48 bytes
LAYER = struct.Struct("<BBBBIIiiI10I")      # 64 bytes
HEADER_SIZE, LAYER_SIZE = HEADER.size, LAYER.size
CRC_START = 16                              # the CRC covers everything after its own field
SECTIONS = ("weights", "bias", "mult", "shift", "act levels")
LOSS_Q = 4096                               # fx_softmax_xent_s16 wants logit differences in Q12


@dataclass
class BlobInfo:
    total_size: int
    crc: int
    n_layers: int
    input_scale: float
    output_scale: float
    loss_mult: int
    loss_shift: int


def _align4(n: int) -> int:
    return (n + 3) & ~3


def loss_scale(output_scale: float) -> tuple[int, int]:
    """(mult, shift) of output_scale * 4096: the logit scale fx_softmax_xent_s16 takes."""
    return fixed.quantize_multiplier(output_scale * LOSS_Q)


def _sections(layer: mlp.IntLayer) -> list[bytes]:
    levels = np.zeros(0) if layer.act_levels is None else np.asarray(layer.act_levels)
    return [quant.weight_bytes(layer.weight, layer.fmt, layer.bits).tobytes(),
            np.asarray(layer.bias).astype("<i4").tobytes(),
            np.atleast_1d(layer.mult).astype("<i4").tobytes(),
            np.atleast_1d(layer.shift).astype("<i4").tobytes(),
            levels.astype("<i2").tobytes()]


def write_blob(model: mlp.IntModel) -> bytes:
    """The blob of a valid model (model.check() and positive finite scales, else ValueError)."""
    model.check()
    for name in ("input_scale", "output_scale"):
        v = getattr(model, name)
        if not (math.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be finite and > 0, got {v}")
    n = len(model.layers)
    pos = HEADER_SIZE + n * LAYER_SIZE
    entries, chunks = [], []
    for layer in model.layers:
        fields = []
        for data in _sections(layer):
            pos = _align4(pos)
            fields += [pos, len(data)]
            chunks.append((pos, data))
            pos += len(data)
        n_levels = 0 if layer.act_levels is None else len(layer.act_levels)
        per_channel = len(np.atleast_1d(layer.mult)) != 1
        entries.append(LAYER.pack(layer.fmt, layer.bits, int(per_channel), 0, layer.n_in, layer.n_out,
                                  layer.act_min, layer.act_max, n_levels, *fields))
    total = _align4(pos)
    out = bytearray(total)
    out[HEADER_SIZE:HEADER_SIZE + n * LAYER_SIZE] = b"".join(entries)
    for at, data in chunks:
        out[at:at + len(data)] = data
    mult, shift = loss_scale(model.output_scale)
    HEADER.pack_into(out, 0, MAGIC, VERSION, HEADER_SIZE, total, 0, n, LAYER_SIZE, 0,
                     model.input_scale, model.output_scale, mult, shift)
    struct.pack_into("<I", out, 12, zlib.crc32(out[CRC_START:]))
    return bytes(out)


def blob_info(data: bytes) -> BlobInfo:
    """The validated header of a blob (fx_blob_info_read's checks)."""
    data = bytes(data)
    if len(data) < HEADER_SIZE:
        raise ValueError(f"blob of {len(data)} bytes is shorter than its {HEADER_SIZE}-byte header")
    (magic, version, header_size, total, crc, n_layers, layer_size, flags,
     in_scale, out_scale, loss_mult, loss_shift) = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise ValueError(f"bad magic {magic!r}, expected {MAGIC!r}")
    if version != VERSION:
        raise ValueError(f"blob version {version} is not supported (this reader: {VERSION})")
    if (header_size, layer_size, flags) != (HEADER_SIZE, LAYER_SIZE, 0):
        raise ValueError(f"header size {header_size}, layer entry size {layer_size}, flags {flags}: "
                         f"expected {HEADER_SIZE}, {LAYER_SIZE}, 0")
    if total > len(data):
        raise ValueError(f"blob truncated: {len(data)} bytes of {total}")
    if total % 4:
        raise ValueError(f"total size {total} is not a multiple of 4")
    if n_layers == 0 or HEADER_SIZE + n_layers * LAYER_SIZE > total:
        raise ValueError(f"{n_layers} layers do not fit a blob of {total} bytes")
    for name, v in (("input scale", in_scale), ("output scale", out_scale)):
        if not (math.isfinite(v) and v > 0):
            raise ValueError(f"{name} {v} is not finite and > 0")
    try:
        fixed.requant_check(loss_mult, loss_shift)
    except ValueError as e:
        raise ValueError(f"loss scale: {e}") from None
    if zlib.crc32(data[CRC_START:total]) != crc:
        raise ValueError(f"CRC mismatch: stored {crc:#010x}, computed {zlib.crc32(data[CRC_START:total]):#010x}")
    return BlobInfo(total, crc, n_layers, in_scale, out_scale, loss_mult, loss_shift)


def _skip_padding(data: bytes, pos: int, total: int, what: str) -> int:
    end = _align4(pos)
    if end > total or any(data[pos:end]):
        raise ValueError(f"padding before {what} at byte {pos} is not zero bytes inside the blob")
    return end


def read_blob(data: bytes) -> mlp.IntModel:
    """The IntModel of a blob; ValueError naming the first invalid field."""
    data = bytes(data)
    info = blob_info(data)
    total = info.total_size
    pos = HEADER_SIZE + info.n_layers * LAYER_SIZE
    layers = []
    for k in range(info.n_layers):
        (fmt, bits, mode, reserved, n_in, n_out, act_min, act_max, n_levels,
         *fields) = LAYER.unpack_from(data, HEADER_SIZE + k * LAYER_SIZE)
        where = f"layer {k}"
        if mode > 1 or reserved:
            raise ValueError(f"{where}: scale mode {mode} / reserved byte {reserved} invalid")
        try:
            quant.check_format(fmt, bits)
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None
        if not (1 <= n_in <= 65535 and 1 <= n_out <= 65535):
            raise ValueError(f"{where}: shape {n_out}x{n_in} outside 1..65535")
        n_scale = n_out if mode == 1 else 1
        sizes = [n_out * quant.row_stride(fmt, bits, n_in), 4 * n_out, 4 * n_scale, 4 * n_scale, 2 * n_levels]
        sec = []
        for s, name in enumerate(SECTIONS):
            pos = _skip_padding(data, pos, total, f"{where} {name}")
            off, length = fields[2 * s], fields[2 * s + 1]
            if off != pos or length != sizes[s] or sizes[s] > total - pos:
                raise ValueError(f"{where} {name}: offset {off} / length {length}, expected {pos} / {sizes[s]} "
                                 f"inside {total} bytes")
            sec.append(data[pos:pos + length])
            pos += length
        weight = quant.weight_from_bytes(sec[0], fmt, bits, n_out, n_in)
        ints = [np.frombuffer(b, dtype="<i4").astype(np.int64) for b in sec[1:4]]
        levels = np.frombuffer(sec[4], dtype="<i2").astype(np.int64) if n_levels else None
        layers.append(mlp.IntLayer(fmt, bits, weight, *ints, act_min, act_max, levels))
    end = _skip_padding(data, pos, total, "the end")
    if end != total:
        raise ValueError(f"{total - end} bytes after the last section")
    model = mlp.IntModel(layers, input_scale=info.input_scale, output_scale=info.output_scale)
    model.check()
    return model


# ---- the C loader (ctypes) ---------------------------------------------------------------------

class FxBlobInfo(C.Structure):
    """Mirror of fx_blob_info (fx_blob.h)."""
    _fields_ = [("total_size", C.c_uint32), ("crc", C.c_uint32), ("n_layers", C.c_uint32),
                ("loss_mult", C.c_int32), ("loss_shift", C.c_int32)]


native.declare("fx_blob_info_read", C.c_int, [native.u8p, C.c_size_t, C.POINTER(FxBlobInfo)])
native.declare("fx_blob_parse", C.c_int, [native.u8p, C.c_size_t, C.POINTER(mlp.FxMlpModel),
                                          C.POINTER(mlp.FxMlpLayer), C.c_size_t])


class CBlob:
    """A blob parsed by the C loader: ``status``, and when it is 0, ``model`` (an FxMlpModel
    pointing into ``buffer``, a 4-byte aligned copy of exactly the given bytes)."""

    def __init__(self, kernel, data: bytes, max_layers: int = 16):
        self.buffer = np.frombuffer(bytes(data), dtype=np.uint8).copy()   # exact size: ASan sees overreads
        self.layers = (mlp.FxMlpLayer * max(max_layers, 1))()
        self.model = mlp.FxMlpModel()
        self.status = kernel.fx_blob_parse(native.ptr(self.buffer, C.c_uint8), len(self.buffer),
                                           C.byref(self.model), self.layers, max_layers)
