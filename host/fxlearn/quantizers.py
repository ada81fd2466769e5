"""Fake quantizers for weights and activations, designed to equal the integer model.

Every quantizer rounds to the kernel's own integer level sets (``quant.levels``), times a float
scale that the converter folds into the layer's requantization multiplier, so the float
forward pass here is the integer forward pass of ``mlp.IntModel`` up to the 31-bit rounding of
the multiplier:

* weights (signed): ``W_q = unit * sign * L[m]`` with ``L = quant.levels(fmt, bits)``,
  ``unit = sigma * alpha / max(L)`` per tensor or per output channel;
* activations (after ReLU, unsigned, ``a`` bits): integers ``n = clamp(rhu(z / s), 0, qmax)``,
  then, for PoT/APoT, snapped to the nearest level of ``k * quant.levels(fmt, a + 1)``
  (B = a magnitude bits, as the APoT authors use for activations); ``s = alpha / qmax``.
  This is what the kernel's requant + clamp + snap computes.

Training (APoT paper, ALGORITHMS.md section 2): optional weight normalisation
``z = (W - mean) / std``, a learnable clip ``alpha`` with the RCF gradient
``sum g * (sign(x) if |x| > 1 else q(x) - x)`` (x = z / alpha), and the rounding's gradient
either STE (identity inside the clip range) or EWGS
``g_x = g_q * (1 + delta * sign(g_q) * (x - q))`` in the normalised domain x in [-1, 1]
(weights) / [0, 1] (activations). The std that rescales the quantized weight back is held
constant in the backward pass (stop-gradient); the normalisation itself is differentiated
exactly.
"""
from __future__ import annotations

import math

import numpy as np

from . import quant
from .fixed import INT16_MAX, INT16_MIN

SCHEMES = {"uniform": quant.FMT_UNIFORM, "pot": quant.FMT_POT, "apot": quant.FMT_APOT}
GRADS = ("ste", "ewgs")
EWGS_FIXES = ("none", "clip", "nozero")
ACT_GRID = 16            # activation fine-grid factor k (fewer if k * max level leaves int16)
ALPHA_FLOOR = 1e-3       # smallest per-channel clip, relative to the tensor's largest


def parse_spec(spec: str) -> tuple[str, int]:
    """'apot4', 'apot:4', 'uniform8' -> (scheme, bits)."""
    s = spec.strip().lower().replace(":", "")
    name = s.rstrip("0123456789")
    if name not in SCHEMES or name == s:
        raise ValueError(f"bad quantizer spec {spec!r}: expected <scheme><bits> with scheme in "
                         f"{sorted(SCHEMES)}, e.g. apot4")
    return name, int(s[len(name):])


def weight_levels(scheme: str, bits: int) -> np.ndarray:
    """Magnitude levels of a b-bit signed weight code (B = b - 1 magnitude bits)."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}, expected one of {sorted(SCHEMES)}")
    return np.array(quant.levels(SCHEMES[scheme], bits), dtype=np.int64)


def weight_format(scheme: str, bits: int) -> int:
    """Kernel format of a weight quantizer; 8-bit uniform is the kernel's int8 format."""
    return quant.FMT_INT8 if scheme == "uniform" and bits == 8 else SCHEMES[scheme]


def act_levels(scheme: str, bits: int) -> tuple[np.ndarray | None, int]:
    """(integer levels to snap to or None, qmax) of an a-bit unsigned activation in int16."""
    if scheme == "uniform":
        if not 1 <= bits <= 15:
            raise ValueError(f"uniform activations support 1..15 bits, got {bits}")
        return None, (1 << bits) - 1
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}, expected one of {sorted(SCHEMES)}")
    try:
        lv = np.array(quant.levels(SCHEMES[scheme], bits + 1), dtype=np.int64)
    except ValueError:
        lv = None
    if lv is None or lv[-1] > INT16_MAX:
        raise ValueError(f"{scheme} activations at {bits} bits do not fit int16 "
                         f"(apot: 1..6 bits, pot: 1..4 bits)")
    k = 1 << max(0, min(int(math.log2(ACT_GRID)), int(math.floor(math.log2(INT16_MAX / lv[-1])))))
    lv = lv * k
    return lv, int(lv[-1])


