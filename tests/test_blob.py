"""Model blob (docs/blob.md): round trips bit-exact through the C loader and kernel, the
byte layout, every field corrupted in turn, every byte flipped, truncation at every offset,
random mutations on which the C and Python loaders must agree; the exported C header."""
from __future__ import annotations

import ctypes as C
import struct
import subprocess
import zlib

import numpy as np
import pytest
from test_mlp import random_model

from fxlearn import blob, export_c, mlp, native, paths, quant

FX_OK, FX_ERR_NULL, FX_ERR_PARAM, FX_ERR_BUFFER, FX_ERR_CORRUPT, FX_ERR_VERSION = 0, -1, -5, -6, -7, -8
HDR, LY = blob.HEADER_SIZE, blob.LAYER_SIZE


def scaled_model(rng, **kw):
    model = random_model(rng, **kw)
    model.input_scale = float(2.0 ** rng.uniform(-12, 2))
    model.output_scale = float(2.0 ** rng.uniform(-12, 2))
    return model


def same_model(a: mlp.IntModel, b: mlp.IntModel) -> bool:
    if len(a.layers) != len(b.layers):
        return False
    for x, y in zip(a.layers, b.layers):
        if (x.fmt, x.bits, x.act_min, x.act_max) != (y.fmt, y.bits, y.act_min, y.act_max):
            return False
        for f in ("weight", "bias", "mult", "shift"):
            if not np.array_equal(np.atleast_1d(getattr(x, f)), np.atleast_1d(getattr(y, f))):
                return False
        if (x.act_levels is None) != (y.act_levels is None):
            return False
        if x.act_levels is not None and not np.array_equal(x.act_levels, y.act_levels):
            return False
    return True


def with_crc(data) -> bytes:
    """The blob with its CRC recomputed over [16, stored total size) (clipped to the data)."""
    b = bytearray(data)
    total = min(struct.unpack_from("<I", b, 8)[0], len(b))
    struct.pack_into("<I", b, 12, zlib.crc32(bytes(b[16:total])))
    return bytes(b)


def python_accepts(data) -> bool:
    try:
        blob.read_blob(data)
        return True
    except ValueError:
        return False


def test_round_trip_bit_exact(kernel, rng):
    """200 random models: Python and C loaders give back the model, the C kernel running the
    parsed (zero-copy) model gives the reference's integers."""
    for case in range(200):
        model = scaled_model(rng)
        data = blob.write_blob(model)
        back = blob.read_blob(data)
        assert same_model(model, back) and (back.input_scale, back.output_scale) == (model.input_scale, model.output_scale)
        cb = blob.CBlob(kernel, data)
        assert cb.status == FX_OK, case
        assert same_model(model, mlp.from_c(cb.model))
        base = cb.buffer.ctypes.data
        assert cb.model.layers[0].dense.weights == base + HDR + LY * len(model.layers)   # zero copy
        x = np.clip(rng.integers(-2000, 2000, (3, model.layers[0].n_in)), -32768, 32767)
        st, y = mlp.forward_c(kernel, cb.model, x)
        assert st == FX_OK and (y == model.forward(x)).all()


def test_layout_by_hand():
    w = quant.codes_to_levels([[1, 2, 3], [9, 0, 15]], quant.FMT_APOT, 4)   # 2x3, 4-bit codes
    layer = mlp.IntLayer(quant.FMT_APOT, 4, w, np.array([7, -7]), np.array([1 << 30]), np.array([-3]), 0, 255,
                         np.array([0, 10, 20]))
    data = blob.write_blob(mlp.IntModel([layer], input_scale=0.5, output_scale=0.25))
    assert data[:4] == b"FXMB" and struct.unpack_from("<HHI", data, 4) == (1, 48, len(data))
    assert struct.unpack_from("<I", data, 12)[0] == zlib.crc32(data[16:])
    assert struct.unpack_from("<IHHdd", data, 16) == (1, 64, 0, 0.5, 0.25)
    assert struct.unpack_from("<ii", data, 40) == (1 << 30, 11)             # 0.25 * 4096 = 2^30 * 2^(11-31)
    entry = struct.unpack_from("<BBBBIIiiI10I", data, 48)
    # weights at 112 (2 rows of 2 bytes), bias 116, mult 124, shift 128, levels 132 (6 bytes), end 140
    assert entry == (4, 4, 0, 0, 3, 2, 0, 255, 3, 112, 4, 116, 8, 124, 4, 128, 4, 132, 6)
    assert data[112:116] == bytes([0x21, 0x03, 0x09, 0x0F])                # low nibble first
    assert struct.unpack_from("<2i", data, 116) == (7, -7) and struct.unpack_from("<3h", data, 132) == (0, 10, 20)
    assert len(data) == 140 and data[138:140] == b"\0\0"


