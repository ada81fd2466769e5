"""Activations and decisions (docs/kernel.md section 5): ReLU, argmax with ties, and the snap to
an ascending level table, C against the Python reference bit for bit; error paths."""
from __future__ import annotations

import ctypes as C

import numpy as np
import pytest

from fxlearn import act, native

FX_OK, FX_ERR_NULL, FX_ERR_SHAPE, FX_ERR_PARAM = 0, -1, -2, -5
I16 = (-32768, 32767)


def p16(a):
    return native.ptr(a, C.c_int16)


def random_vector(rng, n):
    mode = rng.integers(3)
    if mode == 0:
        return rng.integers(*I16, endpoint=True, size=n)
    if mode == 1:
        return rng.choice([I16[0], I16[1], 0, -1, 1], size=n)
    return rng.integers(-4, 5, size=n)                    # many ties


def random_levels(rng):
    n = int(rng.integers(1, 20))
    if rng.integers(2):
        pool = rng.integers(*I16, endpoint=True, size=4 * n)
    else:
        pool = rng.integers(-50, 51, size=4 * n)
    extra = [[I16[0]], [I16[1]], []][int(rng.integers(3))]
    lv = np.unique(np.concatenate([pool, extra]).astype(np.int64))
    return lv[:n] if rng.integers(2) else lv[-n:]


def test_relu_matches(kernel, rng):
    """1,000 vectors, in one call (ReLU is elementwise) and one call each."""
    xs = [random_vector(rng, int(rng.integers(1, 50))) for _ in range(1000)]
    flat = np.ascontiguousarray(np.concatenate(xs), dtype=np.int16)
    assert kernel.fx_relu_s16(p16(flat), len(flat)) == FX_OK
    assert (flat == act.relu(np.concatenate(xs))).all()
    for x in xs[:200]:
        v = np.ascontiguousarray(x, dtype=np.int16)
        assert kernel.fx_relu_s16(p16(v), len(v)) == FX_OK and (v == act.relu(x)).all()
    assert act.relu([-32768, -1, 0, 5]).tolist() == [0, 0, 0, 5]


def test_argmax_matches_with_ties(kernel, rng):
    idx = C.c_uint32()
    for _ in range(1500):
        x = random_vector(rng, int(rng.integers(1, 40)))
        v = np.ascontiguousarray(x, dtype=np.int16)
        assert kernel.fx_argmax_s16(p16(v), len(v), C.byref(idx)) == FX_OK
        assert idx.value == act.argmax(x) == int(np.flatnonzero(x == x.max())[0])
    assert act.argmax([[3, 7, 7, 1], [-5, -5, -5, -5]]).tolist() == [1, 0]


def test_snap_matches(kernel, rng):
    for _ in range(1500):
        lv = random_levels(rng)
        x = np.concatenate([random_vector(rng, int(rng.integers(1, 30))), lv, lv[:-1] + np.diff(lv) // 2,
                            (lv[:-1] + lv[1:] + 1) // 2])    # the levels, and (near-)midpoints
        x = np.clip(x, *I16)
        ref = act.snap(x, lv)
        v = np.ascontiguousarray(x, dtype=np.int16)
        assert kernel.fx_snap_s16(p16(v), len(v), p16(np.ascontiguousarray(lv, np.int16)), len(lv)) == FX_OK
        assert (v == ref).all(), (lv, x)
        # the reference: a level, and no level is strictly closer
        dist = np.abs(x[:, None] - lv[None, :])
        assert np.isin(ref, lv).all() and (np.abs(ref - x) == dist.min(axis=1)).all()


def test_snap_hand_cases():
    assert act.snap([-5, 0, 1, 2, 3, 4, 100], [0, 4]).tolist() == [0, 0, 0, 4, 4, 4, 4]
    assert act.snap([-32768, 32767], [-1, 1]).tolist() == [-1, 1]
    assert act.snap([5, 6, 7], [0, 1, 2, 3, 4, 6, 8, 10]).tolist() == [6, 6, 8]   # 5 and 7: ties go up
    assert act.snap([7], [7]).tolist() == [7]


def test_errors(kernel):
    x = np.array([1, -2, 3], dtype=np.int16)
    idx = C.c_uint32(99)
    assert kernel.fx_relu_s16(None, 3) == FX_ERR_NULL
    assert kernel.fx_relu_s16(None, 0) == FX_OK
    assert kernel.fx_argmax_s16(p16(x), 0, C.byref(idx)) == FX_ERR_SHAPE and idx.value == 99
    assert kernel.fx_argmax_s16(None, 3, C.byref(idx)) == FX_ERR_NULL
    assert kernel.fx_argmax_s16(p16(x), 3, None) == FX_ERR_NULL
    for bad, status in (([0, 0], FX_ERR_PARAM), ([3, 1], FX_ERR_PARAM), ([1, 2, 2, 5], FX_ERR_PARAM), ([], FX_ERR_SHAPE)):
        lv = np.array(bad + [0], dtype=np.int16)   # one spare element: n_levels excludes it
        assert kernel.fx_levels_check_s16(p16(lv), len(bad)) == status
        assert kernel.fx_snap_s16(p16(x), 3, p16(lv), len(bad)) == status
        with pytest.raises(ValueError):
            act.snap([1], bad)
    assert x.tolist() == [1, -2, 3]
    assert kernel.fx_snap_s16(p16(x), 3, None, 2) == FX_ERR_NULL
    assert kernel.fx_snap_s16(None, 3, p16(np.array([0, 1], np.int16)), 2) == FX_ERR_NULL
    for bad in ([[0, 1]], [0.5, 1.0], [0, 40000]):
        with pytest.raises(ValueError):
            act.check_levels(bad)
    with pytest.raises(ValueError):
        act.argmax(np.zeros((2, 0)))
