"""The quantized optimizer (docs/optimizer.md): Idle and Go by hand, the step schedule, bad
configuration and call order, "never accepts an increase", and the C kernel against the Python
reference bit for bit on randomized problems and configurations (int16 and int32 parameters,
every rounding mode, schedule, policy and search phase, full-batch and mini-batch use)."""
from __future__ import annotations

import ctypes as C

import numpy as np
import pytest

from fxlearn import native, optim

FX_ERR_NULL, FX_ERR_SHAPE, FX_ERR_PARAM, FX_ERR_BUFFER, FX_ERR_STATE = -1, -2, -5, -6, -9
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1


# ------------------------------------------------------------------------------ by hand

def test_first_trial_is_the_rounded_full_step():
    # q = 4, dir_q = 4: d = (24, -9) is h = (1.5, -0.5625); z = Qp = 16 (lambda = 1): S = rhu(16 d / 16) = d
    opt = optim.Optimizer(optim.OptimConfig(q=4), 2)
    opt.direction(1000, 0)
    x = np.array([100, 100], np.int32)
    assert opt.propose(x, [24, -9]).tolist() == [76, 109]
    assert not opt.report(1000)                     # equal objective: idle (phi >= 1)
    # halving: z = 8 -> rhu(8 * 24 / 16) = 12, rhu(8 * -9 / 16) = rhu(-4.5) = -4 (half up)
    assert opt.propose(x, [24, -9]).tolist() == [88, 104]
    assert opt.report(999)                          # one unit lower: go
    opt.commit(x, [24, -9])
    assert x.tolist() == [88, 104]
    assert opt.stats.as_dict() == dict(evals=2, go=1, idle=1, search=0, ortho=0, skips=0, stalls=0, directions=1)


def test_a_repeat_of_the_first_trial_is_skipped(kernel):
    """The first trial's fingerprint is taken only when a second candidate needs it (the C
    kernel defers it on the int16 RHU path): z = 16 and z = 8 give the same step here (every
    d_i / 16 is in [1, 1.5), so both round to 1), so the second is skipped, not evaluated."""
    cfg = optim.OptimConfig(q=4, dir_q=8)
    d = [17, 18, 20]                          # at z = 16: 1.06..1.25 -> 1; at z = 8: 0.53..0.63 -> 1
    for opt in (optim.Optimizer(cfg, 3), optim.NativeOptimizer(cfg, 3, kernel)):
        opt.direction(100, 0)
        x = np.array([5, -7, 9], np.int16)
        assert opt.propose(x, d).tolist() == [4, -8, 8]
        assert not opt.report(100)            # idle
        trial = opt.propose(x, d)             # z = 8: the same step (skipped), then z = 4: 0 -> stalled
        assert trial is None
        assert opt.stats.as_dict() == dict(evals=1, go=0, idle=1, search=0, ortho=0, skips=1, stalls=1,
                                           directions=1)


def test_phi_is_armijo_with_a_floor_of_one(kernel):
    # slope 2^20 objective units at lambda = 1, c1 = 2^-4, z = Qp / 2 -> phi = 2^20 / 2 / 16 = 32768
    cfg = optim.OptimConfig(q=6, z_max=32, c1_shift=4)
    for opt in (optim.Optimizer(cfg, 1), optim.NativeOptimizer(cfg, 1, kernel)):
        opt.direction(0, 1 << 20)
        opt.propose(np.array([0], np.int32), [64])
        assert not opt.report(-32767)
        opt.propose(np.array([0], np.int32), [64])
        assert opt.report(-(1 << 14))              # z = 16 now: phi = 16384


def test_interp_schedule_by_hand():
    # slope 1000 at lambda = 1, trial at z = Qp = 16 rose by 3000: the quadratic through
    # f(0) = 0, f'(0) = -1000, f(1) = 3000 has its minimum at 1000 / (2 * 4000) = 1/8 -> z = 2,
    # clamped to [z / 2^shrink_shift, z / 2] = [4, 8] with shrink_shift 2
    opt = optim.Optimizer(optim.OptimConfig(q=4, schedule=optim.INTERP, shrink_shift=2), 1)
    opt.direction(0, 1000)
    opt.propose(np.array([0], np.int32), [16])
    opt.report(3000)
    assert opt.z == 4
    opt2 = optim.Optimizer(optim.OptimConfig(q=4, schedule=optim.INTERP, shrink_shift=3), 1)
    opt2.direction(0, 1000)
    opt2.propose(np.array([0], np.int32), [16])
    opt2.report(3000)
    assert opt2.z == 2


