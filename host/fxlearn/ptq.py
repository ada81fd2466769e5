"""The fake-quantized MLP and post-training quantization (PTQ).

``QuantMLP`` runs the integer model's arithmetic in float: input -> int grid, weights -> levels
times a unit scale, bias rounded to the accumulator's grid, every hidden output through the
activation quantizer (requant + clamp + snap), logits to int16. Its forward pass is what
``convert.to_int_model`` deploys; its backward pass (STE / EWGS, RCF for the clips) is what QAT
trains.

PTQ (``quantize``) calibrates layer by layer on a few hundred training samples, each layer
seeing the previous layers' *quantized* outputs: the weight clip minimises the layer's output
error ``||(W - W_q) x||^2`` over the calibration inputs, GPTQ error-compensating rounding
(without weight normalisation) replaces nearest rounding, the bias absorbs the mean output
error (bias correction), and the activation clip minimises ``||ReLU(z) - Q(z)||^2``.
"""
from __future__ import annotations

from dataclasses import dataclass, asdict

import numpy as np

from .fixed import INT32_MAX, INT32_MIN
from .nn import MLP, head_loss
from .quantizers import (ActQuantizer, InputQuantizer, OutputQuantizer, WeightQuantizer,
                         parse_spec, rhu_float)


@dataclass
class QuantConfig:
    weights: str = "apot4"          # weight quantizer of the hidden layers: <scheme><bits>
    acts: str = "uniform8"          # activation quantizer after each hidden layer
    first: str | None = None        # first layer's weights (None: as `weights`)
    last: str | None = None         # last layer's weights (None: as `weights`)
    per_channel: bool = False       # one weight scale per output channel
    normalize: bool = False         # APoT weight normalisation (W - mean) / std
    input_bits: int = 8             # model input -> signed int of this many bits (in int16)
    grad: str = "ste"               # "ste" or "ewgs" (QAT)
    ewgs_fix: str = "none"          # "none", "clip" (bound delta), "nozero" (no scaling at q = 0)

    def layer_spec(self, l: int, n_layers: int) -> tuple[str, int]:
        """(scheme, bits) of layer l's weights; a one-layer model uses `first`, then `last`."""
        spec = self.weights
        if l == n_layers - 1 and self.last:
            spec = self.last
        if l == 0 and self.first:
            spec = self.first
        return parse_spec(spec)

    def to_dict(self) -> dict:
        return asdict(self)


class QuantMLP:
    """Float weights + quantizers. Parameters (``params``): W0, b0, W1, b1, ..., then the weight
    clips, then the activation clips."""

    def __init__(self, mlp: MLP, cfg: QuantConfig):
        self.cfg = cfg
        self.head = mlp.head
        self.weights = [w.copy() for w in mlp.weights]
        self.biases = [b.copy() for b in mlp.biases]
        n = len(self.weights)
        self.wq = []
        for l in range(n):
            scheme, bits = cfg.layer_spec(l, n)
            self.wq.append(WeightQuantizer(scheme, bits, cfg.per_channel, cfg.normalize,
                                           cfg.grad, 0.0, cfg.ewgs_fix))
        a_scheme, a_bits = parse_spec(cfg.acts)
        self.aq = [ActQuantizer(a_scheme, a_bits, cfg.grad, 0.0, cfg.ewgs_fix) for _ in range(n - 1)]
        self.inq = InputQuantizer(cfg.input_bits)
        self.outq = OutputQuantizer()
        for q, w in zip(self.wq, self.weights):
            q.init_alpha(w)

    @property
    def n_layers(self) -> int:
        return len(self.weights)

    @property
    def params(self) -> list[np.ndarray]:
        wb = [p for pair in zip(self.weights, self.biases) for p in pair]
        return wb + [q.alpha for q in self.wq] + [q.alpha for q in self.aq]

    @property
    def quantizers(self) -> list:
        return self.wq + self.aq

    def in_scale(self, l: int) -> float:
        """Real value of one integer step of layer l's input."""
        return self.inq.scale if l == 0 else self.aq[l - 1].scale

    def bias_step(self, l: int, w: np.ndarray) -> np.ndarray:
        """Real value of one accumulator step of layer l, per output channel."""
        unit = self.wq[l].unit(w)
        return np.broadcast_to(self.in_scale(l) * unit, (w.shape[0],))

    def quant_bias(self, l: int) -> np.ndarray:
        step = self.bias_step(l, self.weights[l])
        return np.clip(rhu_float(self.biases[l] / step), INT32_MIN, INT32_MAX) * step

    def forward(self, x: np.ndarray, keep: bool = False):
        """Fake-quantized logits (on the int16 output grid); with ``keep`` also the per-layer
        inputs, quantized weights and pre-activations needed by backward / HVP."""
        a = self.inq.forward(x)
        inputs, wqs, pre = [], [], []
        for l in range(self.n_layers):
            wq = self.wq[l].forward(self.weights[l])
            z = a @ wq.T + self.quant_bias(l)
            inputs.append(a)
            wqs.append(wq)
            pre.append(z)
            a = self.aq[l].forward(z) if l < self.n_layers - 1 else self.outq.forward(z)
        return (a, inputs, wqs, pre) if keep else a

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.argmax(self.forward(x), axis=1)

    def accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(self.predict(x) == y))

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray) -> tuple[float, list[np.ndarray]]:
        """Loss and gradients in ``params`` order. Forward must not be re-entered between the
        quantizers' forward and backward (they keep their context)."""
        for q in self.quantizers:                  # a clip stepped to <= 0 would zero the layer
            q.clamp_alpha()
        out, inputs, wqs, _ = self.forward(x, keep=True)
        loss, g = head_loss(out, y, self.head)            # identity gradient through outq
        gw, gb, gaw, gaa = [], [], [], []
        for l in range(self.n_layers - 1, -1, -1):
            gwl, galpha = self.wq[l].backward(g.T @ inputs[l])
            gw.insert(0, gwl)
            gb.insert(0, g.sum(axis=0))                      # STE through the bias rounding
            gaw.insert(0, galpha)
            if l:
                gz, ga_alpha = self.aq[l - 1].backward(g @ wqs[l])
                gaa.insert(0, ga_alpha)
                g = gz
        wb = [p for pair in zip(gw, gb) for p in pair]
        return loss, wb + gaw + gaa


