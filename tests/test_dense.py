"""Dense forward (docs/kernel.md section 4): the C kernel against the Python reference bit for
bit, over every weight format and width, input and output type, per-tensor and per-channel
scales, random and extreme values; hand-computed cases; every error path."""
from __future__ import annotations

import ctypes as C
import math

import numpy as np
import pytest

from fxlearn import dense, fixed, native, quant

FX_OK, FX_ERR_NULL, FX_ERR_SHAPE, FX_ERR_BITS, FX_ERR_FORMAT, FX_ERR_PARAM = 0, -1, -2, -3, -4, -5
WIDTHS = {quant.FMT_INT8: (8,), quant.FMT_INT16: (16,), quant.FMT_UNIFORM: quant.CODE_BITS,
          quant.FMT_POT: quant.POT_BITS, quant.FMT_APOT: quant.APOT_BITS}
FORMATS = [(f, b) for f, bs in WIDTHS.items() for b in bs]
RANGE = {8: (fixed.INT8_MIN, fixed.INT8_MAX), 16: (fixed.INT16_MIN, fixed.INT16_MAX)}


def random_levels(rng, fmt, bits, shape):
    """Signed levels of the format: uniform codes, or mostly small ones, or the extremes."""
    if fmt in quant.PACKED_FORMATS:
        mode = rng.integers(3)
        top = 1 << (bits - 1)
        if mode == 0:
            m = rng.integers(0, top, size=shape)
        elif mode == 1:
            m = np.minimum(rng.geometric(0.4, size=shape) - 1, top - 1)
        else:
            m = rng.choice([0, top - 1], size=shape)
        sign = rng.integers(0, 2, size=shape)
        return quant.codes_to_levels(m + (sign << (bits - 1)), fmt, bits)
    lo, hi = RANGE[bits]
    if rng.integers(3) == 2:
        return rng.choice([lo, hi, lo + 1, 0], size=shape)
    return rng.integers(lo, hi, endpoint=True, size=shape) >> int(rng.integers(0, bits))


def random_inputs(rng, in_bits, n, n_in):
    lo, hi = RANGE[in_bits]
    mode = rng.integers(4)
    if mode == 0:
        return rng.integers(lo, hi, endpoint=True, size=(n, n_in))
    if mode == 1:
        return rng.choice([lo, hi], size=(n, n_in))                   # saturating extremes
    if mode == 2:
        return rng.integers(0, hi, endpoint=True, size=(n, n_in)) >> int(rng.integers(0, in_bits))  # post-ReLU
    return rng.integers(lo, hi, endpoint=True, size=(n, n_in)) >> int(rng.integers(0, in_bits))


def random_scale(rng, n, n_in, in_bits, fmt, bits, extreme):
    """(mult, shift) arrays of n entries: a scale that keeps typical outputs in range, or
    (extreme) anything valid, including the largest multiplier and shift."""
    if extreme:
        mult = rng.choice([0, 1 << 30, (1 << 31) - 1, int(rng.integers(1 << 30, 1 << 31))], size=n)
        shift = rng.choice([-31, 30, 0, int(rng.integers(-31, 31))], size=n)
        return mult, shift
    typical = math.sqrt(n_in) * (1 << (in_bits - 2)) * max(1, quant.max_level(fmt, bits) / 4)
    target = (1 << 13) / typical * 2.0 ** rng.uniform(-4, 4, size=n)
    ms = [fixed.quantize_multiplier(float(t)) for t in target]
    return np.array([m for m, _ in ms]), np.array([s for _, s in ms])