def small_blob(rng) -> tuple[mlp.IntModel, bytes]:
    """Two layers, per-channel scales on the first, act levels on both."""
    while True:
        model = scaled_model(rng, n_layers=2, max_width=6)
        l0, l1 = model.layers
        if len(np.atleast_1d(l0.mult)) > 1 and l0.n_out > 1:
            break
    for ly in model.layers:
        ly.act_levels = np.unique(np.clip([ly.act_min, 0, 3, ly.act_max], ly.act_min, ly.act_max))
    return model, blob.write_blob(model)


def field_corruptions(data: bytes):
    """(name, corrupted blob without CRC fix) for every field of the header and layer table,
    each with values the rules forbid."""
    def put(fmt, off, value):
        b = bytearray(data)
        struct.pack_into(fmt, b, off, value)
        return bytes(b)
    out = [("magic", put("<4s", 0, b"FXMC")), ("version", put("<H", 4, 2)), ("version 0", put("<H", 4, 0)),
           ("header size", put("<H", 6, 44)), ("total size +4", put("<I", 8, len(data) + 4)),
           ("total size -4", put("<I", 8, len(data) - 4)), ("total size odd", put("<I", 8, len(data) - 1)),
           ("layers 0", put("<I", 16, 0)), ("layers 3", put("<I", 16, 3)), ("layers 1", put("<I", 16, 1)),
           ("layers huge", put("<I", 16, 1 << 30)), ("entry size", put("<H", 20, 60)), ("flags", put("<H", 22, 1))]
    for off, name in ((24, "input scale"), (32, "output scale")):
        for v in (0.0, -1.0, float("nan"), float("inf"), -0.0):
            out.append((f"{name} {v}", put("<d", off, v)))
    out += [("loss mult", put("<i", 40, (1 << 30) - 1)), ("loss shift", put("<i", 44, 31)),
            ("loss mult negative", put("<i", 40, -5))]
    n = struct.unpack_from("<I", data, 16)[0]
    for k in range(n):
        e = HDR + k * LY
        fmt, bits, mode, _, n_in, n_out, lo, hi, n_lv = struct.unpack_from("<BBBBIIiiI", data, e)
        out += [(f"L{k} format", put("<B", e, 7)), (f"L{k} format swap", put("<B", e, 0 if bits != 8 else 1)),
                (f"L{k} bits 0", put("<B", e + 1, 0)), (f"L{k} bits 9", put("<B", e + 1, 9)),
                (f"L{k} scale mode 2", put("<B", e + 2, 2)), (f"L{k} reserved", put("<B", e + 3, 1)),
                (f"L{k} in 0", put("<I", e + 4, 0)), (f"L{k} in 65536", put("<I", e + 4, 65536)),
                (f"L{k} out 0", put("<I", e + 8, 0)), (f"L{k} out +1", put("<I", e + 8, n_out + 1)),
                (f"L{k} out 65536", put("<I", e + 8, 65536)),
                (f"L{k} act min > max", put("<i", e + 12, hi + 1)), (f"L{k} act min", put("<i", e + 12, -32769)),
                (f"L{k} act max", put("<i", e + 16, 32768)), (f"L{k} act max < levels", put("<i", e + 16, hi - 1)),
                (f"L{k} levels +1", put("<I", e + 20, n_lv + 1)), (f"L{k} levels huge", put("<I", e + 20, 1 << 31))]
        if n_out > 1:                       # else per tensor and per channel have the same sizes
            out.append((f"L{k} scale mode flip", put("<B", e + 2, 1 - mode)))
        if k > 0 or quant.row_stride(fmt, bits, n_in + 1) != quant.row_stride(fmt, bits, n_in):
            out.append((f"L{k} in +1", put("<I", e + 4, n_in + 1)))   # breaks the chain or the size
        for s, name in enumerate(blob.SECTIONS):
            off, length = struct.unpack_from("<II", data, e + 24 + 8 * s)
            for d in (-4, -1, 1, 4, len(data)):
                out.append((f"L{k} {name} offset {d:+}", put("<I", e + 24 + 8 * s, (off + d) % (1 << 32))))
            for d in (-1, 1, 4):
                out.append((f"L{k} {name} length {d:+}", put("<I", e + 28 + 8 * s, (length + d) % (1 << 32))))
        # section contents the rules forbid
        off_mult = struct.unpack_from("<I", data, e + 40)[0]
        off_shift = struct.unpack_from("<I", data, e + 48)[0]
        off_lv = struct.unpack_from("<I", data, e + 56)[0]
        out += [(f"L{k} mult value", put("<i", off_mult, (1 << 30) - 1)), (f"L{k} shift value", put("<i", off_shift, -32))]
        levels = struct.unpack_from(f"<{n_lv}h", data, off_lv)
        if n_lv >= 2:
            out.append((f"L{k} levels order", put("<h", off_lv + 2, levels[0])))
        if lo > -32768:
            out.append((f"L{k} level below", put("<h", off_lv, lo - 1)))
        if hi < 32767:
            out.append((f"L{k} level above", put("<h", off_lv + 2 * (n_lv - 1), hi + 1)))
    # a non-zero padding byte: the weights of layer 0 end short of a multiple of 4, or the file does
    ends = []
    for k in range(n):
        for s in range(5):
            off, length = struct.unpack_from("<II", data, HDR + k * LY + 24 + 8 * s)
            ends.append(off + length)
    pads = [p for p in ends if p % 4]
    if pads:
        out.append(("padding", put("<B", pads[0], 0x5A)))
    return out


