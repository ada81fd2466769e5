"""Quantization-aware training of a ``QuantMLP``: STE or EWGS gradients, learnable clips (RCF).

EWGS's delta per quantizer is the EWGS authors' ``(Tr(H) / N) / (3 * std(g))``: H and g are the
Hessian and gradient of the loss with respect to the quantizer's discrete output in its
normalised domain (q in [-1, 1] for weights, [0, 1] for activations); Tr(H) by Hutchinson's
estimator (Rademacher vectors) averaged over a few batches, clipped at >= 0, computed after one
STE epoch and refreshed every ``ewgs_refresh`` epochs. The Hessian-vector products are exact:
an R-operator (Pearlmutter) pass through the network with the quantizers' STE derivatives, the
same graph the authors differentiate twice with autograd. ``ewgs_delta`` set to a number gives
the fixed-delta variant instead.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .nn import History, TrainConfig, fit, head_hvp, head_loss, make_optimizer
from .ptq import QuantMLP


@dataclass
class QATConfig(TrainConfig):
    epochs: int = 100
    lr: float = 3e-3
    weight_decay: float = 1e-3
    ewgs_delta: str | float = "hessian"   # "hessian" (Hutchinson) or a fixed delta
    ewgs_refresh: int = 10                # epochs between Hessian updates
    hutchinson_batches: int = 10
    hutchinson_vectors: int = 16
    hutchinson_batch_size: int = 64


@dataclass
class QATHistory(History):
    deltas: list[list[float]] = field(default_factory=list)     # per refresh: one per quantizer


def hvp(qm: QuantMLP, x: np.ndarray, y: np.ndarray, v_w: list[np.ndarray],
        v_a: list[np.ndarray]) -> tuple[list, list, list, list]:
    """Hessian-vector product of the loss at the quantized point, in the quantizers' normalised
    domains, along directions v_w (one per weight quantizer, shaped like W) and v_a (one per
    activation quantizer, shaped like its batch output). Returns (Hv_w, Hv_a, g_w, g_a): the
    products and the gradients with respect to the same discrete outputs."""
    out, inputs, wqs, _ = qm.forward(x, keep=True)
    n = qm.n_layers
    c_w = [q._ctx[3] * q._ctx[4] for q in qm.wq]             # W_q = c * q, c = std * alpha
    masks = [((q._ctx[0] > 0) & (q._ctx[0] < 1)).astype(np.float64) for q in qm.aq]
    alpha_a = [float(q.alpha[0]) for q in qm.aq]
    dirs_w = [c * v for c, v in zip(c_w, v_w)]
    dirs_a = [a * v for a, v in zip(alpha_a, v_a)]
    # R-forward: perturbation of every layer's input and pre-activation
    r_in = [np.zeros_like(inputs[0])]
    r_z = None
    for l in range(n):
        r_z = r_in[l] @ wqs[l].T + inputs[l] @ dirs_w[l].T
        if l < n - 1:
            r_in.append(masks[l] * r_z + dirs_a[l])
    _, g = head_loss(out, y, qm.head)
    rg = head_hvp(out, r_z, qm.head)
    hv_w, hv_a, g_w, g_a = [None] * n, [None] * (n - 1), [None] * n, [None] * (n - 1)
    for l in range(n - 1, -1, -1):
        hv_w[l] = c_w[l] * (rg.T @ inputs[l] + g.T @ r_in[l])
        g_w[l] = c_w[l] * (g.T @ inputs[l])
        if l:
            ga = g @ wqs[l]
            rga = rg @ wqs[l] + g @ dirs_w[l]
            hv_a[l - 1] = alpha_a[l - 1] * rga
            g_a[l - 1] = alpha_a[l - 1] * ga
            g, rg = ga * masks[l - 1], rga * masks[l - 1]
    return hv_w, hv_a, g_w, g_a


def hessian_deltas(qm: QuantMLP, x: np.ndarray, y: np.ndarray, rng: np.random.Generator,
                   batches: int = 10, vectors: int = 16, batch_size: int = 64) -> list[float]:
    """EWGS delta of every quantizer (weight quantizers, then activation quantizers)."""
    sums = np.zeros(len(qm.quantizers))
    for _ in range(batches):
        idx = rng.choice(len(x), size=min(batch_size, len(x)), replace=False)
        xb, yb = x[idx], y[idx]
        traces = np.zeros(len(sums))
        grads = None
        for _ in range(vectors):
            v_w = [rng.choice([-1.0, 1.0], size=w.shape) for w in qm.weights]
            shapes = [(len(idx), w.shape[0]) for w in qm.weights[:-1]]
            v_a = [rng.choice([-1.0, 1.0], size=s) for s in shapes]
            hv_w, hv_a, g_w, g_a = hvp(qm, xb, yb, v_w, v_a)
            traces += [np.sum(v * h) for v, h in zip(v_w + v_a, hv_w + hv_a)]
            grads = g_w + g_a
        traces /= vectors
        for i, (t, g) in enumerate(zip(traces, grads)):
            sd = float(np.std(g))
            sums[i] += (t / g.size) / (3.0 * sd) if sd > 0 else 0.0
    return [max(0.0, s / batches) for s in sums]


def train_qat(qm: QuantMLP, x: np.ndarray, y: np.ndarray, cfg: QATConfig | None = None,
              progress=None) -> QATHistory:
    """Train ``qm`` in place (weights, biases and every clip). The output scale is
    recalibrated on the training data at the end, as the logits' range moves."""
    cfg = cfg or QATConfig()
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y)
    params = qm.params
    wd = [cfg.weight_decay if p.ndim == 2 else 0.0 for p in params]
    opt = make_optimizer(cfg.optimizer, params, cfg.lr, cfg.momentum, wd)
    hist = QATHistory()
    ewgs = any(q.grad == "ewgs" for q in qm.quantizers)
    rng = np.random.default_rng(cfg.seed + 7)

    def on_epoch(epoch: int) -> None:
        if not ewgs:
            return
        if isinstance(cfg.ewgs_delta, (int, float)):
            deltas = [float(cfg.ewgs_delta)] * len(qm.quantizers) if epoch == 0 else None
        elif epoch >= 1 and (epoch - 1) % cfg.ewgs_refresh == 0:   # one STE epoch first
            deltas = hessian_deltas(qm, x, y, rng, cfg.hutchinson_batches,
                                    cfg.hutchinson_vectors, cfg.hutchinson_batch_size)
        else:
            deltas = None
        if deltas is not None:
            for q, d in zip(qm.quantizers, deltas):
                q.set_delta(d)
            hist.deltas.append([q.delta for q in qm.quantizers])

    h = fit(opt, lambda idx: qm.loss_and_grads(x[idx], y[idx]), len(x), cfg,
            on_epoch=on_epoch, progress=progress)
    hist.loss = h.loss
    _, _, _, pre = qm.forward(x, keep=True)
    qm.outq.calibrate(pre[-1])
    return hist
