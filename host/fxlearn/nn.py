"""Float reference: MLP (dense + ReLU, softmax cross-entropy or MSE head) and a seeded numpy
trainer (mini-batch SGD with momentum or Adam). The quantizers (``quantizers.py``), PTQ and QAT
build on the loss functions and optimizers defined here.

Conventions shared with the integer model: a dense weight is ``[out, in]`` and a layer computes
``x @ W.T + b``; every hidden layer is followed by ReLU, the last one outputs logits.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

HEADS = ("softmax", "mse")


# ---------------------------------------------------------------------------------------------
# Heads: loss, its gradient and its Hessian-vector product with respect to the network output
# ---------------------------------------------------------------------------------------------
def _targets(y: np.ndarray, n_out: int) -> np.ndarray:
    """MSE targets: class labels become one-hot rows, real targets are used as given."""
    y = np.asarray(y)
    if y.ndim == 1 and np.issubdtype(y.dtype, np.integer):
        return np.eye(n_out)[y]
    return y.reshape(len(y), n_out).astype(np.float64)


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def head_loss(z: np.ndarray, y: np.ndarray, head: str) -> tuple[float, np.ndarray]:
    """Mean loss over the batch and its gradient with respect to the outputs ``z``.

    softmax: cross-entropy of integer labels. mse: 0.5 * squared error summed over outputs,
    averaged over samples (labels are one-hot encoded)."""
    n = len(z)
    if head == "softmax":
        p = softmax(z)
        loss = -np.mean(np.log(p[np.arange(n), y] + 1e-300))
        p[np.arange(n), y] -= 1.0
        return float(loss), p / n
    if head == "mse":
        d = z - _targets(y, z.shape[1])
        return float(0.5 * np.sum(d * d) / n), d / n
    raise ValueError(f"unknown head {head!r}, expected one of {HEADS}")


def head_hvp(z: np.ndarray, rz: np.ndarray, head: str) -> np.ndarray:
    """(d^2 loss / dz^2) @ rz, row by row: the R-operator of ``head_loss``'s gradient."""
    n = len(z)
    if head == "softmax":
        p = softmax(z)
        return (p * rz - p * np.sum(p * rz, axis=1, keepdims=True)) / n
    if head == "mse":
        return rz / n
    raise ValueError(f"unknown head {head!r}, expected one of {HEADS}")


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------
@dataclass
class MLP:
    """Dense layers with ReLU between them. ``weights[l]`` is ``[out, in]``."""
    weights: list[np.ndarray]
    biases: list[np.ndarray]
    head: str = "softmax"

    def __post_init__(self):
        if self.head not in HEADS:
            raise ValueError(f"unknown head {self.head!r}, expected one of {HEADS}")
        if not self.weights or len(self.weights) != len(self.biases):
            raise ValueError("an MLP needs as many bias vectors as weight matrices (at least one)")
        for l, (w, b) in enumerate(zip(self.weights, self.biases)):
            if w.ndim != 2 or b.shape != (w.shape[0],):
                raise ValueError(f"layer {l}: weight must be [out, in] and bias [out]")
            if l and w.shape[1] != self.weights[l - 1].shape[0]:
                raise ValueError(f"layer {l}: input width {w.shape[1]} != previous output "
                                 f"width {self.weights[l - 1].shape[0]}")

    @classmethod
    def init(cls, sizes: Sequence[int], head: str = "softmax", seed: int = 0) -> "MLP":
        """He-normal weights, zero biases; ``sizes = (inputs, hidden..., outputs)``."""
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"sizes must list at least inputs and outputs, all >= 1: {sizes}")
        rng = np.random.default_rng(seed)
        ws = [rng.normal(0.0, math.sqrt(2.0 / i), size=(o, i)) for i, o in zip(sizes, sizes[1:])]
        return cls(ws, [np.zeros(o) for o in sizes[1:]], head)

    @property
    def sizes(self) -> tuple[int, ...]:
        return (self.weights[0].shape[1],) + tuple(w.shape[0] for w in self.weights)

    @property
    def params(self) -> list[np.ndarray]:
        """Parameters in optimizer order: W0, b0, W1, b1, ..."""
        return [p for wb in zip(self.weights, self.biases) for p in wb]

    def forward(self, x: np.ndarray, keep: bool = False):
        """Outputs (logits); with ``keep`` also the list of layer inputs and pre-activations."""
        a = np.asarray(x, dtype=np.float64)
        inputs, pre = [], []
        last = len(self.weights) - 1
        for l, (w, b) in enumerate(zip(self.weights, self.biases)):
            z = a @ w.T + b
            inputs.append(a)
            pre.append(z)
            a = z if l == last else np.maximum(z, 0.0)
        return (a, inputs, pre) if keep else a

    def hidden(self, x: np.ndarray) -> list[np.ndarray]:
        """Post-ReLU outputs of every hidden layer (the activations a quantizer sees)."""
        _, inputs, _ = self.forward(x, keep=True)
        return inputs[1:]

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.argmax(self.forward(x), axis=1)

    def accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(self.predict(x) == y))

    def loss(self, x: np.ndarray, y: np.ndarray) -> float:
        return head_loss(self.forward(x), y, self.head)[0]

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray) -> tuple[float, list[np.ndarray]]:
        """Loss and gradients in ``params`` order."""
        z, inputs, pre = self.forward(x, keep=True)
        loss, g = head_loss(z, y, self.head)
        grads: list[np.ndarray] = []
        for l in range(len(self.weights) - 1, -1, -1):
            grads[:0] = [g.T @ inputs[l], g.sum(axis=0)]
            if l:
                g = (g @ self.weights[l]) * (pre[l - 1] > 0)
        return loss, grads

    def n_params(self) -> int:
        return sum(p.size for p in self.params)

    def save(self, path) -> None:
        arrays = {f"w{l}": w for l, w in enumerate(self.weights)}
        arrays.update({f"b{l}": b for l, b in enumerate(self.biases)})
        np.savez(path, head=np.array(self.head), n_layers=np.array(len(self.weights)), **arrays)

    @classmethod
    def load(cls, path) -> "MLP":
        path = Path(path)
        with np.load(path, allow_pickle=False) as f:
            if "n_layers" not in f or "head" not in f:
                raise ValueError(f"{path} is not an fxlearn float MLP (.npz from MLP.save)")
            n = int(f["n_layers"])
            return cls([f[f"w{l}"].astype(np.float64) for l in range(n)],
                       [f[f"b{l}"].astype(np.float64) for l in range(n)], str(f["head"]))