def random_layer(rng, fmt, bits, n_in, n_out, in_bits=16, out_bits=16, extreme=None):
    """A valid random layer: (weight levels, bias, mult, shift, act_min, act_max)."""
    extreme = bool(rng.integers(4) == 0) if extreme is None else extreme
    weight = random_levels(rng, fmt, bits, (n_out, n_in))
    if extreme:
        bias = rng.choice([fixed.INT32_MIN, fixed.INT32_MAX, 0, int(rng.integers(-2**31, 2**31))], size=n_out)
    else:
        bias = rng.integers(-(1 << 20), 1 << 20, size=n_out) >> int(rng.integers(0, 20))
    n_scale = 1 if rng.integers(2) else n_out
    mult, shift = random_scale(rng, n_scale, n_in, in_bits, fmt, bits, extreme)
    lo, hi = RANGE[out_bits]
    mode = rng.integers(3)
    if mode == 0:
        act = (lo, hi)
    elif mode == 1:
        act = (0, hi)                                                 # ReLU
    else:
        a, b = sorted(rng.integers(lo, hi, endpoint=True, size=2))
        act = (int(a), int(b))
    return weight, bias, mult, shift, act[0], act[1]


def random_shape(rng):
    r = rng.integers(10)
    if r < 5:
        return int(rng.integers(1, 9)), int(rng.integers(1, 9))
    if r < 9:
        return int(rng.integers(1, 80)), int(rng.integers(1, 40))
    return int(rng.integers(100, 301)), int(rng.integers(30, 71))


@pytest.mark.parametrize("in_bits,out_bits", [(16, 16), (16, 8), (8, 8), (8, 16)])
def test_matches_reference(kernel, rng, in_bits, out_bits):
    """1,000+ random layers per routine, all formats and widths, 2 inputs each."""
    for case in range(1100):
        fmt, bits = FORMATS[case % len(FORMATS)]
        n_in, n_out = random_shape(rng)
        layer = random_layer(rng, fmt, bits, n_in, n_out, in_bits, out_bits)
        dense.check(fmt, bits, *layer, out_bits=out_bits)
        x = random_inputs(rng, in_bits, 2, n_in)
        st, y = dense.c_forward(kernel, dense.CDenseLayer(fmt, bits, *layer), x, in_bits, out_bits)
        ref = dense.dense(x, *layer, in_bits=in_bits)
        assert st == FX_OK
        assert (y == ref).all(), (case, fmt, bits, n_in, n_out)


def exact_scale_one():
    """(mult, shift) with requant(acc) == acc: 2^30 * 2^(1 - 31)."""
    return [1 << 30], [1]


@pytest.mark.parametrize("fmt,bits", FORMATS)
def test_narrow_and_wide_accumulation_exact(kernel, rng, fmt, bits):
    """Inputs just inside and just outside the int32-safe bound in * max|x| * max|level| < 2^31,
    with alternating signs so that partial sums leave int32 while the total is small."""
    top = quant.max_level(fmt, bits)
    for n_in in (1, 2, 7, 64, 1024, 4096):
        limit = ((1 << 31) - 1) // (n_in * top)             # largest max|x| of the int32 path
        for max_x in {min(max(limit, 1), 32767), min(limit + 1, 32767), 32767}:
            w = random_levels(rng, fmt, bits, (4, n_in))
            w[0] = -top if fmt in quant.INT_BITS else top          # the largest |level|
            big = top - 1 if fmt in quant.INT_BITS else top
            w[1] = np.where(np.arange(n_in) % 2, big, -big)
            x = np.full((3, n_in), max_x)
            x[1] = np.where(np.arange(n_in) % 4 < 2, max_x, -max_x)   # partial sums swing
            x[2] = rng.integers(-max_x, max_x, endpoint=True, size=n_in)
            bias = np.array([0, 5, fixed.INT32_MAX, fixed.INT32_MIN])
            for mult, shift in (exact_scale_one(), ([1 << 30], [-15])):
                st, y = dense.c_forward(kernel, dense.CDenseLayer(fmt, bits, w, bias, mult, shift, -32768, 32767), x)
                assert st == FX_OK
                assert (y == dense.dense(x, w, bias, mult, shift, -32768, 32767)).all(), (n_in, max_x)


