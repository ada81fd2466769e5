"""Dense + clamp backward kernels: C vs the Python reference bit for bit (randomized shapes,
extremes that saturate), hand-computed cases, and error codes."""
from __future__ import annotations

import ctypes as C

import numpy as np
import pytest

from fxlearn import fixed, native, train

native.declare("fx_dense_grad_accum_s16", C.c_int, [native.i16p, native.i16p, C.c_uint16, C.c_uint16,
                                                    C.c_int32, native.i32p, native.i32p,
                                                    C.POINTER(C.c_uint32)])
native.declare("fx_dense_backward_input_s16", C.c_int, [native.i16p, native.i16p, C.c_uint16, C.c_uint16,
                                                        C.c_int32, C.c_int32, native.i16p])
native.declare("fx_act_backward_s16", C.c_int, [native.i16p, C.c_uint16, C.c_int16, C.c_int16, native.i16p])

I16 = (-32768, 32767)


def values(rng, shape, kind):
    """int16 arrays: small, full range, or the extremes only (which saturate)."""
    if kind == "small":
        return rng.integers(-300, 301, size=shape)
    if kind == "full":
        return rng.integers(*I16, size=shape, endpoint=True)
    return rng.choice([-32768, -32767, 32767, 0, 1, -1], size=shape)


def c_accum(kernel, xs, gs, shift, dw, db, use_bound):
    dw = np.ascontiguousarray(dw, dtype=np.int32).copy()
    db = np.ascontiguousarray(db, dtype=np.int32).copy()
    bound = C.c_uint32(int(max(np.abs(dw.astype(np.int64)).max(), np.abs(db.astype(np.int64)).max())))
    for x, g in zip(xs, gs):
        x = np.ascontiguousarray(x, dtype=np.int16)
        g = np.ascontiguousarray(g, dtype=np.int16)
        st = kernel.fx_dense_grad_accum_s16(native.ptr(x, C.c_int16), native.ptr(g, C.c_int16), len(x), len(g),
                                            shift, native.ptr(dw, C.c_int32), native.ptr(db, C.c_int32),
                                            C.byref(bound) if use_bound else None)
        assert st == 0
    return dw, db


def random_accum_case(rng, case):
    """Samples, gradients, shift and start accumulators for one grad_accum case: shapes with
    and without a multiple of four inputs, small / full / extreme values, starts at zero, next
    to the int32 limits (the saturating path) or mid-range; odd cases pass the bound (the
    wrapping fast path)."""
    n_in, n_out, n = int(rng.integers(1, 70)), int(rng.integers(1, 20)), int(rng.integers(1, 9))
    kind_x, kind_g = rng.choice(["small", "full", "extreme"], size=2)
    xs, gs = values(rng, (n, n_in), kind_x), values(rng, (n, n_out), kind_g)
    shift = int(rng.choice([0, 0, 1, 4, 7, 15, 16, 17, 30]))   # the M4 pair path: shift <= 16
    start_kind = case % 3
    dw0 = np.zeros((n_out, n_in), dtype=np.int64)
    db0 = np.zeros(n_out, dtype=np.int64)
    if start_kind == 1:                       # start next to the int32 limits
        dw0 = rng.choice([fixed.INT32_MIN, fixed.INT32_MIN + 5, fixed.INT32_MAX - 5, fixed.INT32_MAX],
                         size=dw0.shape)
        db0 = rng.choice([fixed.INT32_MIN, fixed.INT32_MAX - 1], size=db0.shape)
    elif start_kind == 2:
        dw0 = rng.integers(-(1 << 20), 1 << 20, size=dw0.shape)
    return xs, gs, shift, dw0, db0, bool(case % 2)


def test_grad_accum_matches_c(kernel, rng):
    saturated = 0
    for case in range(1000):
        xs, gs, shift, dw0, db0, use_bound = random_accum_case(rng, case)
        ref_w, ref_b = train.grad_accum(xs, gs, shift, dw0, db0)
        saturated += int(np.any(np.abs(ref_w) >= fixed.INT32_MAX))
        got_w, got_b = c_accum(kernel, xs, gs, shift, dw0, db0, use_bound)
        assert got_w.tolist() == ref_w.tolist(), (case, shift)
        assert got_b.tolist() == ref_b.tolist(), case
    assert saturated > 100                         # the saturating path was exercised


def test_grad_accum_saturates_in_order():
    # three +t saturate at INT32_MAX (2t fits, 3t does not), then -t comes back down: order matters
    t = 32767 * 32767
    x = np.array([[32767], [32767], [32767], [-32767]])
    w, b = train.grad_accum(x, [[32767]] * 4, 0, np.zeros((1, 1)), np.zeros(1))
    assert w[0, 0] == fixed.INT32_MAX - t and b[0] == 4 * 32767
    assert train.grad_accum([[3]], [[5]], 1, [[0]], [0])[0][0, 0] == 8          # rhu(15/2) = 8
    assert train.grad_accum([[-3]], [[5]], 1, [[0]], [0])[0][0, 0] == -7        # rhu(-7.5) = -7