# ---------------------------------------------------------------------------------------------
# Optimizers: update a list of arrays in place
# ---------------------------------------------------------------------------------------------
class Optimizer:
    def __init__(self, params: list[np.ndarray], lr: float, weight_decay: Sequence[float] | float = 0.0):
        if lr <= 0:
            raise ValueError(f"learning rate must be > 0, got {lr}")
        self.params = params
        self.lr = lr
        wd = [weight_decay] * len(params) if np.isscalar(weight_decay) else list(weight_decay)
        if len(wd) != len(params):
            raise ValueError("one weight-decay value per parameter")
        self.weight_decay = wd

    def step(self, grads: list[np.ndarray], lr: float | None = None) -> None:
        lr = self.lr if lr is None else lr
        for i, (p, g) in enumerate(zip(self.params, grads)):
            if self.weight_decay[i]:
                g = g + self.weight_decay[i] * p
            p -= self._direction(i, g) * lr


class SGD(Optimizer):
    def __init__(self, params, lr=0.05, momentum=0.9, weight_decay=0.0):
        super().__init__(params, lr, weight_decay)
        self.momentum = momentum
        self.velocity = [np.zeros_like(p) for p in params]

    def _direction(self, i, g):
        self.velocity[i] = self.momentum * self.velocity[i] + g
        return self.velocity[i]


