"""Full-batch quantized optimisation with a BFGS direction, shared by the optimizer benchmarks.

The direction is computed by the caller (the optimizer only receives it), here in fixed point
from the integer gradient at the quantized point, with Python integers only: the inverse
Hessian is held as ``Hq = rhu(2^qh H)`` and every update entry is rounded once. So the same
integer direction goes to the C kernel and to the Python reference, and the computation is
reproducible anywhere Python integers are (MicroPython included). ``run`` drives either
optimizer through propose / report / commit and records what the tables and plots need.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import optimize

from ..objectives import FixedPoint, Objective

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
INT64_MAX = (1 << 63) - 1


def _rhu(a: int, b: int) -> int:
    return (2 * a + b) // (2 * b)


class FixedBFGS:
    """BFGS inverse-Hessian approximation on integers. Units: steps s in LSB of Q(q), gradients
    in Q(qg), H in Q(qh); the direction is returned in Q(dir_q), its predicted decrease
    (slope g.h) in the objective's Q(qf)."""

    def __init__(self, n: int, q: int, qg: int, qf: int, dir_q: int, qh: int = 30, curv_shift: int = 8):
        self.n, self.q, self.qg, self.qf, self.dir_q, self.qh = n, q, qg, qf, dir_q, qh
        self.curv_shift = curv_shift
        self.H = [[(1 << qh) if i == j else 0 for j in range(n)] for i in range(n)]
        self.updates = self.skipped = 0

    def first(self, G: list[int]) -> tuple[np.ndarray, int]:
        """Steepest descent scaled to a unit step in its largest component (H0 = I, the first
        step length of scipy's BFGS line search, ~1 / |g|)."""
        gmax = max(abs(g) for g in G)
        if gmax == 0:
            return np.zeros(self.n, np.int32), 0
        D = [_rhu(g << self.dir_q, gmax) for g in G]
        slope = _rhu(sum(g * g for g in G) << self.qf, gmax << self.qg)
        return self._sat(D), slope

    def direction(self, G: list[int]) -> tuple[np.ndarray, int]:
        """h = H g in Q(dir_q) (saturated to int32) and the slope g.h in Q(qf)."""
        HG = [sum(h * g for h, g in zip(row, G)) for row in self.H]
        D = [_rhu(v << self.dir_q, 1 << (self.qh + self.qg)) for v in HG]
        slope = _rhu(max(0, sum(g * v for g, v in zip(G, HG))) << self.qf, 1 << (2 * self.qg + self.qh))
        return self._sat(D), min(slope, INT64_MAX)      # the optimizer takes an int64 slope

    def update(self, s: list[int], y: list[int]) -> None:
        """H+ = (I - rho s y^T) H (I - rho y s^T) + rho s s^T. With a = s.y
        (integers), Hy = H y, w = y^T H y and K = qh + qg - q, each entry is rounded once
        (skipped unless s.y > 2^-curv_shift |s| |y|: the curvature safeguard of backtracking BFGS):
        H+_ij = H_ij + rhu(-(Hy_i s_j + s_i Hy_j) a + s_i s_j (a 2^K + w), a^2)."""
        a = sum(si * yi for si, yi in zip(s, y))
        ss, yy = sum(v * v for v in s), sum(v * v for v in y)
        if a <= 0 or (a * a) << (2 * self.curv_shift) <= ss * yy:
            self.skipped += 1
            return
        K = self.qh + self.qg - self.q
        Hy = [sum(h * v for h, v in zip(row, y)) for row in self.H]
        w = sum(yi * hi for yi, hi in zip(y, Hy))
        aa, big = a * a, (a << K) + w
        self.H = [[self.H[i][j] + _rhu(-(Hy[i] * s[j] + s[i] * Hy[j]) * a + s[i] * s[j] * big, aa)
                   for j in range(self.n)] for i in range(self.n)]
        self.updates += 1

    def refresh(self, fp: FixedPoint, X: np.ndarray, G: list[int]) -> bool:
        """Restart from the inverse of a forward-difference Hessian of the integer gradient
        (1 LSB steps: n gradient evaluations, no objective evaluation). False if it is not
        positive definite (H is then left as it is)."""
        from fractions import Fraction
        n = self.n
        cols = []
        for j in range(n):
            Xj = X.copy()
            Xj[j] += 1
            cols.append([(a - b) << self.q for a, b in zip(fp.grad(Xj), G)])   # Q(qg) per unit x
        B = [[Fraction(cols[i][j] + cols[j][i], 2 << self.qg) for j in range(n)] for i in range(n)]
        try:
            Hinv = _inverse_spd(B)
        except ValueError:
            return False
        self.H = [[_rhu(h.numerator << self.qh, h.denominator) for h in row] for row in Hinv]
        return True

    @staticmethod
    def _sat(D) -> np.ndarray:
        return np.array([max(INT32_MIN, min(INT32_MAX, v)) for v in D], dtype=np.int32)