def nearest_index(x: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Index of the nearest of the ascending ``levels``; an exact midpoint goes up (as the
    kernel's round-half-up does)."""
    mids = (levels[1:] + levels[:-1]) / 2.0
    return np.searchsorted(mids, x, side="right")


def snap(n: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Integers snapped to the nearest level (ties up)."""
    return levels[nearest_index(n, levels)]


def rhu_float(t: np.ndarray) -> np.ndarray:
    """floor(t + 1/2): the kernel's rounding, applied to a real number."""
    return np.floor(t + 0.5)


def _ewgs_scale(g, diff, delta, q, fix):
    scale = 1.0 + delta * np.sign(g) * diff
    if fix == "nozero":
        scale = np.where(q == 0, 1.0, scale)
    return scale


class _Quantizer:
    """Shared parts: clip alpha, gradient mode (STE / EWGS with delta)."""

    def __init__(self, scheme: str, bits: int, grad: str, delta: float, ewgs_fix: str):
        if grad not in GRADS:
            raise ValueError(f"unknown gradient {grad!r}, expected one of {GRADS}")
        if ewgs_fix not in EWGS_FIXES:
            raise ValueError(f"unknown EWGS fix {ewgs_fix!r}, expected one of {EWGS_FIXES}")
        self.scheme, self.bits = scheme, bits
        self.grad, self.delta, self.ewgs_fix = grad, float(delta), ewgs_fix
        self.alpha = np.ones(1)
        self._ctx = None

    @property
    def max_abs_diff(self) -> float:
        """Largest |x - q| inside the clip range: half the widest gap between levels."""
        return float(np.max(np.diff(self.norm_levels))) / 2.0

    def clamp_alpha(self) -> None:
        """Keep every clip positive and, per channel, at least ALPHA_FLOOR of the largest: a dead
        (all ~0) row still gets a unit at which its bias fits int32 and its requant scale is
        representable."""
        np.maximum(self.alpha, max(1e-6, ALPHA_FLOOR * float(self.alpha.max())), out=self.alpha)

    def set_delta(self, delta: float) -> None:
        """EWGS delta; the 'clip' fix bounds it so the gradient scale stays in [0.5, 1.5]."""
        delta = max(0.0, float(delta))
        if self.ewgs_fix == "clip":
            delta = min(delta, 0.5 / self.max_abs_diff)
        self.delta = delta


class WeightQuantizer(_Quantizer):
    """Signed weight quantizer, per tensor or per output channel (rows of ``[out, in]``)."""

    def __init__(self, scheme: str, bits: int, per_channel: bool = False, normalize: bool = False,
                 grad: str = "ste", delta: float = 0.0, ewgs_fix: str = "none"):
        super().__init__(scheme, bits, grad, delta, ewgs_fix)
        self.levels = weight_levels(scheme, bits)
        self.fmt = weight_format(scheme, bits)
        self.norm_levels = self.levels / float(self.levels[-1])
        self.per_channel, self.normalize = per_channel, normalize

    def _axes(self):
        return (1,) if self.per_channel else (0, 1)

    def _alpha(self, w):
        a = self.alpha
        return a[:, None] if self.per_channel else a.reshape(1, 1)

    def stats(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std) used by the normalisation (0 and 1 without it), broadcastable to w."""
        if not self.normalize:
            return np.zeros((1, 1)), np.ones((1, 1))
        ax = self._axes()
        mu = w.mean(axis=ax, keepdims=True)
        sig = w.std(axis=ax, keepdims=True)
        if not sig.max() > 0:
            return mu, np.ones_like(sig)
        return mu, np.maximum(sig, ALPHA_FLOOR * sig.max())    # dead rows: see clamp_alpha

    def normalized(self, w: np.ndarray) -> np.ndarray:
        mu, sig = self.stats(w)
        return (w - mu) / sig

    def init_alpha(self, w: np.ndarray, alpha: float | np.ndarray | None = None) -> None:
        """Set alpha: given value, else the authors' 3.0 (normalised weights), else the
        INQ top level for PoT, else max|W| (per tensor or per channel)."""
        n = w.shape[0] if self.per_channel else 1
        if alpha is None:
            z = np.abs(self.normalized(w))
            zmax = z.max(axis=1) if self.per_channel else np.array([z.max()])
            zmax = np.where(zmax > 0, zmax, 1.0)
            if self.normalize:
                alpha = np.minimum(3.0, zmax)
            elif self.scheme == "pot":
                alpha = inq_alpha(zmax)
            else:
                alpha = zmax
        self.alpha = np.broadcast_to(np.asarray(alpha, dtype=np.float64), (n,)).copy()
        self.clamp_alpha()

    def quantize(self, w: np.ndarray, alpha=None):
        """(W_q, magnitude index m, sign) without storing anything for backward."""
        saved = self.alpha
        if alpha is not None:
            self.alpha = alpha
        try:
            mu, sig = self.stats(w)
            a = self._alpha(w)
            x = np.clip((w - mu) / sig / a, -1.0, 1.0)
            m = nearest_index(np.abs(x), self.norm_levels)
            s = np.where(x < 0, -1.0, 1.0)
            return sig * a * s * self.norm_levels[m], m, s
        finally:
            self.alpha = saved

    def forward(self, w: np.ndarray) -> np.ndarray:
        mu, sig = self.stats(w)
        a = self._alpha(w)
        z = (w - mu) / sig
        x = z / a
        xc = np.clip(x, -1.0, 1.0)
        q = np.sign(xc) * self.norm_levels[nearest_index(np.abs(xc), self.norm_levels)]
        self._ctx = (z, x, q, sig, a)
        return sig * a * q

    def backward(self, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(dL/dW, dL/dalpha) from dL/dW_q."""
        z, x, q, sig, a = self._ctx
        inside = np.abs(x) <= 1.0
        gx = g * sig * a * inside                      # d/dx of sig * a * q(x), STE
        if self.grad == "ewgs" and self.delta:
            gx = gx * _ewgs_scale(gx, x - q, self.delta, q, self.ewgs_fix)
        gz = gx / a
        if self.normalize:
            ax = self._axes()
            gz = (gz - gz.mean(axis=ax, keepdims=True)
                  - z * (gz * z).mean(axis=ax, keepdims=True)) / sig
        ga = g * sig * np.where(inside, q - x, np.sign(x))   # RCF
        ga = ga.sum(axis=1) if self.per_channel else np.array([ga.sum()])
        return gz, ga

    def unit(self, w: np.ndarray) -> np.ndarray:
        """Real value of one integer level unit: [1] per tensor or [out] per channel."""
        _, sig = self.stats(w)
        return (sig * self._alpha(w)).reshape(-1) / float(self.levels[-1])

    def codes(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(signed integer levels [out, in], unit scale [1] or [out]) with W_q = unit * level."""
        _, m, s = self.quantize(w)
        return (s * self.levels[m]).astype(np.int64), self.unit(w)

    def search_alpha(self, w: np.ndarray, grid: int = 96) -> None:
        """PTQ: alpha minimising ||W - W_q||^2 (per tensor or per channel) over a grid of
        fractions of max|z| (plus the INQ power of two for PoT)."""
        z = np.abs(self.normalized(w))
        zmax = z.max(axis=1) if self.per_channel else np.array([z.max()])
        zmax = np.where(zmax > 0, zmax, 1.0)
        fracs = np.linspace(0.15, 1.0, grid)
        cands = [zmax * f for f in fracs]
        if self.scheme == "pot":
            cands.append(inq_alpha(zmax))
        best = None
        for c in cands:
            wq, _, _ = self.quantize(w, c)
            err = ((w - self.stats(w)[0] - wq) ** 2).sum(axis=1)
            err = err if self.per_channel else np.array([err.sum()])
            if best is None:
                best, best_err = c.copy(), err
            else:
                better = err < best_err
                best = np.where(better, c, best)
                best_err = np.where(better, err, best_err)
        self.alpha = best
        self.clamp_alpha()


def inq_alpha(wmax: np.ndarray) -> np.ndarray:
    """INQ's top level 2^n1 with n1 = floor(log2(4 * max|W| / 3))."""
    return np.exp2(np.floor(np.log2(4.0 * np.asarray(wmax) / 3.0)))


class ActQuantizer(_Quantizer):
    """ReLU + clip + quantize of a hidden layer's pre-activation, per tensor, emulating the
    kernel's requant (round half up) + clamp [0, qmax] + snap to levels."""

    def __init__(self, scheme: str, bits: int, grad: str = "ste", delta: float = 0.0,
                 ewgs_fix: str = "none"):
        super().__init__(scheme, bits, grad, delta, ewgs_fix)
        self.int_levels, self.qmax = act_levels(scheme, bits)
        grid = self.int_levels if self.int_levels is not None else np.arange(self.qmax + 1)
        self.norm_levels = grid / float(self.qmax)
        self.alpha = np.array([6.0])

    @property
    def scale(self) -> float:
        """Real value of one integer step of the output."""
        return float(self.alpha[0]) / self.qmax

    def quantize_int(self, z: np.ndarray, alpha: float | None = None) -> np.ndarray:
        """The integer outputs (what the kernel stores), as float64."""
        s = (self.alpha[0] if alpha is None else alpha) / self.qmax
        n = np.clip(rhu_float(z / s), 0, self.qmax)
        return n if self.int_levels is None else snap(n, self.int_levels).astype(np.float64)

    def quantize(self, z: np.ndarray, alpha: float | None = None) -> np.ndarray:
        a = self.alpha[0] if alpha is None else alpha
        return self.quantize_int(z, a) * (a / self.qmax)

    def forward(self, z: np.ndarray) -> np.ndarray:
        a = self.alpha[0]
        n = self.quantize_int(z)
        q = n / self.qmax
        self._ctx = (z / a, q)
        return a * q

    def backward(self, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, q = self._ctx
        inside = (x > 0) & (x < 1)
        gx = g * inside
        if self.grad == "ewgs" and self.delta:
            gx = gx * _ewgs_scale(gx, x - q, self.delta, q, self.ewgs_fix)
        ga = g * np.where(inside, q - x, (x >= 1).astype(np.float64))   # RCF
        return gx, np.array([ga.sum()])

    def search_alpha(self, z: np.ndarray, grid: int = 96) -> None:
        """PTQ: alpha minimising the squared error of ReLU(z) on calibration data."""
        h = np.maximum(z, 0.0)
        hmax = float(h.max()) if h.size and h.max() > 0 else 1.0
        best, best_err = hmax, np.inf
        for a in hmax * np.linspace(0.1, 1.0, grid):
            err = float(np.sum((h - self.quantize(z, a)) ** 2))
            if err < best_err:
                best, best_err = a, err
        self.alpha = np.array([best])


class InputQuantizer:
    """Model input -> int16 as ``IntModel.quantize_input`` does it: clip(round(x / scale)), round
    half away from zero. Calibration puts max|x| at 2^(bits-1) - 1; larger inputs at run time
    still use the int16 range."""

    def __init__(self, bits: int = 8, scale: float = 1.0):
        if not 2 <= bits <= 16:
            raise ValueError(f"input bits must be 2..16, got {bits}")
        self.bits, self.scale = bits, float(scale)
        self.qmax = (1 << (bits - 1)) - 1

    def calibrate(self, x: np.ndarray) -> None:
        m = float(np.max(np.abs(x))) if np.size(x) else 0.0
        self.scale = (m if m > 0 else 1.0) / self.qmax

    def quantize_int(self, x: np.ndarray) -> np.ndarray:
        v = np.asarray(x, dtype=np.float64) / self.scale
        return np.clip(np.sign(v) * np.floor(np.abs(v) + 0.5), INT16_MIN, INT16_MAX)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.quantize_int(x) * self.scale


class OutputQuantizer:
    """Last layer output (logits) -> int16 with a calibrated scale; identity gradient."""

    def __init__(self, scale: float = 1.0, lo: int = -(1 << 15), hi: int = (1 << 15) - 1):
        self.scale, self.lo, self.hi = float(scale), lo, hi

    def calibrate(self, z: np.ndarray, headroom: float = 2.0) -> None:
        m = float(np.max(np.abs(z))) if np.size(z) else 0.0
        self.scale = headroom * (m if m > 0 else 1.0) / self.hi

    def quantize_int(self, z: np.ndarray) -> np.ndarray:
        return np.clip(rhu_float(z / self.scale), self.lo, self.hi)

    def forward(self, z: np.ndarray) -> np.ndarray:
        return self.quantize_int(z) * self.scale