def _row_err(d: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """Per row of the weight error d: E||d x||^2 = d C d^T."""
    return np.sum((d @ cov) * d, axis=1)


def _output_aware_alpha(q: WeightQuantizer, w: np.ndarray, cov: np.ndarray, grid: int = 96) -> None:
    """Weight clip minimising E||(W - W_q) x||^2 = sum_rows (D C D^T) with C = E[x x^T]."""
    q.search_alpha(w)                               # weight-MSE clip: a good upper candidate
    mu, _ = q.stats(w)
    start = q.alpha.copy()
    best, best_err = start, None
    for f in np.linspace(0.5, 1.6, grid):
        c = start * f
        err = _row_err((w - mu) - q.quantize(w, c)[0], cov)
        err = err if q.per_channel else np.array([err.sum()])
        if best_err is None:
            best, best_err = c, err
        else:
            better = err < best_err
            best, best_err = np.where(better, c, best), np.where(better, err, best_err)
    q.alpha = np.asarray(best, dtype=np.float64)
    q.clamp_alpha()


def gptq_round(q: WeightQuantizer, w: np.ndarray, cov: np.ndarray, damp: float = 0.01) -> np.ndarray:
    """Error-compensating rounding (GPTQ, Frantar et al. 2022) to the quantizer's levels with
    its current clips: columns are rounded one by one and each one's error, weighted by the
    inverse input covariance, is pushed onto the columns not yet rounded. Returns W_q
    (float, exactly on the levels); rows are independent, so per-channel clips work as is."""
    if q.normalize:
        raise ValueError("GPTQ rounding needs normalize=False (the normalisation would move "
                         "with the compensated weights)")
    n_in = w.shape[1]
    h = cov + damp * max(float(np.mean(np.diag(cov))), 1e-12) * np.eye(n_in)
    hinv_u = np.linalg.cholesky(np.linalg.inv(h)).T           # upper Cholesky factor of H^-1
    work = w.copy()
    out = np.empty_like(w)
    for j in range(n_in):
        col = q.quantize(work[:, j:j + 1])[0][:, 0]
        out[:, j] = col
        err = (work[:, j] - col) / hinv_u[j, j]
        work[:, j + 1:] -= np.outer(err, hinv_u[j, j + 1:])
    return out


def _gptq_alpha(q: WeightQuantizer, w: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """Clip (per row or per tensor) whose GPTQ rounding has the least output error; returns the
    rounded weights and leaves the clip set."""
    start = q.alpha.copy()
    best_q, best_err, best_a = None, None, None
    for f in np.linspace(0.6, 1.4, 17):
        q.alpha = start * f
        wq = gptq_round(q, w, cov)
        err = _row_err(w - wq, cov)
        if not q.per_channel:
            err = np.full(len(err), err.sum())
        if best_q is None:
            best_q, best_err, best_a = wq, err, np.broadcast_to(q.alpha, (len(w),)).copy()
        else:
            better = err < best_err
            best_q = np.where(better[:, None], wq, best_q)
            best_err = np.where(better, err, best_err)
            best_a = np.where(better, np.broadcast_to(q.alpha, (len(w),)), best_a)
    q.alpha = best_a if q.per_channel else best_a[:1].copy()
    q.clamp_alpha()
    return best_q


def calibrate(qm: QuantMLP, mlp: MLP, x_calib: np.ndarray, bias_correction: bool = True,
              gptq: bool = False) -> QuantMLP:
    """PTQ calibration of every clip and scale of ``qm`` (in place) from the float ``mlp``."""
    x_calib = np.asarray(x_calib, dtype=np.float64)
    if len(x_calib) == 0:
        raise ValueError("calibration needs at least one sample")
    qm.inq.calibrate(x_calib)
    _, _, float_pre = mlp.forward(x_calib, keep=True)
    a = qm.inq.forward(x_calib)
    for l in range(qm.n_layers):
        w = qm.weights[l]
        cov = a.T @ a / len(a)
        _output_aware_alpha(qm.wq[l], w, cov)
        if gptq:
            w = qm.weights[l] = _gptq_alpha(qm.wq[l], w, cov)
        wq = qm.wq[l].quantize(w)[0]
        if bias_correction:          # the layer's mean output error folded into its bias
            qm.biases[l] = mlp.biases[l] + np.mean(float_pre[l] - (a @ wq.T + mlp.biases[l]), axis=0)
        z = a @ wq.T + qm.quant_bias(l)
        if l < qm.n_layers - 1:
            qm.aq[l].search_alpha(z)
            a = qm.aq[l].quantize(z)
        else:
            qm.outq.calibrate(z)
    return qm


def quantize(mlp: MLP, cfg: QuantConfig, x_calib: np.ndarray, bias_correction: bool = True,
             gptq: bool | None = None) -> QuantMLP:
    """Post-training quantization of a float MLP (GPTQ rounding unless normalize is set)."""
    gptq = (not cfg.normalize) if gptq is None else gptq
    return calibrate(QuantMLP(mlp, cfg), mlp, x_calib, bias_correction, gptq)
