"""The orthogonal compensation vector of eq. (12)-(24) (docs/optimizer.md section 5): the integer
quotient/remainder formula against exact rational arithmetic, orthogonality, ties, the zero
vector, and the C kernel bit for bit."""
from __future__ import annotations

import ctypes as C
import math
from fractions import Fraction

import numpy as np
import pytest

from fxlearn import native, optim

FX_ERR_NULL, FX_ERR_SHAPE, FX_ERR_PARAM = -1, -2, -5


def exact_c(v, q):
    """c = [Qp |v|^2 / v_m^2] in exact rational arithmetic (the identity the formula satisfies)."""
    v = [int(a) for a in v]
    vm = max(v, key=abs)
    return math.floor(Fraction((1 << q) * sum(a * a for a in v), vm * vm) + Fraction(1, 2))


def random_vectors(rng, count):
    """Random int32 vectors: small, large, with ties of the largest magnitude, extremes."""
    out = []
    for k in range(count):
        n = int(rng.integers(1, 9))
        kind = k % 4
        if kind == 0:
            v = rng.integers(-20, 21, n)
        elif kind == 1:
            v = rng.integers(-(1 << 31), 1 << 31, n)
        elif kind == 2:                        # ties: the largest magnitude twice, both signs
            v = rng.integers(-50, 51, n + 1)
            v[int(rng.integers(0, n + 1))] = -v[0] if v[0] else 7
            v[0] = v[0] if v[0] else -7
        else:
            v = rng.choice([-(1 << 31), (1 << 31) - 1, -1, 0, 1, 3], n)
        if not np.any(v):
            v[0] = 1
        out.append(np.asarray(v, dtype=np.int64))
    return out


def c_coef(kernel, v, q):
    a = np.ascontiguousarray(v, dtype=np.int32)
    m, c = C.c_uint32(), C.c_int64()
    st = kernel.fx_optim_comp_coef(native.ptr(a, C.c_int32), len(a), q, C.byref(m), C.byref(c))
    return st, m.value, c.value


def test_hand_case():
    # v = (3, -4): m = 1, Qp = 16: c = 16*9//16 + 16*16//16 + [0 + 0] = 9 + 16 = 25
    m, c = optim.comp_coef([3, -4], 4)
    assert (m, c) == (1, 25)
    assert optim.comp_vector([3, -4], 4) == [48, (16 - 25) * -4]          # (48, 36): 3*48 - 4*36 = 0
    # remainders: v = (1, 3), Qp = 2: 2/9 -> 0 rem 2, 18/9 = 2 rem 0: c = 2 + [2/9] = 2
    assert optim.comp_coef([1, 3], 1) == (1, 2)
    # ties of |v_m|: the lowest index wins
    assert optim.comp_coef([-5, 5, 2], 3)[0] == 0


def test_formula_equals_rounded_ratio_and_is_orthogonal(rng):
    for v in random_vectors(rng, 400):
        q = int(rng.integers(1, 25))
        m, c = optim.comp_coef(v, q)
        assert c == exact_c(v, q)
        mags = np.abs(v)
        assert m == int(np.flatnonzero(mags == mags.max())[0])
        z = optim.comp_vector(v, q)
        dot = sum(int(a) * b for a, b in zip(v, z))
        vm2 = int(v[m]) ** 2
        assert abs(dot) * 2 <= vm2, (v, q)                           # |<v, Z>| <= v_m^2 / 2
        # no integer c' does better
        for c2 in (c - 1, c + 1):
            assert abs(((1 << q) * sum(int(a) ** 2 for a in v)) - c2 * vm2) >= abs(dot)


def test_zero_and_empty_vectors_are_errors():
    with pytest.raises(ValueError, match="all-zero"):
        optim.comp_coef([0, 0, 0], 8)
    with pytest.raises(ValueError, match="zero-length"):
        optim.comp_coef([], 8)
    with pytest.raises(ValueError, match="q ="):
        optim.comp_coef([1, 2], 25)


def test_kernel_coef_matches(kernel, rng):
    for v in random_vectors(rng, 400):
        q = int(rng.integers(1, 25))
        assert c_coef(kernel, v, q) == (0, *optim.comp_coef(v, q)), (v, q)


def test_kernel_vector_matches(kernel, rng):
    for v in random_vectors(rng, 200):
        q = int(rng.integers(1, 25))
        a = np.ascontiguousarray(v, dtype=np.int32)
        z = np.zeros(len(a), np.int64)
        st = kernel.fx_optim_comp_vector(native.ptr(a, C.c_int32), len(a), q, native.ptr(z, C.c_int64))
        want = optim.comp_vector(v, q)
        if all(-(1 << 63) <= w < (1 << 63) for w in want):
            assert st == 0 and z.tolist() == want, (v, q)
        else:
            assert st == FX_ERR_PARAM


def test_kernel_errors(kernel):
    assert c_coef(kernel, np.zeros(4, np.int64), 8)[0] == FX_ERR_PARAM
    assert c_coef(kernel, [1, 2], 0)[0] == FX_ERR_PARAM
    assert c_coef(kernel, [1, 2], 25)[0] == FX_ERR_PARAM
    a = np.ones(1, np.int32)
    m, c = C.c_uint32(), C.c_int64()
    assert kernel.fx_optim_comp_coef(native.ptr(a, C.c_int32), 0, 8, C.byref(m), C.byref(c)) == FX_ERR_SHAPE
    assert kernel.fx_optim_comp_coef(None, 1, 8, C.byref(m), C.byref(c)) == FX_ERR_NULL


def test_direction_component(kernel, rng):
    """zc_m = sat32(rhu((Qp - c) v_m / Qp)) through the split c = c_hi Qp + c_lo."""
    for _ in range(2000):
        q = int(rng.integers(1, 25))
        vm = int(rng.integers(-(1 << 31), 1 << 31))
        c = int(rng.integers(0, (1 << q) * int(rng.integers(1, 1 << 12))))
        exact = Fraction(((1 << q) - c) * vm, 1 << q)
        want = max(-(1 << 31), min((1 << 31) - 1, int((exact + Fraction(1, 2)) // 1)))
        assert optim.comp_direction_m(vm, c, q) == want
        assert kernel.fx_optim_comp_direction_m(vm, c, q) == want


def test_udiv_shl(kernel, rng):
    """min(cap, floor(a 2^s / b)) and the remainder, for 64-bit a, b: the restoring division."""
    for _ in range(2000):
        a = int(rng.integers(0, 1 << 63)) >> int(rng.integers(0, 63))
        b = max(1, int(rng.integers(0, 1 << 63)) >> int(rng.integers(0, 63)))
        s = int(rng.integers(0, 40))
        cap = (1 << 64) - 1 if rng.random() < 0.5 else int(rng.integers(1, 1 << 31))
        rem = C.c_uint64(12345)
        got = kernel.fx_optim_udiv_shl(a, b, s, cap, C.byref(rem))
        q, r = divmod(a << s, b)
        assert got == min(q, cap)
        if q <= cap:
            assert rem.value == r