def test_vanished_step_moves_to_the_search_phases():
    # |z d| < 2^(dir_q - 1) for z = 1: ORD vanishes at once; MINLSB takes the smallest step
    cfg = optim.OptimConfig(q=4, dir_q=20, z_max=1, min_lsb=True)
    opt = optim.Optimizer(cfg, 2)
    opt.direction(10, 0)
    trial = opt.propose(np.array([0, 0], np.int32), [1000, -300])
    assert opt.phase_name == "minlsb" and trial.tolist() == [-1, 0]
    assert not opt.report(10)
    assert opt.propose(np.array([0, 0], np.int32), [1000, -300]) is None      # stalled
    assert opt.stats.stalls == 1


def test_ray_moves_the_largest_component_by_1_2_3_lsb(kernel):
    # dir_q = 8, d = (100, -30): z = 1 vanishes (100/256 < 1/2). The ray's k-th z is the smallest
    # moving component 0 by k LSB: ceil((2k - 1) 256 / 200) = 2, 4, 7 -> steps rhu(z d / 256):
    # z = 2: (0.78, -0.23) -> (1, 0); z = 4: (1.56, -0.47) -> (2, 0); z = 7: (2.73, -0.82) -> (3, -1)
    cfg = optim.OptimConfig(q=4, dir_q=8, z_max=1, ray=3)
    for opt in (optim.Optimizer(cfg, 2), optim.NativeOptimizer(cfg, 2, kernel)):
        x, d = np.array([0, 0], np.int32), np.array([100, -30], np.int32)
        opt.direction(10, 0)
        trials = []
        while (t := opt.propose(x, d)) is not None:
            trials.append(t.tolist())
            assert not opt.report(10)
        assert trials == [[-1, 0], [-2, 0], [-3, 1]]
        assert opt.stats.as_dict() == dict(evals=3, go=0, idle=3, search=3, ortho=0, skips=0, stalls=1, directions=1)
    # ray 1 + ray_far 2: the same steps, the last two in phase FAR (after the empty box)
    cfg = optim.OptimConfig(q=4, dir_q=8, z_max=1, ray=1, ray_far=2)
    for opt in (optim.Optimizer(cfg, 2), optim.NativeOptimizer(cfg, 2, kernel)):
        x, d = np.array([0, 0], np.int32), np.array([100, -30], np.int32)
        opt.direction(10, 0)
        trials = []
        while (t := opt.propose(x, d)) is not None:
            trials.append((t.tolist(), getattr(opt, "phase_name", None)))
            assert not opt.report(10)
        assert [t for t, _ in trials] == [[-1, 0], [-2, 0], [-3, 1]]
        if isinstance(opt, optim.Optimizer):
            assert [p for _, p in trials] == ["minlsb", "far", "far"]
    # min_lsb alone is the first of them; ray = 1 is the same as min_lsb
    for kw in (dict(min_lsb=True), dict(ray=1), dict(min_lsb=True, ray=1)):
        opt = optim.Optimizer(optim.OptimConfig(q=4, dir_q=8, z_max=1, **kw), 2)
        opt.direction(10, 0)
        assert opt.propose(np.array([0, 0], np.int32), [100, -30]).tolist() == [-1, 0]
        assert not opt.report(10)
        assert opt.propose(np.array([0, 0], np.int32), [100, -30]) is None


