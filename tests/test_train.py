"""On-device training step: the C kernel (fx_train_step and the streaming calls) against the
Python reference bit for bit over random models, both modes (all layers / a trained suffix /
last layer only), several batches; learning on a small problem; workspace sizes; error paths."""
from __future__ import annotations

import ctypes as C
import math

import numpy as np
import pytest

from fxlearn import fixed, native, optim, quant, train
from fxlearn.mlp import IntLayer, IntModel

FX_OK, FX_ERR_NULL, FX_ERR_SHAPE, FX_ERR_FORMAT, FX_ERR_PARAM, FX_ERR_BUFFER, FX_ERR_STATE = 0, -1, -2, -4, -5, -6, -9


def scale(value: float) -> tuple[int, int]:
    return fixed.quantize_multiplier(value)


def random_layer(rng, n_in, n_out, fmt, last, x_typ):
    """A layer whose outputs land around 2^12 for inputs around x_typ."""
    if fmt == quant.FMT_INT16:
        w_max = 1 << int(rng.integers(6, 16))
        weight = rng.integers(-w_max, w_max, size=(n_out, n_in), endpoint=True)
        weight = np.clip(weight, -32768, 32767)
    else:
        lv = np.array(quant.levels(fmt, 4))
        weight = rng.choice(np.concatenate([lv, -lv]), size=(n_out, n_in))
        w_max = int(lv[-1])
    typ = math.sqrt(n_in) * x_typ * w_max / 2
    mult, shift = scale(4096 / typ * 2.0 ** rng.uniform(-2, 2))
    bias = rng.integers(-int(typ), int(typ) + 1, size=n_out)
    if last:
        lo, hi = -32768, 32767
    else:
        lo, hi = [(0, 32767), (0, 32767), (0, 2000), (-32768, 32767), (-100, 5000)][int(rng.integers(5))]
    levels = None
    if not last and rng.integers(5) == 0:
        levels = np.unique(rng.integers(lo, min(hi, lo + 9000), size=12))
    return IntLayer(fmt, 16 if fmt == quant.FMT_INT16 else 4, weight, bias, np.array([mult]), np.array([shift]),
                    lo, hi, levels)


def random_config(rng, q=12, dir_q=16, z_max=64):
    """An optimizer configuration: every rounding mode, both policies, compensation on or off."""
    return optim.OptimConfig(q=q, dir_q=dir_q, z_max=z_max, rounding=int(rng.integers(0, 3)),
                             policy=int(rng.integers(0, 2)), schedule=int(rng.integers(0, 2)),
                             c1_shift=int(rng.choice([0, 0, 4, 13])), ortho=int(rng.integers(0, 3)),
                             seed=int(rng.integers(1, 1 << 32)))


def random_setup(rng, n_layers=None, first=None, loss_kind=train.LOSS_SOFTMAX_XENT, big_steps=False):
    """(model, params, theta, optimizer config) with random shapes, formats of the frozen layers,
    scales and steps from vanishing to saturating."""
    n_layers = n_layers or int(rng.integers(1, 4))
    sizes = [int(rng.integers(1, 24)) for _ in range(n_layers)] + [int(rng.integers(2, 12))]
    first = int(rng.integers(0, n_layers)) if first is None else first
    layers = []
    for k in range(n_layers):
        fmt = quant.FMT_INT16 if k >= first else int(rng.choice([quant.FMT_INT16, quant.FMT_APOT, quant.FMT_POT]))
        layers.append(random_layer(rng, sizes[k], sizes[k + 1], fmt, k == n_layers - 1, 4096))
    model = IntModel(layers)
    cfg = random_config(rng, dir_q=int(rng.choice([8, 16, 24])), z_max=int(rng.choice([1, 7, 64, 1000])))
    scales, theta = [], []
    for k in range(first, n_layers):
        gs = int(rng.choice([0, 2, 5, 9]))
        bm, bsh = scale(2.0 ** rng.uniform(-16, -8))
        # the step z d / 2^dir_q: from far below an LSB to thousands of LSBs
        step = 2.0 ** rng.uniform(-26, -18 if not big_steps else -4) * 2.0 ** cfg.dir_q / cfg.z_max
        wm, wsh = scale(step * 2 ** gs)
        bm2, bsh2 = scale(step * 2.0 ** rng.uniform(4, 12))
        scales.append(train.LayerScales(*scale(2.0 ** rng.uniform(0, 12)), gs, bm, bsh, wm, wsh, bm2, bsh2))
        theta += [layers[k].weight.ravel(), rng.integers(-3000, 3001, size=layers[k].n_out)]
    lm, lsh = scale(4096 * 2.0 ** rng.uniform(-12, -6))
    cache = int(rng.choice([0, 0, 3, 100]))            # none, part of a batch, all of it
    slope_shift = int(rng.choice([train.SLOPE_NONE, 0, 20, 30, 31, 32, 33, 40]))   # every add_slope branch
    p = train.TrainParams(first, scales, loss_kind, lm, lsh, slope_shift, cache)
    return model, p, np.concatenate(theta).astype(np.int16), cfg


