"""Quantization-aware training: the quantized MLP's gradients, the exact Hessian-vector products
behind EWGS's delta (against finite differences), and QAT lowering the loss."""
from __future__ import annotations

import numpy as np
import pytest

from fxlearn import convert, data, nn, ptq, qat


def fine_quant_mlp(rng, sizes=(5, 7, 6, 3)):
    """A QuantMLP whose quantizers barely quantize (8-bit weights, 15-bit activations, no
    clipping): its STE derivatives are those of the float network at the quantized point."""
    m = nn.MLP.init(sizes, seed=1)
    for b in m.biases:
        b += 0.05
    qm = ptq.QuantMLP(m, ptq.QuantConfig(weights="uniform8", acts="uniform15", input_bits=16))
    qm.inq.scale = 1e-4
    for q, w in zip(qm.wq, qm.weights):
        q.alpha = np.array([1.5 * np.abs(w).max()])
    x = rng.normal(size=(20, sizes[0]))
    y = rng.integers(0, sizes[-1], size=20)
    for q, h in zip(qm.aq, m.hidden(x)):
        q.alpha = np.array([2.0 * h.max()])            # fine steps, nothing clipped
    qm.outq.scale = 1e-3
    return qm, x, y


def reference_grads(qm, x, y, dw=None, da=None):
    """Float forward/backward at the quantized weights, with additive perturbations of the
    weights (dw) and of the hidden activations (da); returns (dL/dW, dL/da)."""
    n = qm.n_layers
    ws = [q.quantize(w)[0] + (0 if dw is None else dw[l]) for l, (q, w) in enumerate(zip(qm.wq, qm.weights))]
    bs = [qm.quant_bias(l) for l in range(n)]
    a = qm.inq.forward(x)
    inputs, pre = [], []
    for l in range(n):
        z = a @ ws[l].T + bs[l]
        inputs.append(a)
        pre.append(z)
        if l < n - 1:
            a = np.maximum(z, 0) + (0 if da is None else da[l])
    _, g = nn.head_loss(z, y, qm.head)
    gw, ga = [None] * n, [None] * (n - 1)
    for l in range(n - 1, -1, -1):
        gw[l] = g.T @ inputs[l]
        if l:
            ga[l - 1] = g @ ws[l]
            g = ga[l - 1] * (pre[l - 1] > 0)
    return gw, ga


def test_quant_mlp_weight_gradients_are_ste(rng):
    qm, x, y = fine_quant_mlp(rng)
    _, grads = qm.loss_and_grads(x, y)
    gw, _ = reference_grads(qm, x, y)
    for l in range(qm.n_layers):
        np.testing.assert_allclose(grads[2 * l], gw[l], rtol=5e-3, atol=1e-3 * np.abs(gw[l]).max())
    assert len(grads) == len(qm.params)
    assert all(g.shape == p.shape for g, p in zip(grads, qm.params))


def test_hvp_matches_finite_differences(rng):
    qm, x, y = fine_quant_mlp(rng)
    v_w = [rng.choice([-1.0, 1.0], size=w.shape) for w in qm.weights]
    v_a = [rng.choice([-1.0, 1.0], size=(len(x), w.shape[0])) for w in qm.weights[:-1]]
    zeros_w = [np.zeros_like(v) for v in v_w]
    zeros_a = [np.zeros_like(v) for v in v_a]
    c_w = [q.unit(w)[0] * q.levels[-1] for q, w in zip(qm.wq, qm.weights)]   # W_q = c * q
    alpha_a = [q.alpha[0] for q in qm.aq]
    eps = 1e-6
    # weight directions only
    hv_w, hv_a, g_w, _ = qat.hvp(qm, x, y, v_w, zeros_a)
    gp = reference_grads(qm, x, y, dw=[eps * c * v for c, v in zip(c_w, v_w)])
    gm = reference_grads(qm, x, y, dw=[-eps * c * v for c, v in zip(c_w, v_w)])
    for l in range(qm.n_layers):
        fd = c_w[l] * (gp[0][l] - gm[0][l]) / (2 * eps)
        np.testing.assert_allclose(hv_w[l], fd, rtol=5e-3, atol=2e-3 * np.abs(fd).max())
    for l in range(qm.n_layers - 1):
        fd = alpha_a[l] * (gp[1][l] - gm[1][l]) / (2 * eps)
        np.testing.assert_allclose(hv_a[l], fd, rtol=5e-3, atol=2e-3 * np.abs(fd).max())
    # activation directions only
    hv_w, hv_a, _, g_a = qat.hvp(qm, x, y, zeros_w, v_a)
    gp = reference_grads(qm, x, y, da=[eps * a * v for a, v in zip(alpha_a, v_a)])
    gm = reference_grads(qm, x, y, da=[-eps * a * v for a, v in zip(alpha_a, v_a)])
    for l in range(qm.n_layers - 1):
        fd = alpha_a[l] * (gp[1][l] - gm[1][l]) / (2 * eps)
        np.testing.assert_allclose(hv_a[l], fd, rtol=5e-3, atol=2e-3 * np.abs(fd).max())
    # the gradients returned are those of the discrete outputs in the normalised domain
    gw, ga = reference_grads(qm, x, y)
    np.testing.assert_allclose(g_a[0], alpha_a[0] * ga[0], rtol=5e-3, atol=1e-3 * np.abs(alpha_a[0] * ga[0]).max())


