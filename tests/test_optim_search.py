"""The box search of the optimizer (docs/optimizer.md section 4): its plane and the trial order
of its moves, C against the Python reference and by hand."""
from __future__ import annotations

import ctypes as C

import numpy as np

from fxlearn import native, optim


def test_box_order_by_hand():
    # radius 1, direction (+, 0): ring 1 only, (1, *) first (aligned with d), then (0, *), then (-1, *)
    moves = optim.box_moves(1, 5, 0)
    assert moves == [(1, -1), (1, 0), (1, 1), (0, -1), (0, 1), (-1, -1), (-1, 0), (-1, 1)]
    moves = optim.box_moves(2, 1, 2)
    assert len(moves) == 24 and moves[0] == (1, 1) and moves[7] == (-1, -1)
    assert all(max(abs(a), abs(b)) == 2 for a, b in moves[8:])


def test_box_plane_ties():
    assert optim.box_plane(np.array([5, 3, 5])) == (0, 2)
    assert optim.box_plane(np.array([3, -5, 5])) == (1, 2)
    assert optim.box_plane(np.array([-7])) == (0, 0)


def test_kernel_box_matches(kernel, rng):
    for _ in range(300):
        n = int(rng.integers(1, 9))
        d = np.ascontiguousarray(rng.choice([-(1 << 31), -3, 0, 3, 7, (1 << 31) - 1], n) if rng.random() < 0.3
                                 else rng.integers(-1000, 1000, n), dtype=np.int32)
        j1, j2 = C.c_uint32(), C.c_uint32()
        kernel.fx_optim_box_plane(native.ptr(d, C.c_int32), n, C.byref(j1), C.byref(j2))
        assert (j1.value, j2.value) == optim.box_plane(d.astype(np.int64))
        r = int(rng.integers(1, 4))
        d1, d2 = int(d[j1.value]), int(d[j2.value])
        a, b = C.c_int8(), C.c_int8()
        for line in (0, 1):
            got = []
            for k in range((2 * r + 1) ** 2 - 1):
                assert kernel.fx_optim_box_move_ordered(r, line, d1, d2, k, C.byref(a), C.byref(b)) == 0
                got.append((a.value, b.value))
                if not line:
                    assert kernel.fx_optim_box_move(r, d1, d2, k, C.byref(a), C.byref(b)) == 0
                    assert (a.value, b.value) == got[-1]
            assert got == optim.box_moves(r, d1, d2, bool(line))
    assert kernel.fx_optim_box_move(1, 0, 0, 8, C.byref(a), C.byref(b)) == -5      # k past the box
    assert kernel.fx_optim_box_move(4, 0, 0, 0, C.byref(a), C.byref(b)) == -5      # radius > 3
    assert kernel.fx_optim_box_move_ordered(1, 2, 5, 0, 0, C.byref(a), C.byref(b)) == -5   # unknown order
    assert kernel.fx_optim_box_move_ordered(1, 1, 5, 0, 0, None, C.byref(b)) == -1


def test_box_line_order_by_hand():
    # d = (5, 0): |a d2 - b d1| = 5 |b|, so the moves on the line (b = 0) first, along d first
    assert optim.box_moves(1, 5, 0, line=True) == [(1, 0), (-1, 0), (1, -1), (1, 1), (0, -1), (0, 1),
                                                   (-1, -1), (-1, 1)]
    # d = (3, 2): the ring-3 moves (3, 2) and (-3, -2) lie on the line of d: they come before ring 1
    moves = optim.box_moves(3, 3, 2, line=True)
    assert moves[:2] == [(3, 2), (-3, -2)] and len(moves) == 48 and set(moves) == set(optim.box_moves(3, 3, 2))
    # then at |a d2 - b d1| = 1: (1, 1), (-1, -1) in ring 1 (along d first), then (2, 1), (-2, -1) in ring 2
    assert moves[2:6] == [(1, 1), (-1, -1), (2, 1), (-2, -1)]
