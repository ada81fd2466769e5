"""Rounding of the optimizer's update, its random stream and step fingerprints
(docs/optimizer.md sections 4 and 6): the C kernel against the Python reference, hand cases of
round half up, and the defining property of stochastic rounding (unbiased on average)."""
from __future__ import annotations

import ctypes as C

import numpy as np

from fxlearn import optim

RHU, SR, EF = optim.RHU, optim.STOCHASTIC, optim.ERROR_FEEDBACK


def test_lowbias32_reference_values():
    # the published constants applied by hand to 1: x ^= x>>16 -> 1; *0x7FEB352D; ^>>15; *0x846CA68B; ^>>16
    x = 1
    x = (x * 0x7FEB352D) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x846CA68B) & 0xFFFFFFFF
    x ^= x >> 16
    assert optim.lowbias32(1) == x
    arr = optim.lowbias32(np.array([0, 1, 0xFFFFFFFF], dtype=np.uint32))
    assert arr.tolist() == [optim.lowbias32(0), x, optim.lowbias32(0xFFFFFFFF)]


def test_hashes_and_stream_match_kernel(kernel, rng):
    for _ in range(300):
        v = int(rng.integers(0, 1 << 32))
        assert kernel.fx_optim_lowbias32(v) == optim.lowbias32(v)
        seed, counter = int(rng.integers(0, 1 << 32)), int(rng.integers(0, 1 << 32))
        n = int(rng.integers(1, 50))
        bits = optim.uniform_bits(seed, counter, n)
        i = int(rng.integers(0, n))
        assert kernel.fx_optim_random(seed, counter, i) == int(bits[i])
        step = rng.integers(-(1 << 31), 1 << 31, n)
        total = sum(kernel.fx_optim_hash_term(int(s), j) for j, s in enumerate(step)) & 0xFFFFFFFF
        assert total == optim.step_hash(step)


def c_round(kernel, t, dq, mode, u):
    flag = C.c_int(0)
    return kernel.fx_optim_round_step(t, dq, mode, u, C.byref(flag)), flag.value


def test_round_half_up_hand_cases(kernel):
    # t / 2^dq = -1.5, -0.5, 0.5, 2.5 -> -1, 0, 1, 3 (halves toward +infinity, eq. 4)
    for t, want in ((-3, -1), (-1, 0), (1, 1), (5, 3)):
        assert c_round(kernel, t, 1, RHU, 0) == (want, int(want != 0))
    assert c_round(kernel, 7, 0, RHU, 0) == (7, 1)
    assert c_round(kernel, 1 << 62, 0, RHU, 0) == ((1 << 31) - 1, 1)        # saturated to int32
    # stochastic: floor((t + u) / 2^dq) with u = random >> (32 - dq); the flag is RHU's
    assert c_round(kernel, 1, 2, SR, 0) == (0, 0)                              # 0.25 + 0
    assert c_round(kernel, 1, 2, SR, 3 << 30) == (1, 0)                        # 0.25 + 0.75


def test_round_matches_reference(kernel, rng):
    for _ in range(3000):
        dq = int(rng.integers(0, 31))
        t = int(rng.integers(-(1 << 62), 1 << 62)) >> int(rng.integers(0, 62))
        mode = int(rng.integers(0, 3))
        u = int(rng.integers(0, 1 << 32))
        want = optim.rhu_shift(np.array([t]), dq)[0]
        flag = int(want != 0)
        if mode == SR and dq > 0:
            want = (t + (u >> (32 - dq))) >> dq
        assert c_round(kernel, t, dq, mode, u) == (max(-(1 << 31), min((1 << 31) - 1, int(want))), flag)


def test_stochastic_rounding_is_unbiased():
    """Over the stream, the mean stochastic step of z d / 2^dq is z d / 2^dq (RHU would give 0)."""
    cfg = optim.OptimConfig(q=8, dir_q=12, z_max=256, rounding=SR)
    opt = optim.Optimizer(cfg, 4)
    d = np.array([3, -7, 100, 2047], dtype=np.int64)     # steps 0.19, -0.44, 6.25, 127.9 LSB
    steps = np.array([opt._step(optim._Cand(optim.ORD, 256, counter=k), d)[0] for k in range(4000)])
    exact = 256 * d / 4096
    assert np.all(np.abs(steps.mean(axis=0) - exact) < 0.03)
    assert np.all(steps.min(axis=0) == np.floor(exact)) and np.all(steps.max(axis=0) == np.ceil(exact))