def test_error_feedback_carries_the_residual():
    """Steps of 1.3125 LSB (d = -21 in Q8, lambda = 1 at q = 4): round half up moves 1 LSB per
    step (16 after 16 steps), error feedback keeps the sum exact to half an LSB: 16 x 1.3125 = 21."""
    ends = {}
    for mode in (optim.RHU, optim.ERROR_FEEDBACK):
        opt = optim.Optimizer(optim.OptimConfig(q=4, dir_q=8, rounding=mode), 1)
        x = np.array([0], np.int32)
        for it in range(16):
            opt.direction(1000 - it, 0)
            opt.propose(x, [-21])
            assert opt.report(999 - it)
            opt.commit(x, [-21])
            assert abs(int(x[0]) - 1.3125 * (it + 1)) <= (0.5 if mode == optim.ERROR_FEEDBACK else 6)
        ends[mode] = int(x[0])
    assert ends == {optim.RHU: 16, optim.ERROR_FEEDBACK: 21}


# ------------------------------------------------------------------------- errors and order

BAD = [dict(q=0), dict(q=25), dict(dir_q=-1), dict(dir_q=31), dict(z_max=0), dict(z_max=(1 << 30) + 1),
       dict(rounding=3), dict(schedule=2), dict(policy=2), dict(c1_shift=63), dict(shrink_shift=0),
       dict(expand=9), dict(box=4), dict(ortho=3), dict(ray=9), dict(box_line=2), dict(min_lsb=2),
       dict(ray_far=9)]


@pytest.mark.parametrize("bad", BAD, ids=lambda b: "-".join(f"{k}{v}" for k, v in b.items()))
def test_bad_configuration(kernel, bad):
    cfg = optim.OptimConfig(**{"q": 8, **bad})
    with pytest.raises(ValueError):
        optim.Optimizer(cfg, 3)
    with pytest.raises(optim.KernelError) as e:
        optim.NativeOptimizer(cfg, 3, kernel)
    assert e.value.status == FX_ERR_PARAM


def test_bad_sizes_and_buffers(kernel):
    for n in (0, (1 << 24) + 1):
        with pytest.raises(ValueError, match="parameters outside"):
            optim.Optimizer(optim.OptimConfig(q=8), n)
        with pytest.raises(optim.KernelError) as e:
            optim.NativeOptimizer(optim.OptimConfig(q=8), n, kernel)
        assert e.value.status == FX_ERR_SHAPE
    ccfg = optim.native_config(optim.OptimConfig(q=8, rounding=optim.ERROR_FEEDBACK, pattern=True))
    o = optim.FxOptim()
    work = np.zeros(8, np.int32)
    assert kernel.fx_optim_work_len(C.byref(ccfg), 4) == 8
    assert kernel.fx_optim_init(C.byref(o), C.byref(ccfg), 0, native.ptr(work, C.c_int32), 8) == FX_ERR_SHAPE
    assert kernel.fx_optim_init(C.byref(o), C.byref(ccfg), 4, native.ptr(work, C.c_int32), 7) == FX_ERR_BUFFER
    assert kernel.fx_optim_init(C.byref(o), C.byref(ccfg), 4, None, 8) == FX_ERR_NULL
    assert kernel.fx_optim_init(None, C.byref(ccfg), 4, native.ptr(work, C.c_int32), 8) == FX_ERR_NULL
    ccfg._pad[3] = 1
    assert kernel.fx_optim_init(C.byref(o), C.byref(ccfg), 4, native.ptr(work, C.c_int32), 8) == FX_ERR_PARAM


def test_call_order(kernel):
    x, d = np.zeros(2, np.int32), np.array([100, 50], np.int32)
    ref = optim.Optimizer(optim.OptimConfig(q=4), 2)
    nat = optim.NativeOptimizer(optim.OptimConfig(q=4), 2, kernel)
    for opt in (ref, nat):
        err = RuntimeError if opt is ref else optim.KernelError
        with pytest.raises(err):
            opt.propose(x, d)                       # no direction yet
        with pytest.raises(err):
            opt.report(0)
        opt.direction(5, 0)
        with pytest.raises(err):
            opt.commit(x, d)                        # nothing accepted
        with pytest.raises(ValueError if opt is ref else optim.KernelError):
            opt.direction(5, -1)                    # negative slope
        opt.propose(x, d)
        with pytest.raises(err):
            opt.direction(5, 0)                     # trial pending
        opt.report(0)
        with pytest.raises(err):
            opt.propose(x, d)                       # go must be committed first