def test_every_field_corrupted_is_rejected(kernel, rng):
    for _ in range(6):
        model, data = small_blob(rng)
        assert python_accepts(data) and blob.CBlob(kernel, data).status == FX_OK
        cases = field_corruptions(data)
        assert len(cases) > 100
        for name, bad in cases:
            for fixed_crc in (False, True):
                b = with_crc(bad) if fixed_crc else bad
                st = blob.CBlob(kernel, b).status
                assert st == (FX_ERR_VERSION if name.startswith("version") else FX_ERR_CORRUPT), (name, fixed_crc, st)
                with pytest.raises(ValueError):
                    blob.read_blob(b)


def test_every_byte_flip_and_truncation_rejected(kernel, rng):
    model, data = small_blob(rng)
    for i in range(len(data)):
        b = bytearray(data)
        b[i] ^= 1 << int(rng.integers(8))
        assert blob.CBlob(kernel, bytes(b)).status in (FX_ERR_CORRUPT, FX_ERR_VERSION), i
        assert not python_accepts(bytes(b))
    for n in range(len(data)):
        assert blob.CBlob(kernel, data[:n]).status == FX_ERR_CORRUPT, n
        with pytest.raises(ValueError):
            blob.read_blob(data[:n])


def test_random_mutations_c_and_python_agree(kernel, rng):
    """Mutations with the CRC fixed up: both loaders accept exactly the same blobs, and read the
    same model from them."""
    accepted = 0
    for case in range(3000):
        if case % 100 == 0:
            _, data = small_blob(rng)
        b = bytearray(data)
        for _ in range(int(rng.integers(1, 4))):
            i = int(rng.integers(0, min(len(b), HDR + 2 * LY))) if rng.integers(3) else int(rng.integers(len(b)))
            b[i] = int(rng.integers(256)) if rng.integers(2) else b[i] ^ (1 << int(rng.integers(8)))
        b = with_crc(b)
        cb = blob.CBlob(kernel, b)
        ok = python_accepts(b)
        assert (cb.status == FX_OK) == ok, (case, cb.status)
        if ok:
            accepted += 1
            assert same_model(mlp.from_c(cb.model), blob.read_blob(b))
    assert 0 < accepted < 3000


