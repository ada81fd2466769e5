"""Integer losses: C kernel vs Python reference bit for bit, and against float math."""
from __future__ import annotations

import ctypes as C
import math

import numpy as np
import pytest

from fxlearn import fixed, loss, native

native.declare("fx_exp_neg_q12", C.c_int32, [C.c_int32])
native.declare("fx_log2_q12", C.c_int32, [C.c_uint32])
native.declare("fx_softmax_xent_s16", C.c_int, [native.i16p, C.c_uint16, C.c_uint16, C.c_int32,
                                                C.c_int32, native.i32p, native.i32p])
native.declare("fx_mse_s16", C.c_int, [native.i16p, native.i16p, C.c_uint16, native.i32p,
                                       C.POINTER(C.c_int64)])


def c_xent(kernel, z, label, mult, shift):
    z = np.ascontiguousarray(z, dtype=np.int16)
    grad = np.zeros(len(z), dtype=np.int32)
    out = np.zeros(1, dtype=np.int32)
    st = kernel.fx_softmax_xent_s16(native.ptr(z, C.c_int16), len(z), label, mult, shift,
                                    native.ptr(grad, C.c_int32), native.ptr(out, C.c_int32))
    return st, grad, int(out[0])


def test_exp_and_log2_match_c(kernel, rng):
    ds = np.concatenate([np.arange(0, 5000), rng.integers(0, 1 << 31, 3000), [0, 1, 1 << 30, (1 << 31) - 1, -5]])
    assert [kernel.fx_exp_neg_q12(int(d)) for d in ds] == [int(v) for v in loss.exp_neg_q12(ds)]
    xs = np.concatenate([np.arange(0, 5000), rng.integers(1, 1 << 32, 3000), [(1 << 32) - 1, 1 << 31, 4096, 4097]])
    assert [kernel.fx_log2_q12(int(x)) for x in xs] == [int(v) for v in loss.log2_q12(xs)]


def test_exp_log2_accuracy():
    d = np.arange(0, 16 * 4096, 37)
    err = np.abs(loss.exp_neg_q12(d) / 32768 - np.exp(-d / 4096))
    assert err.max() < 2e-4
    x = np.unique(np.geomspace(1, 2 ** 32 - 1, 5000).astype(np.int64))
    assert np.abs(loss.log2_q12(x) / 4096 - np.log2(x)).max() < 2e-3
    assert loss.exp_neg_q12(0) == 32768 and loss.log2_q12(1) == 0 and loss.log2_q12(1 << 20) == 20 * 4096


def test_softmax_xent_matches_c(kernel, rng):
    for case in range(1200):
        n = int(rng.integers(1, 40))
        span = int(rng.choice([4, 300, 32767]))
        z = rng.integers(-span - 1, span + 1, size=n).clip(-32768, 32767)
        if case % 10 == 0:
            z[:] = z[0]                                 # all tied
        label = int(rng.integers(0, n))
        mult, shift = fixed.quantize_multiplier(float(rng.choice([1 / 64, 0.01, 0.3, 4.0])) * 4096)
        st, grad, l = c_xent(kernel, z, label, mult, shift)
        g_ref, l_ref = loss.softmax_xent(z[None, :], [label], mult, shift)
        assert st == 0
        assert grad.tolist() == g_ref[0].tolist(), (z, label)
        assert l == int(l_ref[0])


def test_softmax_xent_close_to_float():
    scale = 1 / 256
    mult, shift = fixed.quantize_multiplier(scale * 4096)
    z = np.array([[1000, -200, 30, 512, 0]])
    g, l = loss.softmax_xent(z, [3], mult, shift)
    zf = z[0] * scale
    p = np.exp(zf - zf.max()) / np.exp(zf - zf.max()).sum()
    assert np.abs(g[0] / 32768 - (p - np.eye(5)[3])).max() < 1e-3
    assert abs(l[0] / 4096 + math.log(p[3])) < 2e-3


def test_softmax_xent_errors(kernel):
    z = np.zeros(4, dtype=np.int16)
    assert c_xent(kernel, z, 4, 1 << 30, 0)[0] == -5           # label out of range
    assert c_xent(kernel, z, 0, 1, 0)[0] == -5                 # bad multiplier
    assert kernel.fx_softmax_xent_s16(None, 4, 0, 1 << 30, 0, None, None) == -1
    assert c_xent(kernel, np.zeros(0, dtype=np.int16), 0, 1 << 30, 0)[0] == -2
    with pytest.raises(ValueError):
        loss.softmax_xent(np.zeros((1, 4)), [4], 1 << 30, 0)
    with pytest.raises(ValueError):
        loss.softmax_xent(np.zeros((1, 4)), [0], 5, 0)


def test_mse_matches_c(kernel, rng):
    for _ in range(1000):
        n = int(rng.integers(1, 50))
        y = rng.integers(-32768, 32768, size=n).astype(np.int16)
        t = rng.integers(-32768, 32768, size=n).astype(np.int16)
        grad = np.zeros(n, dtype=np.int32)
        out = np.zeros(1, dtype=np.int64)
        assert kernel.fx_mse_s16(native.ptr(y, C.c_int16), native.ptr(t, C.c_int16), n,
                                 native.ptr(grad, C.c_int32), native.ptr(out, C.c_int64)) == 0
        g_ref, l_ref = loss.mse(y, t)
        assert grad.tolist() == g_ref.tolist() and int(out[0]) == int(l_ref)