def random_backward_case(rng):
    """g [out], w [out, in] (odd and even sizes, small / full / extreme values) and a scale from
    far below one LSB to saturating."""
    n_in, n_out = int(rng.integers(1, 70)), int(rng.integers(1, 40))
    kind_g, kind_w = rng.choice(["small", "full", "extreme"], size=2)
    g = values(rng, n_out, kind_g).astype(np.int16)
    w = values(rng, (n_out, n_in), kind_w).astype(np.int16)
    scale = float(rng.choice([2.0 ** -15, 2.0 ** -12, 0.37 / 4096, 1.0, 3.7, 2.0 ** 20]))
    return g, w, *fixed.quantize_multiplier(scale)


def test_backward_input_matches_c(kernel, rng):
    for case in range(1000):
        g, w, mult, shift = random_backward_case(rng)
        n_out, n_in = w.shape
        out = np.zeros(n_in, dtype=np.int16)
        st = kernel.fx_dense_backward_input_s16(native.ptr(g, C.c_int16), native.ptr(w, C.c_int16), n_in, n_out,
                                                mult, shift, native.ptr(out, C.c_int16))
        assert st == 0
        assert out.tolist() == train.backward_input(g[None, :], w, mult, shift)[0].tolist(), case


def test_backward_input_hand_case():
    mult, shift = fixed.quantize_multiplier(0.5)
    g = np.array([[3, -2]])
    w = np.array([[1, 2, 3], [4, 5, 6]])
    # g @ w = [3-8, 6-10, 9-12] = [-5, -4, -3]; halves round up: [-2, -2, -1]
    assert train.backward_input(g, w, mult, shift).tolist() == [[-2, -2, -1]]
    big = train.backward_input([[32767] * 4], [[32767]] * 4, 1 << 30, 1)   # scale 1: sat32 then sat16
    assert big.tolist() == [[32767]]


def test_act_backward_matches_c(kernel, rng):
    for case in range(300):
        n = int(rng.integers(1, 100))
        lo = int(rng.integers(-32768, 100))
        hi = int(rng.integers(lo, 32768))
        if case % 4 == 0:
            lo, hi = 0, 32767                          # ReLU
        y = np.concatenate([rng.integers(*I16, size=n, endpoint=True), [lo, hi, lo + 1, hi - 1]])
        y = np.clip(y, *I16).astype(np.int16)
        g = values(rng, len(y), "full").astype(np.int16)
        ref = train.act_backward(y, g, lo, hi)
        got = g.copy()
        assert kernel.fx_act_backward_s16(native.ptr(y, C.c_int16), len(y), lo, hi, native.ptr(got, C.c_int16)) == 0
        assert got.tolist() == ref.tolist()
    # boundaries pass nothing: ReLU 0 and a clamped maximum
    assert train.act_backward([0, 1, 126, 127], [5, 5, 5, 5], 0, 127).tolist() == [0, 5, 5, 0]


def test_backward_errors(kernel):
    x = np.zeros(4, dtype=np.int16)
    g = np.zeros(2, dtype=np.int16)
    dw = np.zeros(8, dtype=np.int32)
    db = np.zeros(2, dtype=np.int32)
    p16 = lambda a: native.ptr(a, C.c_int16)
    p32 = lambda a: native.ptr(a, C.c_int32)
    acc = kernel.fx_dense_grad_accum_s16
    assert acc(p16(x), p16(g), 4, 2, 0, p32(dw), p32(db), None) == 0
    assert acc(None, p16(g), 4, 2, 0, p32(dw), p32(db), None) == -1
    assert acc(p16(x), p16(g), 4, 2, 0, None, p32(db), None) == -1
    assert acc(p16(x), p16(g), 0, 2, 0, p32(dw), p32(db), None) == -2
    assert acc(p16(x), p16(g), 4, 0, 0, p32(dw), p32(db), None) == -2
    assert acc(p16(x), p16(g), 4, 2, 31, p32(dw), p32(db), None) == -5
    assert acc(p16(x), p16(g), 4, 2, -1, p32(dw), p32(db), None) == -5
    bi = kernel.fx_dense_backward_input_s16
    w = np.zeros(8, dtype=np.int16)
    assert bi(p16(g), p16(w), 4, 2, 1 << 30, 0, p16(x)) == 0
    assert bi(p16(g), p16(w), 4, 2, 5, 0, p16(x)) == -5
    assert bi(p16(g), p16(w), 4, 2, 1 << 30, 31, p16(x)) == -5
    assert bi(p16(g), None, 4, 2, 1 << 30, 0, p16(x)) == -1
    assert bi(p16(g), p16(w), 0, 2, 1 << 30, 0, p16(x)) == -2
    ab = kernel.fx_act_backward_s16
    assert ab(p16(x), 4, 5, 4, p16(x)) == -5
    assert ab(p16(x), 0, 0, 4, p16(x)) == -2
    assert ab(None, 4, 0, 4, p16(x)) == -1
    with pytest.raises(ValueError):
        train.grad_accum([[1]], [[1]], 31, [[0]], [0])
    with pytest.raises(ValueError):
        train.grad_accum([[1, 2]], [[1], [2]], 0, [[0, 0]], [0])
    with pytest.raises(ValueError):
        train.backward_input([[1]], [[1, 2], [3, 4]], 1 << 30, 0)
    with pytest.raises(ValueError):
        train.act_backward([1], [1], 3, 2)