def test_trial_aliasing_x_is_refused(kernel):
    nat = optim.NativeOptimizer(optim.OptimConfig(q=4), 2, kernel)
    nat.direction(5, 0)
    x, d = np.zeros(2, np.int32), np.array([100, 50], np.int32)
    st = kernel.fx_optim_propose_s32(C.byref(nat._o), native.ptr(x, C.c_int32), native.ptr(d, C.c_int32),
                                     native.ptr(x, C.c_int32))
    assert st == FX_ERR_PARAM


# ------------------------------------------------------------------ never accepts an increase

def test_never_accepts_an_increase(kernel, rng):
    edges = [INT64_MIN, INT64_MIN + 1, -1, 0, 1, INT64_MAX - 1, INT64_MAX]
    for trial in range(400):
        cfg = optim.OptimConfig(q=int(rng.integers(1, 25)), c1_shift=int(rng.integers(0, 63)))
        f_x = int(rng.choice(edges)) if trial % 3 == 0 else int(rng.integers(-(1 << 62), 1 << 62))
        f_t = int(rng.choice(edges)) if trial % 2 == 0 else min(INT64_MAX, max(INT64_MIN, f_x + int(rng.integers(-5, 6))))
        slope = int(rng.choice([0, 1, 1 << 40, INT64_MAX]))
        outcomes = []
        for opt in (optim.Optimizer(cfg, 1), optim.NativeOptimizer(cfg, 1, kernel)):
            opt.direction(f_x, slope)
            if opt.propose(np.array([0], np.int32), [1 << 20]) is None:
                outcomes.append(None)
                continue
            outcomes.append(opt.report(f_t))
        assert outcomes[0] == outcomes[1]
        if outcomes[0]:
            assert f_t < f_x


# ------------------------------------------------------------- bit-exact on random problems

