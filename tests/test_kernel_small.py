"""The small-flash kernel profile (`make lib-small`, the flags bluepill_f103c8's firmware is
built with: FX_OPTIM_LATTICE=0): the optimizer's lattice search is compiled out, its options
are refused with FX_ERR_PARAM, and everything else gives the same integers as the Python
reference, as the full kernel does."""
from __future__ import annotations

import numpy as np
import pytest

from fxlearn import native, optim, train
from fxlearn.optim import KernelError

from test_optim import Problem, drive, random_config

LATTICE = dict(min_lsb=True, ray=2, pattern=True, expand=1, box=1, box_line=True, ray_far=1)


@pytest.fixture(scope="module")
def small():
    return native.load_variant("lib-small")


@pytest.mark.parametrize("option", list(LATTICE))
def test_lattice_options_are_refused(small, kernel, option):
    cfg = optim.OptimConfig(q=8, **{option: LATTICE[option]})
    with pytest.raises(KernelError, match="-5"):            # FX_ERR_PARAM
        optim.NativeOptimizer(cfg, 4, small)
    optim.NativeOptimizer(cfg, 4, kernel)                   # the full kernel takes it


def test_the_rest_matches_the_reference(small, rng):
    for case in range(60):
        n = int(rng.integers(1, 9))
        cfg = optim.OptimConfig(**{**random_config(rng, n).__dict__, **{k: 0 for k in LATTICE}})
        seed = int(rng.integers(0, 1 << 31))
        dtype = np.int16 if case % 2 else np.int32
        lo, hi = (-(1 << 15), (1 << 15) - 1) if dtype == np.int16 else (-(1 << 24), 1 << 24)
        x0 = rng.integers(lo, hi, n).astype(dtype)
        logs = []
        for make in (lambda: optim.Optimizer(cfg, n), lambda: optim.NativeOptimizer(cfg, n, small)):
            log = []
            drive(make(), Problem(np.random.default_rng(seed), n, lo, hi), x0, 40, case % 3 == 0, log)
            logs.append(log)
        assert logs[0] == logs[1], (case, cfg)


def test_training_steps_match_the_reference(small, digits_batches):
    """The C trainer of the small kernel against train.Trainer: the on-device training path."""
    model, p, theta, cfg, batches = digits_batches
    ref = train.Trainer(model, p, theta, optim.Optimizer(cfg, len(theta)))
    c = train.CTrainer(small, train.from_float(*_weights(), train.FixedPointDesign()), p, theta, cfg)
    accepted = 0
    for x, y in batches:
        st = ref.step(x, y)
        assert c.step(x, y) == st
        accepted += st.accepted
    assert accepted > 0
    assert np.array_equal(c.model().layers[-1].weight, ref.model.layers[-1].weight)


def _weights():
    rng = np.random.default_rng(3)
    return [rng.normal(0, 0.2, (16, 64)), rng.normal(0, 0.3, (10, 16))], [np.zeros(16), np.zeros(10)]


@pytest.fixture
def digits_batches():
    from fxlearn import data
    ds = data.load("digits")
    design = train.FixedPointDesign()
    model = train.from_float(*_weights(), design)
    p, theta = train.plan(model, design.act_scales(2), 0, 16, q=design.q, dir_q=design.dir_q, x_max=4096)
    cfg = train.optimizer_config(0.5, q=design.q, dir_q=design.dir_q, ortho=2, rounding=optim.STOCHASTIC)
    x = train.quantize_input(ds.x_train[:96], model.input_scale)
    batches = [(x[i:i + 16], ds.y_train[i:i + 16]) for i in range(0, 96, 16)]
    return model, p, theta, cfg, batches