def test_c_api_errors_and_info(kernel, rng):
    model, data = small_blob(rng)
    cb = blob.CBlob(kernel, data, max_layers=1)
    assert cb.status == FX_ERR_BUFFER
    assert blob.CBlob(kernel, data, max_layers=2).status == FX_OK
    buf = np.zeros(len(data) + 1, np.uint8)
    buf[1:] = np.frombuffer(data, np.uint8)
    layers, m = (mlp.FxMlpLayer * 2)(), mlp.FxMlpModel()
    assert kernel.fx_blob_parse(native.ptr(buf[1:], C.c_uint8), len(data), C.byref(m), layers, 2) == FX_ERR_PARAM
    src = native.ptr(buf[1:], C.c_uint8)
    assert kernel.fx_blob_parse(None, len(data), C.byref(m), layers, 2) == FX_ERR_NULL
    assert kernel.fx_blob_parse(src, len(data), None, layers, 2) == FX_ERR_NULL
    assert kernel.fx_blob_parse(src, len(data), C.byref(m), None, 2) == FX_ERR_NULL
    info = blob.FxBlobInfo()
    padded = data + b"\xff" * 12                      # trailing bytes (flash padding) are ignored
    assert blob.CBlob(kernel, padded).status == FX_OK and python_accepts(padded)
    arr = np.frombuffer(padded, np.uint8).copy()
    assert kernel.fx_blob_info_read(native.ptr(arr, C.c_uint8), len(arr), C.byref(info)) == FX_OK
    py = blob.blob_info(padded)
    assert (info.total_size, info.crc, info.n_layers, info.loss_mult, info.loss_shift) == \
           (py.total_size, py.crc, py.n_layers, py.loss_mult, py.loss_shift) == \
           (len(data), zlib.crc32(data[16:]), 2, *blob.loss_scale(model.output_scale))
    assert kernel.fx_blob_info_read(native.ptr(arr, C.c_uint8), len(arr), None) == FX_ERR_NULL


def test_seal_rewrites_the_crc_after_an_in_place_change(kernel, rng):
    """fx_blob_seal: after a weight byte changes in place the blob is rejected; sealed, its CRC
    is zlib's over bytes [16, len) and both loaders accept it with the new weight."""
    native.declare("fx_blob_seal", C.c_int, [native.u8p, C.c_size_t])
    for _ in range(50):
        model = scaled_model(rng)
        arr = np.frombuffer(blob.write_blob(model), dtype=np.uint8).copy()
        at = HDR + LY * len(model.layers)        # bit 0: the first weight code (never row padding)
        arr[at] ^= 0x01
        assert blob.CBlob(kernel, arr.tobytes()).status == FX_ERR_CORRUPT
        assert kernel.fx_blob_seal(native.ptr(arr, C.c_uint8), len(arr)) == FX_OK
        data = arr.tobytes()
        assert struct.unpack_from("<I", data, 12)[0] == zlib.crc32(data[16:])
        assert blob.CBlob(kernel, data).status == FX_OK and python_accepts(data)
    assert kernel.fx_blob_seal(None, 100) == FX_ERR_NULL
    short = np.zeros(HDR - 1, dtype=np.uint8)
    assert kernel.fx_blob_seal(native.ptr(short, C.c_uint8), len(short)) == FX_ERR_CORRUPT
    assert not short.any()                                   # nothing written on error