def pair(kernel, model, p, theta, cfg):
    """The Python reference trainer and the C one, from the same state."""
    ref = train.Trainer(copy_model(model), p, theta, optim.Optimizer(cfg, len(theta)))
    return ref, train.CTrainer(kernel, model, p, theta, cfg)


def random_batch(rng, model, p, n):
    x = rng.integers(-4096, 4097, size=(n, model.layers[0].n_in))
    if rng.integers(4) == 0:
        x = rng.choice([-32768, 32767, 0], size=x.shape)
    classes = model.layers[-1].n_out
    labels = rng.integers(0, classes, size=n)
    targets = rng.integers(-3000, 3001, size=(n, classes))
    return x, labels, targets


def copy_model(model: IntModel) -> IntModel:
    return IntModel([IntLayer(l.fmt, l.bits, l.weight.copy(), l.bias.copy(), l.mult.copy(), l.shift.copy(),
                              l.act_min, l.act_max, None if l.act_levels is None else l.act_levels.copy())
                     for l in model.layers])


def assert_same_params(a: IntModel, b: IntModel):
    for k, (la, lb) in enumerate(zip(a.layers, b.layers)):
        assert np.array_equal(la.weight, lb.weight), k
        assert np.array_equal(la.bias, lb.bias), k


SLOPE_EXTREMES = [0, 1, -1, 2 ** 31 - 1, -2 ** 31, 46341, -46340, 2 ** 15, 2 ** 16 + 1, 32768 + 16384]


def random_slope_direction(rng, n):
    """A direction for fx_train_slope: the extreme entries (d^2 at and around the word and
    rounding boundaries), n full-range and n small random ones, shuffled."""
    d = np.concatenate([SLOPE_EXTREMES, rng.integers(-2 ** 31, 2 ** 31, n), rng.integers(-70000, 70000, n)])
    return rng.permutation(d).astype(np.int32)


def test_slope_matches_c_at_every_shift(kernel, rng):
    """fx_train_slope (its one-word path for shifts >= 31 included) against train.slope, on
    random directions with extreme entries, and its saturation at INT64_MAX."""
    for shift in range(63):
        for _ in range(3):
            d = random_slope_direction(rng, 40)
            got = kernel.fx_train_slope(native.ptr(d, C.c_int32), len(d), shift)
            assert got == train.slope(d, shift), shift
    big = np.full(8, -2 ** 31, np.int32)                    # 8 * 2^62 > INT64_MAX at shift 0
    INT64_MAX = 2 ** 63 - 1
    assert kernel.fx_train_slope(native.ptr(big, C.c_int32), 8, 0) == INT64_MAX == train.slope(big, 0)
    assert kernel.fx_train_slope(None, 8, 3) == 0 and kernel.fx_train_slope(native.ptr(big, C.c_int32), 8, 63) == 0


@pytest.mark.parametrize("loss_kind", [train.LOSS_SOFTMAX_XENT, train.LOSS_MSE])
def test_step_matches_c(kernel, rng, loss_kind):
    """Random models, trained suffixes, scales, optimizer configurations: several batches each,
    C and Python equal in stats, theta, the model's integers and the optimizer's counters."""
    seen = set()
    for case in range(60):
        model, p, theta, cfg = random_setup(rng, loss_kind=loss_kind, big_steps=case % 3 == 0)
        ref, c = pair(kernel, model, p, theta, cfg)
        for batch in range(4):
            x, labels, targets = random_batch(rng, model, p, int(rng.integers(1, 9)))
            lab = labels if loss_kind == train.LOSS_SOFTMAX_XENT else None
            tgt = targets if loss_kind == train.LOSS_MSE else None
            want = ref.step(x, lab, tgt)
            got = c.step(x, lab, tgt)
            assert got == want, (case, batch)
            assert np.array_equal(c.theta, ref.theta)
            assert_same_params(c.model(), ref.model)
            seen.add("go" if want.accepted else "idle" if want.changed else "stalled")
        assert c.optimizer.stats == ref.opt.stats
    assert seen == {"go", "idle", "stalled"}              # every outcome exercised