def _inverse_spd(B):
    """Exact inverse of a symmetric positive definite rational matrix (Gauss-Jordan with
    a positivity check of every pivot); ValueError if it is not positive definite."""
    from fractions import Fraction
    n = len(B)
    M = [list(row) + [Fraction(int(i == j)) for j in range(n)] for i, row in enumerate(B)]
    for k in range(n):
        if M[k][k] <= 0:
            raise ValueError("not positive definite")
        p = M[k][k]
        M[k] = [v / p for v in M[k]]
        for i in range(n):
            if i != k and M[i][k] != 0:
                f = M[i][k]
                M[i] = [a - f * b for a, b in zip(M[i], M[k])]
    return [row[n:] for row in M]


@dataclass
class Run:
    """One quantized run: the accepted points, the objective per iteration and the counters."""
    X: np.ndarray
    F: int
    best_iter: int
    iters: int
    stalled: bool
    path: list = field(default_factory=list)        # (iteration, X) of every accepted point
    cost: list = field(default_factory=list)        # objective (real) after each iteration
    events: list = field(default_factory=list)      # (F_trial, go) per iteration: the bit-exact trace
    stats: dict = field(default_factory=dict)
    f_evals: int = 0
    g_evals: int = 0


def run(fp: FixedPoint, opt, x0, max_iter: int = 200, refresh: bool = False) -> Run:
    """Minimise fp's objective from x0 with `opt` (optim.Optimizer or optim.NativeOptimizer) and a
    fixed-point BFGS direction in Q(q + dir_extra). Stops at a zero gradient (a stationary point),
    when the optimizer stalls (every candidate of the direction tried) or after max_iter trials."""
    q = fp.q
    dir_q = opt.cfg.dir_q
    bfgs = FixedBFGS(fp.obj.n, q, fp.qg, fp.qf, dir_q)
    X = fp.quantize(x0).astype(np.int32)
    F = fp.f(X)
    G = fp.grad(X)
    D, slope = bfgs.first(G)
    opt.direction(F, slope)
    out = Run(X.copy(), F, 0, 0, False, path=[(0, X.copy())], cost=[fp.real(F)])
    best = F
    refreshed_at = -1
    while out.iters < max_iter and any(G):
        trial = opt.propose(X, D)
        if trial is None and refresh and refreshed_at != out.iters and bfgs.refresh(fp, X, G):
            refreshed_at = out.iters
            refresh_used = out.stats.setdefault("refresh", 0)
            out.stats["refresh"] = refresh_used + 1
            D, slope = bfgs.direction(G)
            opt.direction(F, slope)
            trial = opt.propose(X, D)
        if trial is None:
            out.stalled = True
            break
        out.iters += 1
        Ft = fp.f(trial)
        go = opt.report(Ft)
        out.events.append((Ft, go))
        if go:
            X_old = X.copy()
            opt.commit(X, D)
            if not np.array_equal(X, trial):
                raise AssertionError("commit() did not land on the accepted trial")
            G_new = fp.grad(X)
            bfgs.update([int(a) - int(b) for a, b in zip(X, X_old)], [a - b for a, b in zip(G_new, G)])
            F, G = Ft, G_new
            D, slope = bfgs.direction(G)
            opt.direction(F, slope)
            out.path.append((out.iters, X.copy()))
            if F < best:
                best, out.best_iter = F, out.iters
        out.cost.append(fp.real(F))
    out.X, out.F = X, F
    out.stats = {**opt.stats.as_dict(), "refresh": out.stats.get("refresh", 0)}
    out.f_evals, out.g_evals = fp.f_evals, fp.g_evals
    return out


@dataclass
class FloatRun:
    method: str
    x: np.ndarray
    f: float
    nit: int
    nfev: int
    njev: int
    path: list


def run_float(obj: Objective, x0, method: str = "BFGS") -> FloatRun:
    """scipy's float reference from the same start (analytic gradient, default tolerances)."""
    path = [np.array(x0, float)]
    res = optimize.minimize(obj.f_float, np.array(x0, float), jac=obj.grad_float, method=method,
                            callback=lambda xk, *a: path.append(np.array(xk, float)))
    return FloatRun(method, res.x, float(res.fun), int(res.nit), int(res.nfev), int(getattr(res, "njev", res.nfev)), path)
