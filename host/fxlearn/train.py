"""Bit-exact integer reference of on-device training (docs/kernel.md section 8,
docs/training.md): dense + clamp backward passes, gradient accumulation, the mini-batch step
with the quantized optimizer (``Trainer``, mirror of fx_train_step); the host side that makes
the integer scales (``plan``, ``from_float``, ``make_trainable``, ``optimizer_config``) and the
training loop (``fit``); the C trainer through ctypes (``CTrainer``).

Written from the specification, independently of the C kernel.
"""
from __future__ import annotations

import ctypes as C
from dataclasses import dataclass

import numpy as np

from . import act, fixed, loss, mlp, native, optim, quant
from .mlp import IntLayer, IntModel

GRAD_SHIFT_MAX = 30


def _rhu_shift_np(x: np.ndarray, s: int) -> np.ndarray:
    """floor(x / 2^s + 1/2) elementwise (int64, |x| < 2^62)."""
    if s == 0:
        return x
    return (x + (np.int64(1) << (s - 1))) >> s


def grad_terms(x, g, grad_shift: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample additions to the accumulators: rhu(g_i x_j / 2^s) [n, out, in] and g [n, out]."""
    if not 0 <= grad_shift <= GRAD_SHIFT_MAX:
        raise ValueError(f"grad_shift {grad_shift} outside 0..{GRAD_SHIFT_MAX}")
    x = np.asarray(x, dtype=np.int64)
    g = np.asarray(g, dtype=np.int64)
    if x.ndim != 2 or g.ndim != 2 or x.shape[0] != g.shape[0] or 0 in x.shape[1:] + g.shape[1:]:
        raise ValueError(f"x [n, in] and g [n, out] expected, got {x.shape} and {g.shape}")
    return _rhu_shift_np(g[:, :, None] * x[:, None, :], grad_shift), g


def saturating_sum(start: np.ndarray, terms: np.ndarray) -> np.ndarray:
    """start + terms[0] + terms[1] + ..., each addition saturated to int32 in that order."""
    acc = np.asarray(start, dtype=np.int64)
    partial = acc + np.cumsum(terms, axis=0)
    if partial.size == 0 or (partial.min() >= fixed.INT32_MIN and partial.max() <= fixed.INT32_MAX):
        return partial[-1] if len(terms) else acc
    for t in terms:                       # some partial sum leaves int32: do it step by step
        acc = np.clip(acc + t, fixed.INT32_MIN, fixed.INT32_MAX)
    return acc


def grad_accum(x, g, grad_shift: int, dw, db) -> tuple[np.ndarray, np.ndarray]:
    """Accumulate samples x [n, in], g [n, out] (in sample order) into dw [out, in], db [out]:
    dw += rhu(g_i x_j / 2^grad_shift), db += g_i, each addition saturated to int32."""
    terms_w, terms_b = grad_terms(x, g, grad_shift)
    return saturating_sum(dw, terms_w), saturating_sum(db, terms_b)


def backward_input(g, w, mult: int, shift: int) -> np.ndarray:
    """g_in = sat16(requant(sat32(g @ w), mult, shift)) for g [n, out], w [out, in]."""
    fixed.requant_check(mult, shift)
    g = np.asarray(g, dtype=np.int64)
    w = np.asarray(w, dtype=np.int64)
    if g.ndim != 2 or w.ndim != 2 or g.shape[1] != w.shape[0] or 0 in w.shape:
        raise ValueError(f"g [n, out] and w [out, in] expected, got {g.shape} and {w.shape}")
    acc = np.clip(g @ w, fixed.INT32_MIN, fixed.INT32_MAX)          # exact: |g @ w| < 2^47
    return np.clip(fixed.requant_np(acc, mult, shift), fixed.INT16_MIN, fixed.INT16_MAX)


def act_backward(y, g, act_min: int, act_max: int) -> np.ndarray:
    """Clamp derivative: g where act_min < y < act_max, else 0."""
    if act_min > act_max:
        raise ValueError(f"act_min {act_min} > act_max {act_max}")
    y = np.asarray(y, dtype=np.int64)
    return np.where((y > act_min) & (y < act_max), np.asarray(g, dtype=np.int64), 0)


# ---- the training step over an IntModel ---------------------------------------------------------

LOSS_SOFTMAX_XENT, LOSS_MSE = 0, 1
SLOPE_NONE = -1
INT64_MAX = (1 << 63) - 1
N_PARAMS_MAX = optim.N_MAX
STATE_BYTES = 40                  # the batch state at the start of the workspace


@dataclass
class LayerScales:
    """Integer scales of one trained layer (mirror of fx_train_layer, without the pointer)."""
    bias_mult: int          # B (Q(q), in theta) -> the model's int32 bias: 1 / s_in
    bias_shift: int
    grad_shift: int
    back_mult: int          # gradient to the layer input (unused for the first trained layer)
    back_shift: int
    dir_w_mult: int         # weight accumulator -> direction (batch-mean gradient in Q(dir_q))
    dir_w_shift: int
    dir_b_mult: int         # bias accumulator -> direction
    dir_b_shift: int


@dataclass
class TrainParams:
    """Mirror of fx_train_params without the pointers: which layers train, their scales, the loss."""
    first: int
    layers: list[LayerScales]
    loss: int = LOSS_SOFTMAX_XENT
    loss_mult: int = 1 << 30          # softmax: logit scale * 4096 (default: logits in Q12)
    loss_shift: int = 1
    slope_shift: int = SLOPE_NONE     # slope for the optimizer: sum rhu(d_i^2 / 2^slope_shift)
    cache: int = 0                    # samples whose first-trained-layer input the workspace keeps


@dataclass
class StepStats:
    loss: int                # batch loss before the step (sum: Q12 nats or squared error)
    loss_trial: int          # at the trial point (= loss without a trial)
    n: int
    correct: int             # softmax: right before the step
    changed: int             # parameters the trial changed (0: the optimizer stalled)
    accepted: bool


def n_params(model: IntModel, first: int) -> int:
    """Entries of theta: per trained layer out * (in + 1)."""
    return sum(l.n_out * (l.n_in + 1) for l in model.layers[first:])


def check_params(model: IntModel, p: TrainParams) -> None:
    """ValueError unless the kernel accepts model + params (fx_train_workspace_size's rules)."""
    model.check()
    if not 0 <= p.first < len(model.layers):
        raise ValueError(f"first trained layer {p.first} outside 0..{len(model.layers) - 1}")
    if len(p.layers) != len(model.layers) - p.first:
        raise ValueError(f"{len(p.layers)} layer scales for {len(model.layers) - p.first} trained layers")
    if p.loss == LOSS_SOFTMAX_XENT:
        fixed.requant_check(p.loss_mult, p.loss_shift)
    elif p.loss != LOSS_MSE:
        raise ValueError(f"unknown loss {p.loss}")
    if p.slope_shift != SLOPE_NONE and not 0 <= p.slope_shift <= 62:
        raise ValueError(f"slope_shift {p.slope_shift} outside 0..62 (or SLOPE_NONE)")
    if not 0 <= p.cache < 1 << 32:
        raise ValueError(f"cache {p.cache} outside uint32")
    for k, s in enumerate(p.layers, start=p.first):
        if model.layers[k].fmt != quant.FMT_INT16:
            raise ValueError(f"layer {k} is trained but not int16")
        if not 0 <= s.grad_shift <= GRAD_SHIFT_MAX:
            raise ValueError(f"layer {k}: grad_shift {s.grad_shift} outside 0..{GRAD_SHIFT_MAX}")
        if k > p.first:
            fixed.requant_check(s.back_mult, s.back_shift)
        for m, sh in ((s.bias_mult, s.bias_shift), (s.dir_w_mult, s.dir_w_shift), (s.dir_b_mult, s.dir_b_shift)):
            fixed.requant_check(m, sh)
    if n_params(model, p.first) > N_PARAMS_MAX:
        raise ValueError(f"{n_params(model, p.first)} trained parameters: the optimizer takes at most 2^24")


def split_theta(model: IntModel, first: int, theta):
    """[(W [out, in], B [out]) per trained layer]: views into theta."""
    out, at = [], 0
    for layer in model.layers[first:]:
        nw = layer.n_out * layer.n_in
        out.append((theta[at:at + nw].reshape(layer.n_out, layer.n_in), theta[at + nw:at + nw + layer.n_out]))
        at += nw + layer.n_out
    return out


def apply_theta(model: IntModel, p: TrainParams, theta) -> None:
    """The model's trained layers from theta: weights W, int32 biases requant(B, bias scale)."""
    for (w, b), s, layer in zip(split_theta(model, p.first, theta), p.layers, model.layers[p.first:]):
        layer.weight = w.astype(np.int64)
        layer.bias = fixed.requant_np(b, s.bias_mult, s.bias_shift)


def forward_all(model: IntModel, x) -> list[np.ndarray]:
    """Every layer's output for a batch x [n, in]: [y_0, ..., logits]."""
    outs, a = [], np.asarray(x, dtype=np.int64)
    for layer in model.layers:
        a = layer.forward(a)
        outs.append(a)
    return outs


def batch_loss(p: TrainParams, logits, labels=None, targets=None):
    """(loss gradient [n, classes] int64, per-sample loss [n], correct count)."""
    if p.loss == LOSS_SOFTMAX_XENT:
        grad, l = loss.softmax_xent(logits, labels, p.loss_mult, p.loss_shift)
        return grad, l, int(np.sum(act.argmax(logits) == np.asarray(labels)))
    grad, l = loss.mse(logits, targets)
    return grad, l, 0


def _sum_sat64(values) -> int:
    """Saturating int64 sum of non-negative losses (in any order: the partial sums only grow)."""
    return int(min(sum(int(v) for v in values), INT64_MAX))


def _check_batch(model: IntModel, p: TrainParams, x, labels, targets):
    x = np.asarray(x, dtype=np.int64)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] != model.layers[0].n_in:
        raise ValueError(f"x must be [n >= 1, {model.layers[0].n_in}], got {x.shape}")
    classes = model.layers[-1].n_out
    if p.loss == LOSS_SOFTMAX_XENT:
        labels = np.asarray(labels, dtype=np.int64)
        if labels.shape != (len(x),) or labels.min() < 0 or labels.max() >= classes:
            raise ValueError("one label in 0 .. classes-1 per sample expected")
    else:
        targets = np.asarray(targets, dtype=np.int64)
        if targets.shape != (len(x), classes):
            raise ValueError(f"targets must be [n, {classes}]")
    return x, labels, targets


def accumulate(model: IntModel, p: TrainParams, x, labels=None, targets=None):
    """Forward, loss and backward of a batch. Returns ([(dw, db) per trained layer], losses,
    correct): the int32 accumulators after every sample, in sample order."""
    outs = forward_all(model, x)
    grad, losses, correct = batch_loss(p, outs[-1], labels, targets)
    g = np.clip(grad, fixed.INT16_MIN, fixed.INT16_MAX)
    acc = []
    for k in range(len(model.layers) - 1, p.first - 1, -1):
        layer, s = model.layers[k], p.layers[k - p.first]
        a_in = x if k == 0 else outs[k - 1]
        acc.insert(0, grad_accum(a_in, g, s.grad_shift, np.zeros((layer.n_out, layer.n_in), dtype=np.int64),
                                 np.zeros(layer.n_out, dtype=np.int64)))
        if k > p.first:
            below = model.layers[k - 1]
            g = act_backward(outs[k - 1], backward_input(g, layer.weight, s.back_mult, s.back_shift),
                             below.act_min, below.act_max)
    return acc, losses, correct


def direction(p: TrainParams, acc) -> tuple[np.ndarray, int]:
    """(d in theta's layout, slope): d = requant of the accumulators with the direction scales,
    slope = sum rhu(d_i^2 / 2^slope_shift) saturated to int64 (0 with SLOPE_NONE)."""
    parts = []
    for (dw, db), s in zip(acc, p.layers):
        parts += [fixed.requant_np(dw, s.dir_w_mult, s.dir_w_shift).ravel(),
                  fixed.requant_np(db, s.dir_b_mult, s.dir_b_shift)]
    d = np.concatenate(parts)
    if p.slope_shift == SLOPE_NONE:
        return d, 0
    return d, slope(d, p.slope_shift)


def slope(d, shift: int) -> int:
    """The optimizer's slope of a direction (fx_train_slope): sum_i rhu(d_i^2 / 2^shift),
    saturated to int64."""
    return min(sum(fixed.rhu_shift(int(v) * int(v), shift) for v in np.asarray(d).ravel()), INT64_MAX)


class Trainer:
    """The training step of the kernel (fx_train_step), in Python: theta (int16, Q(q)) holds the
    trained layers' weights and biases, the optimizer (optim.Optimizer) moves it, the model's
    trained layers are rewritten from it."""

    def __init__(self, model: IntModel, p: TrainParams, theta, optimizer):
        check_params(model, p)
        theta = np.asarray(theta)
        if theta.shape != (n_params(model, p.first),) or theta.min() < fixed.INT16_MIN or theta.max() > fixed.INT16_MAX:
            raise ValueError(f"theta must hold {n_params(model, p.first)} int16 values")
        if optimizer.n != len(theta):
            raise ValueError(f"optimizer for {optimizer.n} parameters, theta has {len(theta)}")
        self.model, self.p, self.opt = model, p, optimizer
        self.theta = theta.astype(np.int16)
        apply_theta(model, p, self.theta)

    def step(self, x, labels=None, targets=None) -> StepStats:
        """One mini-batch step, in place on theta and the model."""
        model, p = self.model, self.p
        x, labels, targets = _check_batch(model, p, x, labels, targets)
        apply_theta(model, p, self.theta)
        acc, losses, correct = accumulate(model, p, x, labels, targets)
        loss_before = _sum_sat64(losses)
        d, slope = direction(p, acc)
        self.opt.direction(loss_before, slope)
        trial = self.opt.propose(self.theta, d)
        if trial is None:                                   # stalled: nothing to evaluate
            return StepStats(loss_before, loss_before, len(x), correct, 0, False)
        changed = int(np.sum(trial != self.theta))
        apply_theta(model, p, trial)
        loss_trial = _sum_sat64(batch_loss(p, model.forward(x), labels, targets)[1])
        accepted = self.opt.report(loss_trial)
        if accepted:
            self.opt.commit(self.theta, d)
        apply_theta(model, p, self.theta)
        return StepStats(loss_before, loss_trial, len(x), correct, changed, accepted)


# ---- host side: fixed-point design, conversion, integer scales, the loop -------------------------

@dataclass
class FixedPointDesign:
    """Power-of-two formats of a model trained from scratch (docs/training.md): weights and
    biases Q(q), inputs, hidden activations and logits with the given fractional bits,
    hidden-layer gradients Q(grad_frac) (the softmax gradient is Q15 by fx_loss), the optimizer's
    direction Q(dir_q)."""
    q: int = 12
    in_frac: int = 12
    act_frac: int = 12
    logit_frac: int = 10
    grad_frac: int = 13
    dir_q: int = 24

    def act_scales(self, n_layers: int) -> list[float]:
        """[input scale, hidden output scales..., logit scale]."""
        return [2.0 ** -self.in_frac] + [2.0 ** -self.act_frac] * (n_layers - 1) + [2.0 ** -self.logit_frac]


def rhu_float(v) -> np.ndarray:
    """floor(v + 1/2) elementwise, as int64 (host-side rounding of real values)."""
    return np.floor(np.asarray(v, dtype=np.float64) + 0.5).astype(np.int64)


def quantize_input(x, scale: float) -> np.ndarray:
    """Real inputs -> int16 values rhu(x / scale), saturated."""
    return np.clip(rhu_float(np.asarray(x, dtype=np.float64) / scale), fixed.INT16_MIN, fixed.INT16_MAX)


def from_float(weights, biases, design: FixedPointDesign = FixedPointDesign()) -> IntModel:
    """An all-INT16 model of float weights [out, in] / biases (ReLU between layers), in the
    design's formats: W = rhu(w 2^q), b = rhu(b / (s_in 2^-q)), requant s_in 2^-q / s_out."""
    scales = design.act_scales(len(weights))
    sw = 2.0 ** -design.q
    layers = []
    for k, (w, b) in enumerate(zip(weights, biases)):
        last = k == len(weights) - 1
        m, sh = fixed.quantize_multiplier(scales[k] * sw / scales[k + 1])
        layers.append(IntLayer(quant.FMT_INT16, 16, np.clip(rhu_float(np.asarray(w) / sw), fixed.INT16_MIN, fixed.INT16_MAX),
                               np.clip(rhu_float(np.asarray(b) / (scales[k] * sw)), fixed.INT32_MIN, fixed.INT32_MAX),
                               np.array([m]), np.array([sh]),
                               fixed.INT16_MIN if last else 0, fixed.INT16_MAX))
    model = IntModel(layers, input_scale=scales[0], output_scale=scales[-1])
    model.check()
    return model


def make_trainable(model: IntModel, k: int, unit, q: int) -> IntModel:
    """A copy of the model whose layer k (any format, real weight = level * unit, unit a scalar
    or per output channel) is INT16 in Q(q): the same real layer up to rounding, so that the
    last layer of a PoT / APoT model can be fine-tuned on the device."""
    layer = model.layers[k]
    unit = np.broadcast_to(np.asarray(unit, dtype=np.float64).reshape(-1, 1), (layer.n_out, 1))
    ratio = unit * 2.0 ** q                                   # level -> Q(q) integer
    old_scale = np.broadcast_to(np.asarray(layer.mult) * 2.0 ** (np.asarray(layer.shift) - 31), (layer.n_out,))
    pairs = np.array([fixed.quantize_multiplier(float(s)) for s in old_scale / ratio[:, 0]], dtype=np.int64)
    if np.all(pairs == pairs[0]):
        pairs = pairs[:1]                                     # one scale for the tensor
    new = IntLayer(quant.FMT_INT16, 16, np.clip(rhu_float(layer.weight * ratio), fixed.INT16_MIN, fixed.INT16_MAX),
                   np.clip(rhu_float(layer.bias * ratio[:, 0]), fixed.INT32_MIN, fixed.INT32_MAX),
                   pairs[:, 0], pairs[:, 1], layer.act_min, layer.act_max, layer.act_levels)
    out = IntModel(list(model.layers), model.input_scale, model.output_scale)
    out.layers[k] = new
    out.check()
    return out


def act_scales_of(model: IntModel, q: int = 12) -> list[float]:
    """The activation scales (train.plan's act_scales) implied by a model whose trained layers
    hold Q(q) weights, for a blob that does not store its hidden scales: the output scale,
    then down the layers each one's input scale from its requantization scale (s_in = scale *
    s_out * 2^q, the median over channels), and the model's input scale."""
    scales = [0.0] * (len(model.layers) + 1)
    scales[-1] = model.output_scale
    for k in range(len(model.layers) - 1, -1, -1):
        layer = model.layers[k]
        rq = float(np.median(np.asarray(layer.mult) * 2.0 ** (np.asarray(layer.shift) - 31)))
        scales[k] = rq * scales[k + 1] * 2.0 ** q
    scales[0] = model.input_scale
    return scales


def check_trainable(model: IntModel, first: int) -> None:
    """ValueError unless layers first.. hold int16 weights (the formats the trainer moves)."""
    if not 0 <= first < len(model.layers):
        raise ValueError(f"first trained layer {first} outside 0..{len(model.layers) - 1}")
    for k in range(first, len(model.layers)):
        if model.layers[k].fmt != quant.FMT_INT16:
            raise ValueError(f"layer {k} is not int16: make it trainable first "
                             f"(train.make_trainable) or train the last layer only")


def grad_shift_for(batch: int, a_max: int) -> int:
    """Smallest pre-shift for which no accumulator can saturate within a batch: batch times the
    largest addition (|g| <= 2^15 times |a| <= a_max, rounded) fits in int32."""
    for s in range(GRAD_SHIFT_MAX + 1):
        if batch * max((32768 * a_max + (1 << s >> 1)) >> s, 32768) <= fixed.INT32_MAX:
            return s
    raise ValueError(f"batch {batch} too large for saturation-free int32 accumulators")


def plan(model: IntModel, act_scales, first: int, batch: int, q: int = 12, dir_q: int = 24,
         grad_frac: int = 13, loss_kind: int = LOSS_SOFTMAX_XENT, x_max: int = 32768,
         cache: int = 0) -> tuple[TrainParams, np.ndarray]:
    """The integer scales of training layers first.. of the model, and the initial theta.

    * act_scales: [input scale, each layer's output scale] (real value of one integer step);
      trained layers hold Q(q) weights (unit 2^-q); theta's biases are Q(q) too, the model's
      int32 bias (units s_in 2^-q) is requant(B, 1 / s_in);
    * gradient scales: the last layer's is 2^-15 (softmax, per unit of logit) or the output
      scale (MSE), the hidden ones 2^-grad_frac; back: s_g(k) 2^-q / s_g(k-1);
    * grad_shift: the smallest that keeps every accumulator of a batch inside int32;
    * direction d = the batch-mean gradient (sum / batch, batch = the nominal batch size) in
      Q(dir_q): dir_w = 2^grad_shift s_g s_in 2^dir_q / batch, dir_b = s_g 2^dir_q / batch;
      the learning rate lives in the optimizer (lambda = z / 2^q);
    * slope_shift: makes the optimizer's slope the decrease of the batch loss (objective units)
      predicted at lambda = 1, sum_i d_i^2 * units / 2^(2 dir_q) (units = 4096 batch for the
      softmax loss in Q12 nats, 2 batch / s_out^2 for the squared error), as a power of two.
    x_max bounds |input| (e.g. 4096 for Q12 inputs in [0, 1]); cache: see TrainParams."""
    n = len(model.layers)
    if len(act_scales) != n + 1:
        raise ValueError(f"{len(act_scales)} activation scales for {n} layers: need {n + 1}")
    if batch < 1:
        raise ValueError("batch must be >= 1")
    sw = 2.0 ** -q
    out_g = 2.0 ** -15 if loss_kind == LOSS_SOFTMAX_XENT else act_scales[-1]
    g_scale = [2.0 ** -grad_frac] * (n - 1) + [out_g]
    layers, theta = [], []
    for k in range(first, n):
        layer = model.layers[k]
        below = model.layers[k - 1] if k else None
        a_max = x_max if k == 0 else max(abs(below.act_min), abs(below.act_max))
        gs = grad_shift_for(batch, a_max)
        s_in = act_scales[k]
        back = fixed.quantize_multiplier(g_scale[k] * sw / g_scale[k - 1]) if k > first else (0, 0)
        dir_w = fixed.quantize_multiplier(2.0 ** gs * g_scale[k] * s_in * 2.0 ** dir_q / batch)
        dir_b = fixed.quantize_multiplier(g_scale[k] * 2.0 ** dir_q / batch)
        layers.append(LayerScales(*fixed.quantize_multiplier(1.0 / s_in), gs, *back, *dir_w, *dir_b))
        # theta: the weights as they are, the bias from accumulator units to Q(q)
        theta += [np.asarray(layer.weight).ravel(), np.clip(rhu_float(np.asarray(layer.bias) * s_in),
                                                           fixed.INT16_MIN, fixed.INT16_MAX)]
    units = 4096.0 * batch if loss_kind == LOSS_SOFTMAX_XENT else 2.0 * batch / act_scales[-1] ** 2
    slope_shift = int(round(2 * dir_q - np.log2(units)))
    lm, ls = fixed.quantize_multiplier(act_scales[-1] * 4096) if loss_kind == LOSS_SOFTMAX_XENT else (0, 0)
    p = TrainParams(first, layers, loss_kind, lm, ls, slope_shift if 0 <= slope_shift <= 62 else SLOPE_NONE, cache)
    check_params(model, p)
    return p, np.concatenate(theta).astype(np.int16)


def optimizer_config(lr: float, q: int = 12, dir_q: int = 24, **kw) -> optim.OptimConfig:
    """The quantized optimizer for mini-batch training: lambda_max = lr (z_max = rhu(lr 2^q)),
    ADAPT policy (the step shrinks on idle batches and grows back on accepted ones), phi = 1
    (c1_shift 0: a step is kept iff it lowers the batch loss); kw overrides (rounding, ortho...)."""
    z = int(rhu_float(lr * 2.0 ** q))
    if z < 1:
        raise ValueError(f"learning rate {lr} below 1 / 2^{q}")
    return optim.OptimConfig(**{"q": q, "dir_q": dir_q, "z_max": z, "policy": optim.ADAPT, "c1_shift": 0, **kw})


def workspace_bytes(model: IntModel, p: TrainParams, cfg: optim.OptimConfig) -> int:
    """fx_train_workspace_size, computed from the layout docs/training.md describes (the copy
    of theta is left out in swap mode, cfg.swap_ok())."""
    check_params(model, p)
    n, first = len(model.layers), p.first
    params = n_params(model, first)
    act = sum(l.n_out for l in model.layers[max(first - 1, 0):])
    ping = max([l.n_out for l in model.layers[:max(first - 1, 0)]], default=0)
    g = max(l.n_out for l in model.layers[first:])
    words32 = params + (n - first) + model.layers[-1].n_out
    cache = p.cache * model.layers[first].n_in
    round8 = lambda b: (b + 7) // 8 * 8
    current = 0 if cfg.swap_ok() else params
    return STATE_BYTES + round8(4 * words32) + 2 * (current + act + 2 * ping + 2 * g + cache)


@dataclass
class EpochStats:
    loss: float              # mean training loss before each step (nats for softmax)
    train_acc: float         # fraction classified right before each step (softmax)
    accepted: float          # fraction of steps kept
    changed: float           # mean parameters changed per trial step


def epochs(n_samples: int, n_epochs: int, batch: int, seed: int = 0):
    """The batches of every epoch: per epoch a permutation of a Generator seeded with seed,
    cut into batch-sized pieces (the last may be smaller) - the order nn.fit uses."""
    rng = np.random.default_rng(seed)
    for _ in range(n_epochs):
        order = rng.permutation(n_samples)
        yield [order[s:s + batch] for s in range(0, n_samples, batch)]


def fit(step, x, labels=None, targets=None, n_epochs: int = 1, batch: int = 32, seed: int = 0,
        loss_unit: float = 4096.0, on_epoch=None, progress=None) -> list[EpochStats]:
    """Mini-batch training: step(x, labels, targets) -> StepStats runs one batch (e.g.
    Trainer(...).step or CTrainer(...).step bound to a kernel); on_epoch(e, stats) after each
    epoch. loss_unit: objective units per nat (4096 for the softmax loss)."""
    x = np.asarray(x)
    history = []
    for e, batches in enumerate(epochs(len(x), n_epochs, batch, seed)):
        loss_sum = correct = accepted = changed = 0
        for idx in batches:
            st = step(x[idx], None if labels is None else np.asarray(labels)[idx],
                      None if targets is None else np.asarray(targets)[idx])
            loss_sum += st.loss
            correct += st.correct
            accepted += st.accepted
            changed += st.changed
        history.append(EpochStats(loss_sum / loss_unit / len(x), correct / len(x), accepted / len(batches),
                                  changed / len(batches)))
        if on_epoch is not None:
            on_epoch(e, history[-1])
        if progress is not None:
            progress.update(1)
    return history


# ---- the C kernel (ctypes) ---------------------------------------------------------------------

class FxTrainLayer(C.Structure):
    """Mirror of fx_train_layer (fx_train.h)."""
    _fields_ = [("bias", native.i32p)] + [(name, C.c_int32) for name in LayerScales.__dataclass_fields__]


class FxTrainParams(C.Structure):
    """Mirror of fx_train_params (fx_train.h)."""
    _fields_ = [("model", C.POINTER(mlp.FxMlpModel)), ("layers", C.POINTER(FxTrainLayer)),
                ("theta", native.i16p), ("optim", C.POINTER(optim.FxOptim)),
                ("first", C.c_uint32), ("loss", C.c_int32), ("loss_mult", C.c_int32), ("loss_shift", C.c_int32),
                ("slope_shift", C.c_int32), ("cache", C.c_uint32)]


class FxTrainStats(C.Structure):
    """Mirror of fx_train_stats (fx_train.h)."""
    _fields_ = [("loss", C.c_int64), ("loss_trial", C.c_int64), ("n", C.c_uint32), ("correct", C.c_uint32),
                ("changed", C.c_uint32), ("accepted", C.c_uint32)]

    def to_stats(self) -> StepStats:
        return StepStats(self.loss, self.loss_trial, self.n, self.correct, self.changed, bool(self.accepted))


_P, _WS = C.POINTER(FxTrainParams), C.c_void_p
native.declare("fx_train_n_params", C.c_int, [_P, C.POINTER(C.c_uint32)])
native.declare("fx_train_slope", C.c_int64, [native.i32p, C.c_uint32, C.c_int32])
native.declare("fx_train_workspace_size", C.c_int, [_P, C.POINTER(C.c_size_t)])
native.declare("fx_train_begin", C.c_int, [_P, _WS, C.c_size_t])
native.declare("fx_train_accumulate", C.c_int, [_P, _WS, C.c_size_t, native.i16p, C.c_uint16, native.i16p])
native.declare("fx_train_propose", C.c_int, [_P, _WS, C.c_size_t, C.POINTER(C.c_uint32)])
native.declare("fx_train_evaluate", C.c_int, [_P, _WS, C.c_size_t, native.i16p, C.c_uint16, native.i16p])
native.declare("fx_train_finish", C.c_int, [_P, _WS, C.c_size_t, C.POINTER(FxTrainStats)])
native.declare("fx_train_step", C.c_int, [_P, native.i16p, C.POINTER(C.c_uint16), native.i16p, C.c_uint32,
                                          _WS, C.c_size_t, C.POINTER(FxTrainStats)])


class CTrainer:
    """The kernel's trainer over a copy of an IntModel: theta is a C int16 array, the trained
    layers' weights point into it, the C optimizer (optim.NativeOptimizer's fx_optim) moves it.
    Arrays are passed through unchecked, so tests can hand the kernel bad setups."""

    def __init__(self, kernel, model: IntModel, p: TrainParams, theta, cfg: optim.OptimConfig):
        self.kernel = kernel
        self.cmodel = mlp.CModel(model)
        self.theta = np.ascontiguousarray(theta, dtype=np.int16).copy()
        self.optimizer = optim.NativeOptimizer(cfg, max(1, len(self.theta)), lib=kernel)
        n_trained = len(model.layers) - p.first
        self.layers = (FxTrainLayer * max(n_trained, 1))()
        at = 0
        for j, s in enumerate(p.layers[:n_trained]):
            k = p.first + j
            d = self.cmodel.dense[k]
            self.cmodel.layers[k].dense.weights = self.theta.ctypes.data + 2 * at   # W inside theta
            self.layers[j] = FxTrainLayer(native.ptr(d.bias, C.c_int32), *[getattr(s, f) for f in LayerScales.__dataclass_fields__])
            at += model.layers[k].n_out * (model.layers[k].n_in + 1)
        self.struct = FxTrainParams(C.pointer(self.cmodel.struct), self.layers, native.ptr(self.theta, C.c_int16),
                                    C.pointer(self.optimizer._o), p.first, p.loss, p.loss_mult, p.loss_shift,
                                    p.slope_shift, p.cache)
        self.workspace = np.zeros(1, dtype=np.int64)

    def workspace_size(self) -> tuple[int, int]:
        """(status, bytes)."""
        n = C.c_size_t(0)
        st = self.kernel.fx_train_workspace_size(C.byref(self.struct), C.byref(n))
        return st, n.value

    def buffer(self) -> tuple[int, int, int]:
        """(status, address, bytes) of an 8-byte aligned workspace of the reported size."""
        st, size = self.workspace_size()
        if st == 0 and self.workspace.nbytes < size:
            self.workspace = np.zeros((size + 7) // 8, dtype=np.int64)
        return st, self.workspace.ctypes.data, size

    def step_status(self, x, labels=None, targets=None) -> tuple[int, StepStats | None]:
        """fx_train_step on one batch: (status, stats)."""
        st, ws, size = self.buffer()
        if st != 0:
            return st, None
        x = np.ascontiguousarray(x, dtype=np.int16)
        lab = None if labels is None else np.ascontiguousarray(labels, dtype=np.uint16)
        tgt = None if targets is None else np.ascontiguousarray(targets, dtype=np.int16)
        stats = FxTrainStats()
        st = self.kernel.fx_train_step(C.byref(self.struct), native.ptr(x, C.c_int16), native.ptr(lab, C.c_uint16),
                                       native.ptr(tgt, C.c_int16), len(x), ws, size, C.byref(stats))
        return st, stats.to_stats()

    def step(self, x, labels=None, targets=None) -> StepStats:
        """fx_train_step; RuntimeError on a failure status."""
        st, stats = self.step_status(x, labels, targets)
        if st != 0:
            raise RuntimeError(f"fx_train_step returned {st}")
        return stats

    def model(self) -> IntModel:
        """The current integers of the kernel's model."""
        return mlp.from_c(self.cmodel.struct)