def test_swap_mode_matches_c(kernel, rng):
    """Swap mode (fx_optim_swap_ok: the trial made in theta, the current point kept in the
    direction's place, no copy of theta): C == Python through kept, undone and stalled steps,
    steps from vanishing to saturating int16 (an undo must restore saturated entries too)."""
    from dataclasses import replace
    seen = set()
    for case in range(40):
        model, p, theta, cfg = random_setup(rng, big_steps=case % 2 == 0)
        cfg = replace(cfg, rounding=optim.RHU, ortho=0, z_max=min(cfg.z_max, 2 ** (cfg.dir_q - 1) - 1))
        assert cfg.swap_ok()
        if case % 4 == 0:
            theta = np.where(rng.random(len(theta)) < 0.3, rng.choice([-32768, 32767, -32700, 32700], len(theta)),
                             theta).astype(np.int16)
        ref, c = pair(kernel, model, p, theta, cfg)
        assert c.workspace_size()[1] == train.workspace_bytes(model, p, cfg)
        for batch in range(5):
            x, labels, _ = random_batch(rng, model, p, int(rng.integers(1, 9)))
            want = ref.step(x, labels)
            assert c.step(x, labels) == want, (case, batch)
            assert np.array_equal(c.theta, ref.theta)
            assert_same_params(c.model(), ref.model)
            seen.add("go" if want.accepted else "idle" if want.changed else "stalled")
        assert c.optimizer.stats == ref.opt.stats
    assert seen == {"go", "idle", "stalled"}


