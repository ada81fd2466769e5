"""C fixed-point helpers vs the Python reference (docs/kernel.md sections 1-2), bit for bit,
on randomized inputs biased toward the extremes, plus hand-computed cases."""
from __future__ import annotations

import pytest

from fxlearn import fixed

N = 2000
I64 = (-(1 << 63), (1 << 63) - 1)


def edge_ints(rng, bits, n):
    """n signed ints of `bits` bits: uniform, small, and the extremes and their neighbours."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    edges = [lo, lo + 1, -1, 0, 1, hi - 1, hi, lo // 2, hi // 2 + 1]
    out = []
    for k in range(n):
        r = k % 4
        if r == 0:
            out.append(int(rng.integers(lo, hi, endpoint=True)))
        elif r == 1:
            out.append(int(rng.integers(-300, 300)))
        elif r == 2:
            out.append(edges[int(rng.integers(len(edges)))])
        else:
            e = int(rng.integers(0, bits - 1))
            out.append(int(rng.choice([-1, 1])) * (1 << e) + int(rng.integers(-2, 3)))
    return [fixed.clamp(v, lo, hi) for v in out]


def test_rhu_hand_cases():
    # eq. (4): floor(x + 0.5): halves round toward +inf
    assert [fixed.rhu(n, 2) for n in (-3, -1, 1, 3)] == [-1, 0, 1, 2]
    assert fixed.rhu_shift(5, 1) == 3 and fixed.rhu_shift(-5, 1) == -2
    assert fixed.rhu_shift(-6, 2) == -1 and fixed.rhu_shift(-7, 2) == -2


def test_rhu_shift_matches(kernel, rng):
    xs = edge_ints(rng, 64, N)
    for x in xs:
        s = int(rng.integers(0, 63))
        assert kernel.fx_rhu_shift64(x, s) == fixed.rhu_shift(x, s), (x, s)


def test_rhu_div_matches(kernel, rng):
    for a in edge_ints(rng, 62, N):
        b = max(1, abs(edge_ints(rng, 40, 1)[0]))
        assert kernel.fx_rhu_div(a, b) == fixed.rhu(a, b), (a, b)
    assert kernel.fx_rhu_div(I64[0], 3) == fixed.rhu(I64[0], 3)
    assert kernel.fx_rhu_div(I64[1], I64[1]) == 1


def test_udiv64_hand_cases():
    assert fixed.udiv64(7, 2) == (3, 1) and fixed.udiv64((1 << 64) - 1, 1 << 32) == ((1 << 32) - 1, (1 << 32) - 1)
    assert fixed.udiv64(99, 0) == ((1 << 64) - 1, 99)
    with pytest.raises(ValueError):
        fixed.udiv64(-1, 3)


def test_udiv64_matches(kernel, rng):
    """The kernel's one 64-bit division (in place of libgcc's) against fixed.udiv64: both
    paths (32-bit operands: hardware divide; wider: shift-subtract), the extremes, d = 0."""
    import ctypes
    U64 = (1 << 64) - 1
    cases = [(U64, 1), (U64, U64), (U64 - 1, U64), (U64, 2), (1 << 63, 3), ((1 << 32) - 1, (1 << 32) - 1),
             (1 << 32, (1 << 32) - 1), (5, 1 << 40), (0, 7), (1 << 62, 1 << 31), (U64, (1 << 63) + 1)]
    for _ in range(N):
        bn, bd = int(rng.integers(1, 65)), int(rng.integers(1, 65))
        cases.append((int(rng.integers(0, 1 << 62)) >> max(0, 62 - bn) << max(0, bn - 62) & U64,
                      max(1, int(rng.integers(1, 1 << 62)) >> max(0, 62 - bd) << max(0, bd - 62) & U64)))
    for n, d in cases:
        rem = ctypes.c_uint64(12345)
        assert (kernel.fx_udiv64(n, d, ctypes.byref(rem)), rem.value) == fixed.udiv64(n, d), (n, d)
        assert kernel.fx_udiv64(n, d, None) == fixed.udiv64(n, d)[0]
    rem = ctypes.c_uint64(0)
    assert (kernel.fx_udiv64(99, 0, ctypes.byref(rem)), rem.value) == fixed.udiv64(99, 0)


@pytest.mark.parametrize("name,bits,ref", [
    ("fx_sat32", 64, fixed.sat32), ("fx_sat16", 64, fixed.sat16), ("fx_sat16_32", 32, fixed.sat16),
    ("fx_sat8", 64, fixed.sat8)])
def test_saturate(kernel, rng, name, bits, ref):
    fn = getattr(kernel, name)
    for x in edge_ints(rng, bits, N) + edge_ints(rng, min(bits, 33), N // 4) + edge_ints(rng, 17, N // 4):
        assert fn(x) == ref(x), x


@pytest.mark.parametrize("name,bits,op,sat", [
    ("fx_add_sat16", 16, lambda a, b: a + b, fixed.sat16),
    ("fx_sub_sat16", 16, lambda a, b: a - b, fixed.sat16),
    ("fx_mul_sat16", 16, lambda a, b: a * b, fixed.sat16),
    ("fx_add_sat32", 32, lambda a, b: a + b, fixed.sat32),
    ("fx_sub_sat32", 32, lambda a, b: a - b, fixed.sat32),
])
def test_saturating_ops(kernel, rng, name, bits, op, sat):
    fn = getattr(kernel, name)
    for a, b in zip(edge_ints(rng, bits, N), edge_ints(rng, bits, N)):
        assert fn(a, b) == sat(op(a, b)), (a, b)


def test_q_format(kernel, rng):
    for x in edge_ints(rng, 32, N):
        q, q2 = int(rng.integers(-2, 33)), int(rng.integers(-2, 33))
        assert kernel.fx_q_from_int(x, q) == fixed.q_from_int(x, q), (x, q)
        qf, qt = fixed.clamp(q, 0, 30), fixed.clamp(q2, 0, 30)
        assert kernel.fx_q_rescale(x, qf, qt) == fixed.q_rescale(x, qf, qt), (x, qf, qt)


def test_requant_hi_k_selects_the_three_instruction_form(kernel):
    """k = -1 - shift for the valid shifts <= -2 (scales below 1/2), 0 for the others."""
    for shift in range(-40, 40):
        want = -1 - shift if fixed.SHIFT_MIN <= shift <= -2 else 0
        assert kernel.fx_requant_hi_k(shift) == want, shift


def test_requant_matches(kernel, rng):
    accs = edge_ints(rng, 32, N)
    for acc in accs:
        mult = int(rng.choice([0, fixed.MULT_MIN, fixed.INT32_MAX, int(rng.integers(1 << 30, 1 << 31))]))
        shift = int(rng.integers(fixed.SHIFT_MIN, fixed.SHIFT_MAX + 1))
        want = fixed.requant(acc, mult, shift)
        assert kernel.fx_requant(acc, mult, shift) == want, (acc, mult, shift)
        assert kernel.fx_requant_fast(acc, mult, shift) == want, (acc, mult, shift)
        lo, hi = sorted(int(v) for v in rng.integers(-32768, 32768, size=2))
        assert kernel.fx_requant_s16(acc, mult, shift, lo, hi) == fixed.clamp(want, lo, hi)
        lo8, hi8 = sorted(int(v) for v in rng.integers(-128, 128, size=2))
        assert kernel.fx_requant_s8(acc, mult, shift, lo8, hi8) == fixed.clamp(want, lo8, hi8)


def test_requant_np_matches_scalar(rng):
    import numpy as np
    acc = np.array(edge_ints(rng, 32, 500), dtype=np.int64)
    mult = rng.integers(1 << 30, 1 << 31, size=500)
    shift = rng.integers(fixed.SHIFT_MIN, fixed.SHIFT_MAX + 1, size=500)
    got = fixed.requant_np(acc, mult, shift)
    assert [int(v) for v in got] == [fixed.requant(int(a), int(m), int(s)) for a, m, s in zip(acc, mult, shift)]


def test_requant_check(kernel):
    assert kernel.fx_requant_check(0, 0) == 0
    assert kernel.fx_requant_check(1 << 30, -31) == 0
    for mult, shift in [(1, 0), ((1 << 30) - 1, 0), (-5, 0), (1 << 30, 31), (1 << 30, -32)]:
        assert kernel.fx_requant_check(mult, shift) == -5            # FX_ERR_PARAM
        with pytest.raises(ValueError):
            fixed.requant_check(mult, shift)


@pytest.mark.parametrize("scale", [1.0, 0.5, 0.3, 1e-6, 3.7, 1234.5, 2.0 ** -30])
def test_quantize_multiplier(scale):
    mult, shift = fixed.quantize_multiplier(scale)
    fixed.requant_check(mult, shift)
    assert abs(mult * 2.0 ** (shift - 31) - scale) <= scale * 2.0 ** -30
    # requant of a large accumulator matches the float product to within one unit
    acc = 1 << 20
    assert abs(fixed.requant(acc, mult, shift) - acc * scale) <= 1


def test_quantize_multiplier_rejects():
    for bad in (-1.0, float("nan"), float("inf"), 2.0 ** 40):
        with pytest.raises(ValueError):
            fixed.quantize_multiplier(bad)