def test_largest_sums(kernel):
    """The largest fan-in with the largest products: PoT 6-bit levels of 2^30 times -32768 over
    65535 inputs (sum -2^61 + ..., saturates), and a cancelling pattern whose sum is exact."""
    n_in = 65535
    w = np.full((2, n_in), 1 << 30)
    w[1, 1::2] = -(1 << 30)
    x = np.full((1, n_in), -32768)
    for mult, shift in (exact_scale_one(), ([(1 << 31) - 1], [30])):
        st, y = dense.c_forward(kernel, dense.CDenseLayer(quant.FMT_POT, 6, w, [0, 12345], mult, shift,
                                                          -32768, 32767), x)
        ref = dense.dense(x, w, [0, 12345], mult, shift, -32768, 32767)
        assert st == FX_OK and (y == ref).all()
    assert ref[0].tolist() == [-32768, -32768]                # -2^61 and -2^45 + 12345 saturate


def test_hand_computed():
    one = exact_scale_one()
    # APoT 5-bit (B = 4): code 13 is level 33, code 16 + 15 is -48: 5 + 3*33 + (-2)*(-48) = 200
    w = quant.codes_to_levels([[13, 31]], quant.FMT_APOT, 5)
    assert w.tolist() == [[33, -48]]
    assert dense.dense([3, -2], w, [5], *one, -32768, 32767).tolist() == [200]
    # PoT 4-bit: m = 5 is 2^4
    assert dense.dense([7], quant.codes_to_levels([[5]], quant.FMT_POT, 4), [0], *one, -99, 99).tolist() == [99]
    # requant halves round up: scale 1/2 (2^30 * 2^(0 - 31)); ReLU clamps
    assert dense.dense([[3], [-3], [5]], [[1]], [0], [1 << 30], [0], -128, 127).ravel().tolist() == [2, -1, 3]
    assert dense.dense([[-3]], [[1]], [0], [1 << 30], [0], 0, 127).tolist() == [[0]]
    # the accumulator saturates to int32 before requantization: (2^31 - 1) / 2^31 -> 1
    assert dense.dense([[32767]], [[32767]], [fixed.INT32_MAX], [1 << 30], [-30], -9, 9).tolist() == [[1]]


def _layer(**overrides):
    """A valid 3x4 APoT layer's CDenseLayer, with struct fields overridden."""
    w = quant.codes_to_levels(np.arange(12).reshape(3, 4), quant.FMT_APOT, 4)
    layer = dense.CDenseLayer(quant.FMT_APOT, 4, w, [1, 2, 3], [1 << 30], [0], -200, 200)
    for k, v in overrides.items():
        setattr(layer.struct, k, v)
    return layer


ERRORS = [
    (dict(weights=None), FX_ERR_NULL), (dict(bias=None), FX_ERR_NULL),
    (dict(mult=None), FX_ERR_NULL), (dict(shift=None), FX_ERR_NULL),
    (dict(format=5), FX_ERR_FORMAT), (dict(format=-1), FX_ERR_FORMAT),
    (dict(bits=8), FX_ERR_BITS), (dict(bits=1), FX_ERR_BITS), (dict(format=quant.FMT_INT8, bits=4), FX_ERR_BITS),
    (dict(n_in=0), FX_ERR_SHAPE), (dict(n_out=0), FX_ERR_SHAPE),
    (dict(n_in=65536), FX_ERR_SHAPE), (dict(n_out=65536), FX_ERR_SHAPE),
    (dict(n_scale=2), FX_ERR_SHAPE), (dict(n_scale=0), FX_ERR_SHAPE),
    (dict(act_min=5, act_max=4), FX_ERR_PARAM), (dict(act_min=-32769), FX_ERR_PARAM),
    (dict(act_max=32768), FX_ERR_PARAM),
]


@pytest.mark.parametrize("overrides,status", ERRORS)
def test_c_rejects_bad_layers_before_writing(kernel, overrides, status):
    layer = _layer(**overrides)
    x = np.ones(4, dtype=np.int16)
    for name, y in (("fx_dense_s16", np.full(3, 777, np.int16)), ("fx_dense_s8_s16", np.full(3, 777, np.int16))):
        xx = x.astype(np.int8) if "s8" in name else x
        ctype = C.c_int8 if "s8" in name else C.c_int16
        st = getattr(kernel, name)(C.byref(layer.struct), native.ptr(xx, ctype), native.ptr(y, C.c_int16))
        assert st == status and (y == 777).all()
    assert kernel.fx_dense_check(C.byref(layer.struct), 16) == status