class Adam(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr, weight_decay)
        self.betas, self.eps = betas, eps
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = [0] * len(params)

    def _direction(self, i, g):
        b1, b2 = self.betas
        self.t[i] += 1
        self.m[i] = b1 * self.m[i] + (1 - b1) * g
        self.v[i] = b2 * self.v[i] + (1 - b2) * g * g
        m_hat = self.m[i] / (1 - b1 ** self.t[i])
        v_hat = self.v[i] / (1 - b2 ** self.t[i])
        return m_hat / (np.sqrt(v_hat) + self.eps)


def make_optimizer(name: str, params, lr: float, momentum: float = 0.9,
                   weight_decay: Sequence[float] | float = 0.0) -> Optimizer:
    if name == "adam":
        return Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}: use 'adam' or 'sgd'")


# ---------------------------------------------------------------------------------------------
# The training loop
# ---------------------------------------------------------------------------------------------
@dataclass
class TrainConfig:
    epochs: int = 150
    batch_size: int = 64
    optimizer: str = "adam"
    lr: float = 3e-3
    momentum: float = 0.9
    weight_decay: float = 1e-3
    schedule: str = "cosine"          # "cosine" decay to 0 over the run, or "constant"
    seed: int = 0


@dataclass
class History:
    loss: list[float] = field(default_factory=list)          # mean training loss per epoch


def lr_at(cfg: TrainConfig, epoch: int) -> float:
    if cfg.schedule == "constant":
        return cfg.lr
    if cfg.schedule == "cosine":
        return 0.5 * cfg.lr * (1 + math.cos(math.pi * epoch / cfg.epochs))
    raise ValueError(f"unknown schedule {cfg.schedule!r}: use 'cosine' or 'constant'")


def fit(opt: Optimizer, loss_and_grads: Callable[[np.ndarray], tuple[float, list[np.ndarray]]],
        n_samples: int, cfg: TrainConfig,
        on_epoch: Callable[[int], None] | None = None, progress=None) -> History:
    """Mini-batch loop: each epoch shuffles with a Generator seeded by ``cfg.seed`` and calls
    ``loss_and_grads(batch_indices)``. ``on_epoch(e)`` runs before epoch e (e.g. to refresh
    EWGS scales); ``progress`` is an optional tqdm bar advanced once per epoch."""
    if cfg.epochs < 1 or cfg.batch_size < 1:
        raise ValueError("epochs and batch_size must be >= 1")
    rng = np.random.default_rng(cfg.seed)
    hist = History()
    for epoch in range(cfg.epochs):
        if on_epoch is not None:
            on_epoch(epoch)
        lr = lr_at(cfg, epoch)
        order = rng.permutation(n_samples)
        total, count = 0.0, 0
        for start in range(0, n_samples, cfg.batch_size):
            idx = order[start:start + cfg.batch_size]
            loss, grads = loss_and_grads(idx)
            opt.step(grads, lr)
            total += loss * len(idx)
            count += len(idx)
        hist.loss.append(total / count)
        if progress is not None:
            progress.update(1)
    return hist


def train(model: MLP, x: np.ndarray, y: np.ndarray, cfg: TrainConfig | None = None,
          progress=None) -> History:
    """Train ``model`` in place. Weight decay applies to weights only, not biases."""
    cfg = cfg or TrainConfig()
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"{len(x)} samples but {len(y)} targets")
    wd = [cfg.weight_decay if p.ndim == 2 else 0.0 for p in model.params]
    opt = make_optimizer(cfg.optimizer, model.params, cfg.lr, cfg.momentum, wd)
    return fit(opt, lambda idx: model.loss_and_grads(x[idx], y[idx]), len(x), cfg,
               progress=progress)