@pytest.mark.parametrize("dir_q,z", [(24, 2**23 - 1), (24, 2**23), (1, 1), (30, 2**29 - 1), (30, 2**29), (5, 15), (5, 16)])
def test_swap_step_is_rhu_up_to_the_one_multiply_limit(kernel, dir_q, z):
    """The in-place trial's step rhu(z d / 2^dir_q), hand-computed in Python integers, at the
    largest z_max of swap mode (z_max < 2^(dir_q-1): one 32-bit multiply per step) with the
    extreme directions: x - s saturates to int16 and the old point lands in d. One past it
    (and dir_q 1, where no z fits) swap mode is refused, in C and in Python alike."""
    cfg = optim.OptimConfig(q=12, dir_q=dir_q, z_max=z)
    fits = z < 2 ** (dir_q - 1)
    assert cfg.swap_ok() == fits == bool(kernel.fx_optim_swap_ok(C.byref(optim.native_config(cfg))))
    d0 = [-2**31, 2**31 - 1, -1, 1, 2**dir_q >> 1, -(2**dir_q >> 1), 3 << (dir_q - 1), 12345678, -87654321, 0]
    x0 = [0, -32768, 32767, 0, 100, -100, 5, 32767, -32768, 7]
    o = optim.NativeOptimizer(cfg, len(d0), kernel)
    o.direction(1000, 0)
    x, d = np.array(x0, np.int16), np.array(d0, np.int32)
    changed = C.c_uint32(0)
    r = kernel.fx_optim_propose_s16_swap(C.byref(o._o), native.ptr(x, C.c_int16), native.ptr(d, C.c_int32),
                                          C.byref(changed))
    if not fits:
        assert r == FX_ERR_PARAM and x.tolist() == x0 and d.tolist() == d0
        return
    steps = [(z * di + (1 << (dir_q - 1))) // (1 << dir_q) for di in d0]   # floor: half up
    want = [max(-32768, min(32767, xi - si)) for xi, si in zip(x0, steps)]
    assert r == 1
    assert x.tolist() == want and d.tolist() == x0
    assert changed.value == sum(a != b for a, b in zip(want, x0))


def test_swap_leaves_d_used_up(kernel):
    """After an in-place trial the direction takes no other candidate and no commit (d now
    holds the old point); a configuration that needs d later is refused."""
    cfg = optim.OptimConfig(q=4, dir_q=6)
    o = optim.NativeOptimizer(cfg, 2, kernel)
    o.direction(1000, 0)
    x, d = np.array([100, -5], np.int16), np.array([24, -9], np.int32)
    changed = C.c_uint32(0)
    r = kernel.fx_optim_propose_s16_swap(C.byref(o._o), native.ptr(x, C.c_int16), native.ptr(d, C.c_int32),
                                          C.byref(changed))
    # z = 16: steps rhu(16 * 24 / 64) = 6 and rhu(16 * -9 / 64) = rhu(-2.25) = -2
    assert (r, x.tolist(), d.tolist(), changed.value) == (1, [94, -3], [100, -5], 2)   # trial, old point
    assert not o.report(1000)                                     # idle: the caller restores x from d
    assert kernel.fx_optim_propose_s16_swap(C.byref(o._o), native.ptr(x, C.c_int16), native.ptr(d, C.c_int32),
                                            C.byref(changed)) == FX_ERR_STATE
    with pytest.raises(optim.KernelError):
        o.propose(x, d)
    for flags in ({}, dict(rounding=optim.STOCHASTIC), dict(ortho=1), dict(box=1), dict(pattern=True), dict(ray=2),
                  dict(min_lsb=True), dict(expand=1), dict(ray_far=1), dict(policy=optim.ADAPT, guess=True)):
        c = optim.OptimConfig(q=4, dir_q=6, **flags)
        assert c.swap_ok() == bool(kernel.fx_optim_swap_ok(C.byref(optim.native_config(c))))
        assert c.swap_ok() == (not flags or "policy" in flags)
    ef = optim.NativeOptimizer(optim.OptimConfig(q=4, dir_q=4, rounding=optim.ERROR_FEEDBACK), 2, kernel)
    ef.direction(1000, 0)
    assert kernel.fx_optim_propose_s16_swap(C.byref(ef._o), native.ptr(x, C.c_int16), native.ptr(d, C.c_int32),
                                            C.byref(changed)) == FX_ERR_PARAM


def test_streaming_calls_equal_step(kernel, rng):
    """begin / accumulate / propose / evaluate (other order, or from the cache) / finish ==
    fx_train_step."""
    for case in range(20):
        model, p, theta, cfg = random_setup(rng, big_steps=case % 2 == 0)
        ref, c = pair(kernel, model, p, theta, cfg)
        st, ws, size = c.buffer()
        P = C.byref(c.struct)
        x, labels, _ = random_batch(rng, model, p, 6)
        x16 = np.ascontiguousarray(x, dtype=np.int16)
        want = ref.step(x, labels)
        assert kernel.fx_train_begin(P, ws, size) == FX_OK
        for s in range(len(x)):
            assert kernel.fx_train_accumulate(P, ws, size, native.ptr(x16[s], C.c_int16), int(labels[s]), None) == FX_OK
        evaluate = C.c_uint32(7)
        assert kernel.fx_train_propose(P, ws, size, C.byref(evaluate)) == FX_OK
        assert evaluate.value == (want.changed > 0)
        if evaluate.value and p.cache >= len(x):
            for s in range(len(x)):                     # x NULL: the cached sample, in order
                assert kernel.fx_train_evaluate(P, ws, size, None, int(labels[s]), None) == FX_OK
        elif evaluate.value:
            for s in rng.permutation(len(x)):
                assert kernel.fx_train_evaluate(P, ws, size, native.ptr(x16[s], C.c_int16), int(labels[s]),
                                                None) == FX_OK
        stats = train.FxTrainStats()
        assert kernel.fx_train_finish(P, ws, size, C.byref(stats)) == FX_OK
        assert stats.to_stats() == want
        assert np.array_equal(c.theta, ref.theta)
        assert_same_params(c.model(), ref.model)


def test_state_errors(kernel, rng):
    model, p, theta, cfg = random_setup(rng, n_layers=2, first=0, big_steps=True)
    p.cache = 1
    c = train.CTrainer(kernel, model, p, theta, optim.OptimConfig(q=12, dir_q=8, z_max=64))
    st, ws, size = c.buffer()
    P = C.byref(c.struct)
    x = np.full(model.layers[0].n_in, 1000, dtype=np.int16)
    xp = native.ptr(x, C.c_int16)
    stats = train.FxTrainStats()
    # nothing begun yet (fresh zeroed workspace)
    assert kernel.fx_train_accumulate(P, ws, size, xp, 0, None) == FX_ERR_STATE
    assert kernel.fx_train_propose(P, ws, size, None) == FX_ERR_STATE
    assert kernel.fx_train_evaluate(P, ws, size, xp, 0, None) == FX_ERR_STATE
    assert kernel.fx_train_finish(P, ws, size, C.byref(stats)) == FX_ERR_STATE
    assert kernel.fx_train_begin(P, ws, size) == FX_OK
    assert kernel.fx_train_propose(P, ws, size, None) == FX_ERR_STATE       # no sample yet
    assert kernel.fx_train_accumulate(P, ws, size, xp, model.layers[-1].n_out, None) == FX_ERR_PARAM
    assert kernel.fx_train_accumulate(P, ws, size, None, 0, None) == FX_ERR_NULL
    assert kernel.fx_train_accumulate(P, ws, size, xp, 0, None) == FX_OK
    assert kernel.fx_train_accumulate(P, ws, size, xp, 1, None) == FX_OK
    assert kernel.fx_train_evaluate(P, ws, size, xp, 0, None) == FX_ERR_STATE  # before propose
    evaluate = C.c_uint32(0)
    assert kernel.fx_train_propose(P, ws, size, C.byref(evaluate)) == FX_OK and evaluate.value == 1
    assert kernel.fx_train_propose(P, ws, size, None) == FX_ERR_STATE
    assert kernel.fx_train_accumulate(P, ws, size, xp, 0, None) == FX_ERR_STATE
    assert kernel.fx_train_evaluate(P, ws, size, None, 0, None) == FX_OK       # sample 0 is cached
    assert kernel.fx_train_finish(P, ws, size, C.byref(stats)) == FX_ERR_STATE  # one sample missing
    assert kernel.fx_train_evaluate(P, ws, size, None, 1, None) == FX_ERR_NULL  # sample 1 is not
    assert kernel.fx_train_evaluate(P, ws, size, xp, 1, None) == FX_OK
    assert kernel.fx_train_evaluate(P, ws, size, xp, 1, None) == FX_ERR_STATE  # one too many
    assert kernel.fx_train_finish(P, ws, size, None) == FX_OK
    assert kernel.fx_train_finish(P, ws, size, None) == FX_ERR_STATE            # batch over
    # an optimizer left with a pending trial (a batch abandoned after propose) is refused
    assert kernel.fx_train_begin(P, ws, size) == FX_OK
    assert kernel.fx_train_accumulate(P, ws, size, xp, 0, None) == FX_OK
    before = c.theta.copy()
    assert kernel.fx_train_propose(P, ws, size, None) == FX_OK
    assert kernel.fx_train_begin(P, ws, size) == FX_OK
    assert kernel.fx_train_accumulate(P, ws, size, xp, 0, None) == FX_OK
    assert kernel.fx_train_propose(P, ws, size, None) == FX_ERR_STATE
    assert kernel.fx_train_propose(P, ws, size, None) == FX_ERR_STATE       # and the batch is over
    assert kernel.fx_train_accumulate(P, ws, size, xp, 0, None) == FX_ERR_STATE
    assert not np.array_equal(c.theta, before)           # the abandoned trial stays: the caller's call


def test_param_errors(kernel, rng):
    model, p, theta, cfg = random_setup(rng, n_layers=3, first=1)
    x, labels, targets = random_batch(rng, model, p, 3)

    def status(mutate_model=None, mutate_params=None, mutate_struct=None, size_delta=0, offset=0,
               labels_=labels, targets_=None, n=None, theta_=theta):
        m, q = copy_model(model), train.TrainParams(p.first, [train.LayerScales(**vars(s)) for s in p.layers],
                                                    p.loss, p.loss_mult, p.loss_shift, p.slope_shift, p.cache)
        if mutate_model:
            mutate_model(m)
        if mutate_params:
            mutate_params(q)
        t = train.CTrainer(kernel, m, q, theta_, cfg)
        if mutate_struct:
            mutate_struct(t)
        st, size = t.workspace_size()
        if st != FX_OK:
            return st
        buf = np.zeros(size // 8 + 2, dtype=np.int64)
        xs = np.ascontiguousarray(x, dtype=np.int16)
        lab = None if labels_ is None else np.ascontiguousarray(labels_, dtype=np.uint16)
        tgt = None if targets_ is None else np.ascontiguousarray(targets_, dtype=np.int16)
        stats = train.FxTrainStats()
        return kernel.fx_train_step(C.byref(t.struct), native.ptr(xs, C.c_int16), native.ptr(lab, C.c_uint16),
                                    native.ptr(tgt, C.c_int16), len(xs) if n is None else n,
                                    buf.ctypes.data + offset, size + size_delta, C.byref(stats))

    assert status() == FX_OK

    def set_fmt(m):
        k = 1
        lv = np.array(quant.levels(quant.FMT_APOT, 4))
        m.layers[k] = IntLayer(quant.FMT_APOT, 4, np.sign(m.layers[k].weight) * lv[-1], m.layers[k].bias,
                               m.layers[k].mult, m.layers[k].shift, m.layers[k].act_min, m.layers[k].act_max,
                               m.layers[k].act_levels)
    assert status(mutate_model=set_fmt) == FX_ERR_FORMAT                    # trained layer not int16
    assert status(mutate_params=lambda q: setattr(q, "first", 3)) == FX_ERR_PARAM
    assert status(mutate_params=lambda q: setattr(q, "loss", 2)) == FX_ERR_PARAM
    assert status(mutate_params=lambda q: setattr(q, "loss_mult", 5)) == FX_ERR_PARAM
    assert status(mutate_params=lambda q: setattr(q, "slope_shift", 63)) == FX_ERR_PARAM
    assert status(mutate_params=lambda q: setattr(q, "slope_shift", -2)) == FX_ERR_PARAM
    assert status(mutate_params=lambda q: setattr(q.layers[0], "grad_shift", 31)) == FX_ERR_PARAM
    assert status(mutate_params=lambda q: setattr(q.layers[0], "grad_shift", -1)) == FX_ERR_PARAM
    assert status(mutate_params=lambda q: setattr(q.layers[1], "back_shift", 40)) == FX_ERR_PARAM
    assert status(mutate_params=lambda q: setattr(q.layers[0], "back_mult", 7)) == FX_OK  # first: unused
    assert status(mutate_params=lambda q: setattr(q.layers[0], "dir_w_mult", 7)) == FX_ERR_PARAM
    assert status(mutate_params=lambda q: setattr(q.layers[1], "dir_b_shift", -32)) == FX_ERR_PARAM
    assert status(mutate_params=lambda q: setattr(q.layers[1], "bias_mult", 1)) == FX_ERR_PARAM

    def unalias(t):
        t.cmodel.layers[2].dense.weights = t.theta.ctypes.data           # not where theta puts it
    assert status(mutate_struct=unalias) == FX_ERR_PARAM

    def other_bias(t):
        t.keep = np.zeros(model.layers[1].n_out, dtype=np.int32)
        t.layers[0].bias = native.ptr(t.keep, C.c_int32)
    assert status(mutate_struct=other_bias) == FX_ERR_PARAM                  # not the model's bias
    for field in ("model", "theta", "optim", "layers"):
        assert status(mutate_struct=lambda t, f=field: setattr(t.struct, f, None)) == FX_ERR_NULL

    def null_bias(t):
        t.layers[1].bias = None
    assert status(mutate_struct=null_bias) == FX_ERR_NULL
    # an optimizer for a different number of parameters
    other = optim.NativeOptimizer(cfg, len(theta) + 1, lib=kernel)
    assert status(mutate_struct=lambda t: setattr(t.struct, "optim", C.pointer(other._o))) == FX_ERR_PARAM
    assert status(size_delta=-1) == FX_ERR_BUFFER
    assert status(offset=4) == FX_ERR_BUFFER                                 # misaligned
    assert status(n=0) == FX_ERR_SHAPE
    bad = labels.copy()
    bad[-1] = model.layers[-1].n_out
    assert status(labels_=bad) == FX_ERR_PARAM
    t = train.CTrainer(kernel, model, p, theta, cfg)
    assert t.step_status(x, bad)[0] == FX_ERR_PARAM
    assert np.array_equal(t.theta, theta)                 # a bad label is caught before any update
    assert status(labels_=None) == FX_ERR_NULL
    assert status(mutate_params=lambda q: setattr(q, "loss", train.LOSS_MSE), labels_=None) == FX_ERR_NULL
    assert status(mutate_params=lambda q: setattr(q, "loss", train.LOSS_MSE), targets_=targets) == FX_OK
    # the Python reference refuses the same things
    opt = lambda: optim.Optimizer(cfg, len(theta))
    with pytest.raises(ValueError):
        m = copy_model(model)
        set_fmt(m)
        train.Trainer(m, p, theta, opt())
    with pytest.raises(ValueError):
        train.Trainer(copy_model(model), train.TrainParams(3, p.layers), theta, opt())
    with pytest.raises(ValueError):
        train.Trainer(copy_model(model), p, theta[:-1], opt())
    with pytest.raises(ValueError):
        train.Trainer(copy_model(model), p, theta, optim.Optimizer(cfg, len(theta) + 1))
    with pytest.raises(ValueError):
        train.Trainer(copy_model(model), p, theta, opt()).step(x, bad)
    with pytest.raises(ValueError):
        train.Trainer(copy_model(model), p, theta, opt()).step(x[:0], labels[:0])


def digits_setup(first=0, batch=32, n_train=None, cache=0):
    from fxlearn import data, nn
    ds = data.load("digits")
    init = nn.MLP.init((64, 32, 10), seed=0)
    design = train.FixedPointDesign()
    model = train.from_float(init.weights, init.biases, design)
    p, theta = train.plan(model, design.act_scales(2), first, batch, q=design.q, dir_q=design.dir_q, x_max=4096,
                          cache=cache)
    x = train.quantize_input(ds.x_train[:n_train], 2.0 ** -design.in_frac)
    xt = train.quantize_input(ds.x_test, 2.0 ** -design.in_frac)
    return ds, model, p, theta, x, ds.y_train[:n_train], xt


def test_workspace_bytes_64_32_10(kernel):
    """All layers: accumulators / direction (64*32 + 32 + 32*10 + 10) * 4 = 9640 bytes, plus 300
    of state and buffers; the current point while theta holds the trial, 2410 * 2 = 4820 more,
    except in swap mode (RHU, no error feedback / pattern / search / compensation: the current
    point waits in the direction's place). Last layer only: 330 * 4 + 212 (+ 330 * 2).
    Independent of the batch size (samples stream)."""
    for cfg, copy in ((train.optimizer_config(0.1), 0),
                      (train.optimizer_config(0.1, rounding=optim.ERROR_FEEDBACK), 1)):
        assert cfg.swap_ok() == (copy == 0)
        for first, want in ((0, 9940 + copy * 4820), (1, 1532 + copy * 660)):
            _, model, p, theta, _, _, _ = digits_setup(first)
            c = train.CTrainer(kernel, model, p, theta, cfg)
            n = C.c_uint32(0)
            assert kernel.fx_train_n_params(C.byref(c.struct), C.byref(n)) == FX_OK
            assert n.value == len(theta) == train.n_params(model, first) == (2410 if first == 0 else 330)
            assert c.workspace_size() == (FX_OK, want)
            assert train.workspace_bytes(model, p, cfg) == want
            p.cache = 32                     # + 32 samples of the first trained layer's input
            want += 32 * 2 * (64 if first == 0 else 32)
            assert train.CTrainer(kernel, model, p, theta, cfg).workspace_size() == (FX_OK, want)
            assert train.workspace_bytes(model, p, cfg) == want


@pytest.mark.parametrize("first,rounding", [(0, optim.RHU), (1, optim.STOCHASTIC), (0, optim.ERROR_FEEDBACK)])
def test_learns_digits_bit_exact(kernel, first, rounding):
    """Three epochs on 400 digits: C == Python at every step, the loss falls, accuracy rises."""
    ds, model, p, theta, x, y, xt = digits_setup(first, n_train=400, cache=32 if first else 0)
    cfg = train.optimizer_config(0.5, rounding=rounding)
    ref, c = pair(kernel, model, p, theta, cfg)

    def both(xb, lb, tb):
        want = ref.step(xb, lb, tb)
        assert c.step(xb, lb, tb) == want
        return want

    acc0 = np.mean(ref.model.predict(xt) == ds.y_test)
    hist = train.fit(both, x, y, n_epochs=3, batch=32)
    assert np.array_equal(c.theta, ref.theta)
    assert_same_params(c.model(), ref.model)
    acc = np.mean(ref.model.predict(xt) == ds.y_test)
    assert hist[-1].loss < (0.5 if first == 0 else 0.85) * hist[0].loss
    assert acc > acc0 + 0.25 and acc > (0.7 if first == 0 else 0.45)
    assert hist[0].accepted > 0.9


def test_make_trainable_keeps_the_function(rng):
    """An APoT last layer re-expressed as INT16 Q(q) computes (nearly) the same outputs."""
    lv = np.array(quant.levels(quant.FMT_APOT, 4))
    w = rng.choice(np.concatenate([lv, -lv]), size=(10, 32))
    unit = 0.01
    m, sh = fixed.quantize_multiplier(2.0 ** -12 * unit / 2.0 ** -10)
    layer = IntLayer(quant.FMT_APOT, 4, w, rng.integers(-5000, 5000, size=10), np.array([m]), np.array([sh]),
                     -32768, 32767)
    model = IntModel([layer])
    x = rng.integers(0, 8000, size=(50, 32))
    out = train.make_trainable(model, 0, unit, 12)
    assert out.layers[0].fmt == quant.FMT_INT16 and model.layers[0].fmt == quant.FMT_APOT
    diff = np.abs(out.forward(x) - model.forward(x))
    assert diff.max() <= 0.01 * np.abs(model.forward(x)).max()


def test_plan_scales():
    ds, model, p, theta, x, y, xt = digits_setup(0, batch=16)
    # grad shifts: smallest s with 16 * rhu(2^15 * a_max / 2^s) <= 2^31 - 1; inputs <= 2^12 give
    # 16 * 2^27 = 2^31 at s = 0 (one too many): s = 1; hidden <= 32767: 16 * 2^15 * 32767 / 8 fits
    assert [s.grad_shift for s in p.layers] == [1, 3]
    assert train.grad_shift_for(16, 4096) == 1 and train.grad_shift_for(16, 32767) == 3
    as_real = lambda m, s: m * 2.0 ** (s - 31)
    # direction of the last layer's weights: 2^gs * 2^-15 * 2^-12 * 2^24 / 16 = 2^-4
    assert as_real(p.layers[1].dir_w_mult, p.layers[1].dir_w_shift) == 2.0 ** -4
    assert as_real(p.layers[1].dir_b_mult, p.layers[1].dir_b_shift) == 2.0 ** (-15 + 24 - 4)
    # back scale of the last layer: 2^-15 * 2^-12 / 2^-13 = 2^-14; bias: Q12 -> units 2^-24
    assert as_real(p.layers[1].back_mult, p.layers[1].back_shift) == 2.0 ** -14
    assert as_real(p.layers[0].bias_mult, p.layers[0].bias_shift) == 4096
    assert p.slope_shift == 2 * 24 - 12 - 4
    # theta: weights as they are, biases (0 from nn.MLP.init) in Q12
    assert theta.tolist() == np.concatenate([model.layers[0].weight.ravel(), model.layers[0].bias // 4096,
                                             model.layers[1].weight.ravel(), model.layers[1].bias // 4096]).tolist()
    assert train.optimizer_config(0.1).z_max == 410
    with pytest.raises(ValueError):
        train.plan(model, [1.0], 0, 16)
    with pytest.raises(ValueError):
        train.grad_shift_for(1 << 20, 32768)
    with pytest.raises(ValueError):
        train.optimizer_config(1e-5)


def test_bench_command_writes_results(kernel, tmp_path, monkeypatch):
    """`fxlearn bench training` (one epoch, one seed): the table, the plot, C == reference."""
    from click.testing import CliRunner

    from fxlearn.cli import main
    monkeypatch.setenv("FXLEARN_RESULTS", str(tmp_path))
    res = CliRunner().invoke(main, ["bench", "training", "--epochs", "1", "--sweep", "1"])
    assert res.exit_code == 0, res.output
    md = (tmp_path / "training.md").read_text()
    assert (tmp_path / "training.png").stat().st_size > 10000
    assert md.count("43 steps bit-exact") == 3                  # ceil(1347 / 32) steps, every mode
    assert "| all layers |" in md and "| fine-tune APoT |" in md and "| 9940 |" in md   # swap mode (RHU)