def test_c_rejects_bad_scales_and_ranges(kernel):
    x, y = np.ones(4, np.int16), np.full(3, 5, np.int8)
    for mult, shift in (((1 << 30) - 1, 0), (-1, 0), (1 << 30, 31), (1 << 30, -32)):
        layer = _layer()
        layer.mult[0], layer.shift[0] = mult, shift
        assert kernel.fx_dense_s16_s8(C.byref(layer.struct), native.ptr(x, C.c_int16), native.ptr(y, C.c_int8)) == FX_ERR_PARAM
    per_channel = dense.CDenseLayer(quant.FMT_INT8, 8, np.ones((3, 4)), [0] * 3, [1 << 30, 0, 5], [0, 0, 0], -1, 1)
    assert kernel.fx_dense_check(C.byref(per_channel.struct), 16) == FX_ERR_PARAM   # third multiplier
    assert kernel.fx_dense_check(C.byref(_layer().struct), 8) == FX_ERR_PARAM       # [-200, 200] not in int8
    assert kernel.fx_dense_check(C.byref(_layer(act_min=-128, act_max=127).struct), 8) == FX_OK
    assert kernel.fx_dense_check(C.byref(_layer().struct), 32) == FX_ERR_PARAM
    assert kernel.fx_dense_check(None, 16) == FX_ERR_NULL
    assert (y == 5).all()
    layer = _layer()
    assert kernel.fx_dense_s16(C.byref(layer.struct), None, native.ptr(np.zeros(3, np.int16), C.c_int16)) == FX_ERR_NULL
    assert kernel.fx_dense_s16(C.byref(layer.struct), native.ptr(x, C.c_int16), None) == FX_ERR_NULL
    assert kernel.fx_dense_s16(None, native.ptr(x, C.c_int16), native.ptr(np.zeros(3, np.int16), C.c_int16)) == FX_ERR_NULL


def test_c_rejects_misaligned_int16_weights(kernel):
    w = np.ones((2, 3))
    buf = np.zeros(2 * 6 + 1, dtype=np.uint8)
    buf[1:] = quant.weight_bytes(w, quant.FMT_INT16, 16).ravel()
    layer = dense.CDenseLayer(quant.FMT_INT16, 16, w, [0, 0], [1 << 30], [1], -9, 9)
    layer.struct.weights = buf.ctypes.data + 1
    assert kernel.fx_dense_check(C.byref(layer.struct), 16) == FX_ERR_PARAM


def test_python_check_rejects_what_c_rejects():
    w = quant.codes_to_levels(np.arange(12).reshape(3, 4), quant.FMT_APOT, 4)
    good = dict(fmt=quant.FMT_APOT, bits=4, weight=w, bias=[1, 2, 3], mult=[1 << 30], shift=[0], act_min=-100, act_max=100)
    dense.check(**good)
    bad = [dict(fmt=5), dict(bits=8), dict(weight=np.zeros((0, 4))), dict(weight=np.zeros((3, 0))),
           dict(weight=np.zeros((3, 65536))), dict(weight=w + 100), dict(bias=[1, 2]), dict(bias=[2**31, 0, 0]),
           dict(mult=[1 << 30, 1 << 30], shift=[0, 0]), dict(mult=[(1 << 30) - 1]), dict(shift=[31]),
           dict(act_min=5, act_max=4), dict(act_min=-32769), dict(act_max=32768)]
    for b in bad:
        with pytest.raises(ValueError):
            dense.check(**{**good, **b})
    with pytest.raises(ValueError):
        dense.check(**{**good, "act_min": -128, "act_max": 128}, out_bits=8)
    with pytest.raises(ValueError):
        dense.dense([[40000, 0, 0, 0]], w, [0] * 3, [1 << 30], [0], -9, 9)
    with pytest.raises(ValueError):
        dense.dense([[200, 0, 0, 0]], w, [0] * 3, [1 << 30], [0], -9, 9, in_bits=8)