def test_hessian_deltas_and_the_fixed_variant(rng):
    qm, x, y = fine_quant_mlp(rng)
    deltas = qat.hessian_deltas(qm, x, y, rng, batches=2, vectors=4, batch_size=10)
    assert len(deltas) == len(qm.quantizers)
    assert all(np.isfinite(d) and d >= 0 for d in deltas)
    assert any(d > 0 for d in deltas)


def small_digits(n=300):
    ds = data.load("digits")
    return ds.x_train[:n], ds.y_train[:n], ds.x_test, ds.y_test


@pytest.fixture(scope="module")
def small_float():
    x, y, _, _ = small_digits()
    m = nn.MLP.init((64, 16, 10), seed=0)
    nn.train(m, x, y, nn.TrainConfig(epochs=40, batch_size=32))
    return m


@pytest.mark.parametrize("grad,delta,fix", [("ste", "hessian", "none"), ("ewgs", "hessian", "none"),
                                            ("ewgs", 1e-3, "none"), ("ewgs", "hessian", "clip"),
                                            ("ewgs", "hessian", "nozero")])
def test_qat_lowers_loss_on_a_small_problem(small_float, grad, delta, fix):
    x, y, _, _ = small_digits()
    cfg = ptq.QuantConfig(weights="apot2", acts="apot2", per_channel=True, grad=grad, ewgs_fix=fix)
    qm = ptq.quantize(small_float, cfg, x)
    before = nn.head_loss(qm.forward(x), y, "softmax")[0]
    acc_before = np.mean(convert.to_int_model(qm).predict(convert.quantize_input(qm, x)) == y)
    hist = qat.train_qat(qm, x, y, qat.QATConfig(epochs=20, lr=1e-2, batch_size=32, ewgs_delta=delta,
                                                 ewgs_refresh=4, hutchinson_batches=2,
                                                 hutchinson_vectors=2))
    after = nn.head_loss(qm.forward(x), y, "softmax")[0]
    assert after < 0.5 * before
    assert hist.loss[-1] < hist.loss[0]
    im = convert.to_int_model(qm)
    assert np.mean(im.predict(convert.quantize_input(qm, x)) == y) > acc_before + 0.03
    if grad == "ewgs":
        assert hist.deltas and all(len(d) == len(qm.quantizers) for d in hist.deltas)
        if delta == 1e-3:
            assert hist.deltas == [[1e-3] * len(qm.quantizers)]
        if fix == "clip":
            assert all(d * q.max_abs_diff <= 0.5 + 1e-12 for ds in hist.deltas
                       for d, q in zip(ds, qm.quantizers))
    else:
        assert hist.deltas == []


def test_qat_is_reproducible(small_float):
    x, y, _, _ = small_digits(120)
    runs = []
    for _ in range(2):
        qm = ptq.quantize(small_float, ptq.QuantConfig(weights="apot3", acts="apot3", grad="ewgs"), x)
        qat.train_qat(qm, x, y, qat.QATConfig(epochs=3, ewgs_refresh=1, hutchinson_batches=1,
                                              hutchinson_vectors=2, seed=5))
        runs.append(qm)
    assert all(np.array_equal(a, b) for a, b in zip(runs[0].params, runs[1].params))
