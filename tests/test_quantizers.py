"""Fake quantizers: level sets, the encoders, quantize-dequantize error bounds, the integer
activation pipeline, STE / RCF / EWGS gradients (hand values and finite differences)."""
from __future__ import annotations

import numpy as np
import pytest

from fxlearn import mlp, quant, quantizers as Q

WEIGHT_WIDTHS = [("uniform", b) for b in (2, 3, 4, 5, 6, 8)] + \
                [("pot", b) for b in (2, 3, 4, 5, 6)] + [("apot", b) for b in (2, 3, 4, 5, 6, 7)]
ACT_WIDTHS = [("uniform", b) for b in (2, 3, 4, 8)] + [("pot", b) for b in (2, 3, 4)] + \
             [("apot", b) for b in (2, 3, 4, 5, 6)]


def test_level_sets_are_the_kernels():
    for scheme, bits in WEIGHT_WIDTHS:
        fmt = Q.SCHEMES[scheme]
        assert tuple(Q.weight_levels(scheme, bits)) == quant.levels(fmt, bits)
    assert Q.weight_format("uniform", 8) == quant.FMT_INT8
    assert Q.weight_format("apot", 4) == quant.FMT_APOT
    # activations: B = a magnitude bits, scaled by a power of two that keeps them in int16
    lv, qmax = Q.act_levels("apot", 2)
    assert list(lv) == [0, 16, 32, 64] and qmax == 64
    lv, qmax = Q.act_levels("apot", 4)
    assert list(lv // 16) == list(quant.levels(quant.FMT_APOT, 5)) and qmax == 48 * 16
    lv, qmax = Q.act_levels("pot", 4)                     # 2^14 max: no room to scale
    assert list(lv) == list(quant.levels(quant.FMT_POT, 5)) and qmax == 16384
    assert Q.act_levels("uniform", 8) == (None, 255)


@pytest.mark.parametrize("scheme,bits", [("apot", 8), ("pot", 8), ("uniform", 7), ("pot", 7)])
def test_unsupported_weight_widths_raise(scheme, bits):
    with pytest.raises(ValueError):
        Q.WeightQuantizer(scheme, bits)


@pytest.mark.parametrize("scheme,bits", [("apot", 7), ("pot", 5), ("uniform", 16), ("uniform", 0)])
def test_unsupported_act_widths_raise(scheme, bits):
    with pytest.raises(ValueError):
        Q.ActQuantizer(scheme, bits)


def test_parse_spec():
    assert Q.parse_spec("apot4") == ("apot", 4)
    assert Q.parse_spec("Uniform:8") == ("uniform", 8)
    for bad in ("apot", "int8", "4", "foo3"):
        with pytest.raises(ValueError, match="spec"):
            Q.parse_spec(bad)


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("scheme,bits", WEIGHT_WIDTHS)
def test_weight_error_bound_and_grid(rng, scheme, bits, per_channel):
    w = rng.normal(size=(6, 40)) * rng.uniform(0.2, 2.0, size=(6, 1))
    q = Q.WeightQuantizer(scheme, bits, per_channel=per_channel)
    q.init_alpha(w)
    q.alpha *= 0.8                                    # some weights are clipped
    wq = q.forward(w)
    alpha = q.alpha[:, None] if per_channel else q.alpha[0]
    inside = np.abs(w) <= alpha
    # inside the clip: at most half the widest gap between neighbouring levels
    bound = q.max_abs_diff * np.broadcast_to(alpha, w.shape)
    assert np.all(np.abs(w - wq)[inside] <= bound[inside] * (1 + 1e-12))
    # outside: the extreme level, +-alpha
    np.testing.assert_allclose(wq[~inside], (np.sign(w) * np.broadcast_to(alpha, w.shape))[~inside])
    # on the grid: W_q = unit * signed level, the level in the format's set
    lv, unit = q.codes(w)
    np.testing.assert_allclose(wq, lv * (unit[:, None] if per_channel else unit[0]), rtol=1e-12)
    assert set(np.abs(lv).ravel()) <= set(q.levels.tolist())


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("scheme,bits", WEIGHT_WIDTHS)
def test_codes_agree_with_the_quant_encoder(rng, scheme, bits, per_channel):
    """Two independent encoders (quant.quantize and the fake quantizer) give the same levels."""
    w = rng.normal(size=(5, 33))
    q = Q.WeightQuantizer(scheme, bits, per_channel=per_channel)
    q.init_alpha(w)
    q.alpha *= 0.7
    lv, unit = q.codes(w)
    fmt = q.fmt
    codes, unit2 = quant.quantize(w, fmt, bits, alpha=q.alpha if per_channel else q.alpha[0],
                                  per_channel=per_channel)
    assert np.array_equal(lv, quant.codes_to_levels(codes, fmt, bits))
    np.testing.assert_allclose(unit, np.atleast_1d(unit2), rtol=1e-15)


def test_pot_init_is_the_inq_power_of_two():
    w = np.array([[0.3, -0.7, 0.05]])                 # n1 = floor(log2(4 * 0.7 / 3)) = -1
    q = Q.WeightQuantizer("pot", 4)
    q.init_alpha(w)
    assert q.alpha[0] == 0.5
    # PoT levels of 4 bits relative to alpha: 0, 2^-6 .. 2^-1, 1
    np.testing.assert_allclose(q.norm_levels, [0] + [2.0 ** -k for k in range(6, -1, -1)])


def test_weight_ste_rcf_hand_values():
    q = Q.WeightQuantizer("uniform", 3)                # levels 0, 1/3, 2/3, 1 of alpha
    q.alpha = np.array([1.0])
    w = np.array([[0.55, -2.0, 0.1]])
    np.testing.assert_allclose(q.forward(w), [[2 / 3, -1.0, 0.0]])
    gw, ga = q.backward(np.ones_like(w))
    np.testing.assert_allclose(gw, [[1.0, 0.0, 1.0]])          # STE, zero outside the clip
    np.testing.assert_allclose(ga, [(2 / 3 - 0.55) - 1.0 + (0.0 - 0.1)])   # RCF


def test_ewgs_hand_values_and_fixes():
    w = np.array([[0.55, -2.0, 0.1]])
    g = np.ones_like(w)
    expect = [1 + 0.5 * (0.55 - 2 / 3), 0.0, 1 + 0.5 * 0.1]
    for fix, third in (("none", expect[2]), ("nozero", 1.0)):
        q = Q.WeightQuantizer("uniform", 3, grad="ewgs", ewgs_fix=fix)
        q.alpha = np.array([1.0])
        q.set_delta(0.5)
        q.forward(w)
        np.testing.assert_allclose(q.backward(g)[0], [[expect[0], 0.0, third]])
    # delta = 0 is the STE; a negative Hessian estimate is clipped to 0
    q = Q.WeightQuantizer("uniform", 3, grad="ewgs")
    q.alpha = np.array([1.0])
    q.set_delta(-3.0)
    assert q.delta == 0.0
    q.forward(w)
    np.testing.assert_allclose(q.backward(g)[0], [[1.0, 0.0, 1.0]])
    # the clip fix keeps 1 + delta * |x - q| <= 1.5: max |x - q| = 1/6 here
    q = Q.WeightQuantizer("uniform", 3, grad="ewgs", ewgs_fix="clip")
    q.set_delta(100.0)
    assert q.delta == pytest.approx(3.0)


@pytest.mark.parametrize("per_channel", [False, True])
def test_normalised_weight_gradient_is_the_ste_surrogates(rng, per_channel):
    """With the rounding error frozen (STE) and the outer std held constant, the backward
    pass is the exact gradient, in W and alpha, of sum(G * std0 * alpha * (clip(x) + r))."""
    w = rng.normal(0.1, 0.5, size=(4, 9))
    G = rng.normal(size=w.shape)
    q = Q.WeightQuantizer("apot", 4, per_channel=per_channel, normalize=True)
    q.init_alpha(w)
    q.alpha = q.alpha * 0.6
    q.forward(w)
    gw, ga = q.backward(G)
    z0, x0, q0, sig0, a0 = q._ctx
    r = q0 - np.clip(x0, -1, 1)
    ax = (1,) if per_channel else (0, 1)

    def surrogate(w_, alpha_):
        z = (w_ - w_.mean(axis=ax, keepdims=True)) / w_.std(axis=ax, keepdims=True)
        a = alpha_[:, None] if per_channel else alpha_.reshape(1, 1)
        return np.sum(G * sig0 * a * (np.clip(z / a, -1, 1) + r))

    eps = 1e-7
    num = np.zeros_like(w)
    for i in np.ndindex(w.shape):
        d = np.zeros_like(w)
        d[i] = eps
        num[i] = (surrogate(w + d, q.alpha) - surrogate(w - d, q.alpha)) / (2 * eps)
    np.testing.assert_allclose(gw, num, rtol=1e-5, atol=1e-7)
    num_a = np.zeros_like(q.alpha)
    for i in range(len(q.alpha)):
        d = np.zeros_like(q.alpha)
        d[i] = eps
        num_a[i] = (surrogate(w, q.alpha + d) - surrogate(w, q.alpha - d)) / (2 * eps)
    np.testing.assert_allclose(ga, num_a, rtol=1e-5, atol=1e-7)


def test_activation_pipeline_hand_values():
    # APoT 2-bit: levels {0, 1/4, 1/2, 1} * alpha, on a grid of 64 steps (k = 16)
    q = Q.ActQuantizer("apot", 2)
    q.alpha = np.array([1.0])
    z = np.array([-1.0, 0.3, 0.4, 0.75, 2.0])
    # 0.3 -> 19.2 -> 19 -> 16; 0.4 -> 25.6 -> 26 -> 32; 0.75 -> 48: halfway 32 | 64 -> 64
    np.testing.assert_array_equal(q.quantize_int(z), [0, 16, 32, 64, 64])
    np.testing.assert_allclose(q.forward(z), [0, 0.25, 0.5, 1.0, 1.0])


def test_activation_ste_rcf_hand_values():
    q = Q.ActQuantizer("uniform", 2)                   # n in 0..3, step alpha / 3
    q.alpha = np.array([2.0])
    z = np.array([0.5, 1.0, 3.0, -1.0])
    np.testing.assert_allclose(q.forward(z), [2 / 3, 4 / 3, 2.0, 0.0])   # rhu(1.5) = 2
    gz, ga = q.backward(np.ones(4))
    np.testing.assert_allclose(gz, [1, 1, 0, 0])
    np.testing.assert_allclose(ga, [(1 / 3 - 0.25) + (2 / 3 - 0.5) + 1.0])


@pytest.mark.parametrize("scheme,bits", ACT_WIDTHS)
def test_activation_equals_the_integer_layer(rng, scheme, bits):
    """The fake activation is the kernel's requant + clamp + snap: run an identity IntLayer on
    the accumulator of z and compare integers."""
    q = Q.ActQuantizer(scheme, bits)
    q.alpha = np.array([3.0])
    acc_step = 1e-3                                   # z = acc * acc_step, acc integer
    acc = rng.integers(-2000, 6000, size=(50, 1))
    z = acc * acc_step
    mult, shift = quant_mult(acc_step / q.scale)
    layer = mlp.IntLayer(quant.FMT_INT8, 8, np.ones((1, 1), dtype=np.int64), np.zeros(1, dtype=np.int64),
                         np.array([mult]), np.array([shift]), 0, q.qmax, q.int_levels)
    y = layer.forward(acc)
    np.testing.assert_array_equal(q.quantize_int(z), y.astype(np.float64))
    # error bound: within half the widest gap (+ half a grid step) of ReLU(min(z, alpha))
    ref = np.clip(z, 0, q.alpha[0])
    assert np.all(np.abs(q.quantize(z) - ref) <= (q.max_abs_diff + 0.5 / q.qmax) * q.alpha[0] + 1e-12)


def quant_mult(scale):
    from fxlearn.fixed import quantize_multiplier
    return quantize_multiplier(scale)


def test_input_quantizer_matches_intmodel(rng):
    s = 1 / 127
    x = np.concatenate([rng.normal(size=200), (np.arange(-5, 5) + 0.5) * s, [400.0, -400.0]])
    iq = Q.InputQuantizer(8, s)
    ref = mlp.IntModel([], input_scale=s).quantize_input(x)
    np.testing.assert_array_equal(iq.quantize_int(x), ref)
    iq.calibrate(np.array([[0.5, -2.0]]))
    assert iq.scale == pytest.approx(2.0 / 127)


def test_search_alpha_reduces_error(rng):
    w = rng.standard_t(3, size=(8, 64))               # heavy tails: max|W| is a poor clip
    q = Q.WeightQuantizer("apot", 4)
    q.init_alpha(w)
    err_max = np.sum((w - q.quantize(w)[0]) ** 2)
    q.search_alpha(w)
    assert np.sum((w - q.quantize(w)[0]) ** 2) < err_max
    z = rng.exponential(size=(500, 8)) - 0.3
    a = Q.ActQuantizer("uniform", 3)
    a.alpha = np.array([z.max()])
    e0 = np.sum((np.maximum(z, 0) - a.quantize(z)) ** 2)
    a.search_alpha(z)
    assert np.sum((np.maximum(z, 0) - a.quantize(z)) ** 2) < e0
