"""Bit-exact reference of the kernel's integer losses (docs/kernel.md section 7).

The tables are computed here from their definitions (2^(-k/64), log2(1 + j/64)), not copied
from the C source, so a wrong C constant shows up as a mismatch.
"""
from __future__ import annotations

import math

import numpy as np

from . import fixed

Q15_ONE, Q12_ONE = 1 << 15, 1 << 12
EXP2_NEG = np.array([round(Q15_ONE * 2.0 ** (-k / 64)) for k in range(65)], dtype=np.int64)
LOG2_1P = np.array([round(Q12_ONE * math.log2(1 + j / 64)) for j in range(65)], dtype=np.int64)
LOG2E_Q16 = round(math.log2(math.e) * 2 ** 16)
LN2_Q16 = round(math.log(2) * 2 ** 16)


def _interp(table: np.ndarray, i, r):
    a, b = table[i], table[i + 1]
    return a + ((b - a) * r + 32) // 64          # rhu((b - a) * r / 64)


def exp_neg_q12(d) -> np.ndarray:
    """exp(-d/4096) in Q15, elementwise, for int d (negative d counts as 0)."""
    d = np.maximum(np.asarray(d, dtype=np.int64), 0)
    t = (d * LOG2E_Q16 + (1 << 15)) >> 16        # d in log2 units, Q12 (rhu)
    n, f = t >> 12, t & 4095
    v = _interp(EXP2_NEG, f >> 6, f & 63)
    n_eff = np.minimum(n, 62)
    out = np.where(n_eff > 0, (v + (np.int64(1) << np.maximum(n_eff - 1, 0))) >> n_eff, v)
    return np.where(n > 16, 0, out)


def log2_q12(x) -> np.ndarray:
    """log2(x) in Q12 for integer x >= 1 (0 for x == 0)."""
    x = np.asarray(x, dtype=np.int64)
    safe = np.maximum(x, 1)
    k = np.floor(np.log2(safe.astype(np.float64))).astype(np.int64)
    # float log2 may be off by one next to a power of two: fix k so that 2^k <= x < 2^(k+1)
    k = np.where((np.int64(1) << k) > safe, k - 1, k)
    k = np.where((np.int64(1) << (k + 1)) <= safe, k + 1, k)
    mant = np.where(k >= 12, safe >> np.maximum(k - 12, 0), safe << np.maximum(12 - k, 0)) - 4096
    out = k * 4096 + _interp(LOG2_1P, mant >> 6, mant & 63)
    return np.where(x == 0, 0, out)


def softmax_xent(logits, labels, mult: int, shift: int):
    """Batch softmax cross-entropy: logits [n, c] int16 values, labels [n].
    Returns (grad [n, c] Q15 = softmax - onehot, loss [n] Q12 nats)."""
    fixed.requant_check(mult, shift)
    z = np.asarray(logits, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    if z.ndim != 2 or z.shape[1] == 0 or labels.shape != (z.shape[0],):
        raise ValueError(f"logits must be [n, classes>0] with one label per row, got {z.shape} and {labels.shape}")
    if np.any((labels < 0) | (labels >= z.shape[1])):
        raise ValueError("label out of range")
    d = fixed.requant_np(z.max(axis=1, keepdims=True) - z, mult, shift)
    e = exp_neg_q12(d)
    s = e.sum(axis=1, keepdims=True)
    p = (2 * e * Q15_ONE + s) // (2 * s)            # rhu(e * 2^15 / s)
    onehot = np.zeros_like(p)
    onehot[np.arange(len(labels)), labels] = Q15_ONE
    rows = np.arange(len(labels))
    log2_ratio = log2_q12(s[:, 0]) - 15 * Q12_ONE
    loss = d[rows, labels] + ((log2_ratio * LN2_Q16 + (1 << 15)) >> 16)
    return p - onehot, np.clip(loss, fixed.INT32_MIN, fixed.INT32_MAX)


def mse(y, target):
    """Batch squared error: grad = y - t, loss = sum over outputs of (y - t)^2, per sample."""
    e = np.asarray(y, dtype=np.int64) - np.asarray(target, dtype=np.int64)
    return e, (e * e).sum(axis=-1)