def test_write_blob_rejects_invalid_models(rng):
    model = scaled_model(rng, n_layers=2)
    for name, v in (("input_scale", 0.0), ("output_scale", float("nan")), ("output_scale", -1.0)):
        bad = mlp.IntModel(model.layers, **{"input_scale": 1.0, "output_scale": 1.0, name: v})
        with pytest.raises(ValueError):
            blob.write_blob(bad)
    model.layers[0].act_min, model.layers[0].act_max = 5, 4
    with pytest.raises(ValueError):
        blob.write_blob(model)


KERNEL_SOURCES = ["fx_blob", "fx_mlp", "fx_dense", "fx_dense_s16", "fx_dense_s8", "fx_dense_fast", "fx_act",
                  "fx_quant", "fx_requant", "fx_fixed"]


def test_export_c_header_compiles_and_runs(tmp_path, rng):
    """The generated header, compiled warning-free with the kernel into a program that parses the
    blob and runs fx_mlp_forward, prints the reference's integers."""
    model = scaled_model(rng, n_layers=3, max_width=20)
    data = blob.write_blob(model)
    (tmp_path / "model_blob.h").write_text(export_c.c_header(data, "test_model", source="test"))
    x = rng.integers(-3000, 3000, (5, model.layers[0].n_in))
    rows = ",\n".join("{" + ", ".join(map(str, r)) + "}" for r in x)
    (tmp_path / "main.c").write_text(f"""
#include <stdio.h>
#include "fxlearn.h"
#include "model_blob.h"
static const int16_t inputs[{len(x)}][{x.shape[1]}] = {{{rows}}};
int main(void)
{{
    fx_mlp_layer layers[4];
    fx_mlp_model model;
    static int16_t work[4096];
    int16_t y[256];
    unsigned n, i;
    fx_status st = fx_blob_parse(test_model, test_model_len, &model, layers, 4);
    if (st != FX_OK) {{ printf("parse %d\\n", (int)st); return 1; }}
    for (n = 0; n < {len(x)}u; n++) {{
        st = fx_mlp_forward(&model, inputs[n], y, work, sizeof work);
        if (st != FX_OK) {{ printf("forward %d\\n", (int)st); return 1; }}
        for (i = 0; i < {model.layers[-1].n_out}u; i++) printf("%d ", y[i]);
        printf("\\n");
    }}
    return 0;
}}
""")
    kdir = paths.source_root() / "firmware" / "kernel"
    exe = tmp_path / "run"
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Wconversion", "-Wsign-conversion", "-Wshadow",
                    "-Werror", "-O2", f"-I{kdir}", f"-I{tmp_path}", str(tmp_path / "main.c"),
                    *[str(kdir / f"{s}.c") for s in KERNEL_SOURCES], "-o", str(exe)], check=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    got = np.array([list(map(int, line.split())) for line in out.strip().splitlines()])
    assert (got == model.forward(x)).all()
    with pytest.raises(ValueError):
        export_c.c_header(data, "not-an-identifier")
    with pytest.raises(ValueError):
        export_c.c_header(data[:-4], "ok")


def test_export_c_cli(tmp_path, rng):
    from click.testing import CliRunner

    from fxlearn.cli import main
    data = blob.write_blob(scaled_model(rng, n_layers=1))
    (tmp_path / "m.fxmb").write_bytes(data)
    res = CliRunner().invoke(main, ["export-c", str(tmp_path / "m.fxmb"), "-o", str(tmp_path / "m.h"), "--name", "m"])
    assert res.exit_code == 0, res.output
    assert f"static const M_ALIGN uint8_t m[{len(data)}]" in (tmp_path / "m.h").read_text()
    (tmp_path / "bad.fxmb").write_bytes(data[:-1])
    res = CliRunner().invoke(main, ["export-c", str(tmp_path / "bad.fxmb"), "-o", str(tmp_path / "b.h")])
    assert res.exit_code != 0