def random_config(rng, n: int) -> optim.OptimConfig:
    q = int(rng.integers(1, 25))
    return optim.OptimConfig(
        q=q, dir_q=int(rng.integers(0, 31)), z_max=int(min(1 << 30, max(1, (1 << q) * rng.choice([1, 2, 4]) // 2))),
        rounding=int(rng.integers(0, 3)), schedule=int(rng.integers(0, 2)), policy=int(rng.integers(0, 2)),
        c1_shift=int(rng.choice([0, 4, 13, 40])), shrink_shift=int(rng.integers(1, 9)),
        guess=bool(rng.integers(0, 2)), min_lsb=bool(rng.integers(0, 2)), pattern=bool(rng.integers(0, 2)),
        expand=int(rng.integers(0, 4)), box=int(rng.integers(0, 4)), ortho=int(rng.integers(0, 3)),
        seed=int(rng.integers(0, 1 << 32)), ray=int(rng.choice([0, 0, 2, 8])), box_line=bool(rng.integers(0, 2)),
        ray_far=int(rng.choice([0, 3])))


class Problem:
    """A random convex quadratic on the integers, F(X) = sum_i w_i (X_i - c_i)^2 + coupling, with
    a noisy gradient direction (so idles, stalls and every phase happen)."""

    def __init__(self, rng, n, lo, hi):
        self.w = rng.integers(1, 64, n)
        self.c = rng.integers(lo // 2, hi // 2, n)
        self.k = int(rng.integers(0, 8))
        self.rng = rng
        self.lo, self.hi = lo, hi

    def f(self, X) -> int:
        e = [int(a) - int(b) for a, b in zip(X, self.c)]
        f = sum(int(w) * v * v for w, v in zip(self.w, e)) + self.k * sum(a * b for a, b in zip(e, e[1:]))
        return min(f, INT64_MAX)                    # saturated, as a kernel objective would be

    def direction(self, X, dir_q, q):
        g = 2 * self.w * (X.astype(np.int64) - self.c)
        noise = self.rng.integers(-3, 4, len(X)) * (int(np.abs(g).max()) // 4 + 1)
        shift = dir_q - q - int(self.rng.integers(2, 7))
        h = (g + noise) << shift if shift >= 0 else (g + noise) >> -shift
        d = np.clip(h, -(1 << 31), (1 << 31) - 1).astype(np.int32)
        slope = sum(int(a) * int(b) for a, b in zip(g, d)) >> dir_q     # g . h, h = d / 2^dir_q
        return d, min(max(slope, 0), INT64_MAX)


def drive(opt, prob, x0, steps, minibatch, log):
    """Run an optimizer; log every output. Mini-batch: a new direction every iteration."""
    x = x0.copy()
    cfg = opt.cfg
    d, slope = prob.direction(x, cfg.dir_q, cfg.q)
    opt.direction(prob.f(x), slope)
    for _ in range(steps):
        trial = opt.propose(x, d)
        if trial is None:
            log.append(("stall",))
            d, slope = prob.direction(x, cfg.dir_q, cfg.q)
            opt.direction(prob.f(x), slope)
            continue
        log.append(("trial", trial.tolist()))
        go = opt.report(prob.f(trial))
        log.append(("go", go))
        if go:
            opt.commit(x, d)
            assert np.array_equal(x, trial)
        if go or minibatch:
            d, slope = prob.direction(x, cfg.dir_q, cfg.q)
            opt.direction(prob.f(x), slope)
    log.append(("x", x.tolist(), opt.stats.as_dict()))
    return x


@pytest.mark.parametrize("dtype", [np.int32, np.int16])
def test_kernel_matches_reference_on_random_problems(kernel, rng, dtype):
    lo, hi = (-(1 << 15), (1 << 15) - 1) if dtype == np.int16 else (-(1 << 24), 1 << 24)
    for case in range(60):
        n = int(rng.integers(1, 9))
        cfg = random_config(rng, n)
        seed = int(rng.integers(0, 1 << 31))
        x0 = rng.integers(lo, hi, n).astype(dtype)
        minibatch = bool(case % 3 == 0)
        logs = []
        for make in (lambda: optim.Optimizer(cfg, n), lambda: optim.NativeOptimizer(cfg, n, kernel)):
            prob = Problem(np.random.default_rng(seed), n, lo, hi)
            log = []
            opt = make()
            drive(opt, prob, x0, 40, minibatch, log)
            logs.append(log)
        assert logs[0] == logs[1], (case, cfg)


def test_every_phase_is_exercised_and_matches(kernel, rng):
    """A problem made to stall (the direction points away from the minimum): every search phase
    of the wide configuration gets its trials, identically in C and Python."""
    seen = set()
    for case in range(30):
        n = int(rng.integers(1, 5))
        q = int(rng.integers(3, 12))
        cfg = optim.wide(q, rounding=case % 3, seed=case) if case % 2 else optim.paper(q, ortho=2, seed=case)
        x0 = rng.integers(-500, 500, n).astype(np.int32)
        c = rng.integers(-500, 500, n)
        d = rng.integers(-3000, 3000, n).astype(np.int32)
        logs = []
        for opt in (optim.Optimizer(cfg, n), optim.NativeOptimizer(cfg, n, kernel)):
            x = x0.copy()
            log = []
            f = lambda X: int(np.sum((X.astype(np.int64) - c) ** 2))      # noqa: E731
            opt.direction(f(x), 1000)
            for _ in range(120):
                t = opt.propose(x, d)
                if t is None:
                    log.append("stall")
                    opt.direction(f(x), 1000)
                    continue
                go = opt.report(f(t))
                if isinstance(opt, optim.Optimizer):
                    seen.add(opt.phase_name)
                log.append((t.tolist(), go))
                if go:
                    opt.commit(x, d)
                    opt.direction(f(x), 1000)
            logs.append((log, x.tolist(), opt.stats.as_dict()))
        assert logs[0] == logs[1], case
    assert {"ord", "minlsb", "pattern", "expand", "box", "far", "ortho+", "ortho-"} <= seen


def test_int16_parameters_saturate(kernel):
    cfg = optim.OptimConfig(q=4, z_max=16)
    for opt in (optim.Optimizer(cfg, 2), optim.NativeOptimizer(cfg, 2, kernel)):
        x = np.array([32000, -32000], np.int16)
        opt.direction(10, 0)
        t = opt.propose(x, np.array([-5000, 5000], np.int32))
        assert t.dtype == np.int16 and t.tolist() == [32767, -32768]
        assert opt.report(0)
        opt.commit(x, np.array([-5000, 5000], np.int32))
        assert x.tolist() == [32767, -32768]
