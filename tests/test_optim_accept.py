"""fx_optim_accept: commit's state change when the caller keeps the trial as its point
(fx_train_finish); refused when the optimizer keeps per-parameter memory."""
import ctypes as C

import numpy as np
import pytest

from fxlearn import native, optim

FX_OK, FX_ERR_NULL, FX_ERR_PARAM, FX_ERR_STATE = 0, -1, -5, -9


@pytest.fixture
def accept(kernel):
    native.declare("fx_optim_accept", C.c_int, [C.POINTER(optim.FxOptim)])
    return kernel.fx_optim_accept


def run(opt: optim.NativeOptimizer, accept_fn, x: np.ndarray, d: np.ndarray, steps: int) -> list:
    """Direction, propose, report a lower objective, then accept (or commit); the trials."""
    trials = []
    for k in range(steps):
        opt.direction(1000 - 10 * k)
        trial = opt.propose(x, d)
        assert trial is not None and opt.report(990 - 10 * k)
        if accept_fn is None:
            opt.commit(x, d)
        else:
            assert accept_fn(C.byref(opt._o)) == FX_OK
            x[:] = trial
        trials.append(trial.copy())
    return trials


def test_accept_equals_commit_when_the_caller_keeps_the_trial(kernel, accept, rng):
    cfg = optim.OptimConfig(q=12, dir_q=20, z_max=300, policy=optim.ADAPT)
    d = rng.integers(-(1 << 22), 1 << 22, 50).astype(np.int32)
    x0 = rng.integers(-3000, 3000, 50).astype(np.int16)
    xa, xc = x0.copy(), x0.copy()
    a = optim.NativeOptimizer(cfg, 50, kernel)
    c = optim.NativeOptimizer(cfg, 50, kernel)
    ta, tc = run(a, accept, xa, d, 4), run(c, None, xc, d, 4)
    assert all(np.array_equal(u, v) for u, v in zip(ta, tc))
    assert np.array_equal(xa, xc) and not np.array_equal(xa, x0)
    assert a.stats == c.stats


@pytest.mark.parametrize("kw", [{"rounding": optim.ERROR_FEEDBACK}, {"pattern": True}])
def test_accept_refused_with_per_parameter_memory(kernel, accept, kw):
    opt = optim.NativeOptimizer(optim.OptimConfig(q=8, **kw), 3, kernel)
    x, d = np.zeros(3, np.int32), np.array([1 << 20, 0, -(1 << 19)], np.int32)
    opt.direction(100)
    assert opt.propose(x, d) is not None and opt.report(0)
    assert accept(C.byref(opt._o)) == FX_ERR_PARAM
    opt.commit(x, d)                       # still pending: commit goes through
    assert accept(C.byref(opt._o)) == FX_ERR_STATE


def test_accept_state_and_null(kernel, accept):
    opt = optim.NativeOptimizer(optim.OptimConfig(q=8), 2, kernel)
    assert accept(None) == FX_ERR_NULL
    assert accept(C.byref(opt._o)) == FX_ERR_STATE           # no trial yet
    opt.direction(100)
    assert opt.propose(np.zeros(2, np.int32), np.array([1 << 20, 3], np.int32)) is not None
    assert accept(C.byref(opt._o)) == FX_ERR_STATE           # not reported
    assert not opt.report(200)
    assert accept(C.byref(opt._o)) == FX_ERR_STATE           # idle: nothing to accept
