"""Test objectives for the quantized optimizer: Rosenbrock, Beale, Booth, a random convex
quadratic in 10-D and a small least-squares regression.

Each is written once, generic over the number type, so the same code gives the float version
(for scipy's reference runs) and the exact value at a fixed-point point (``fractions.Fraction``
inputs): every constant is a dyadic or small rational. ``FixedPoint`` turns that into what the
integer optimizer sees at ``X = Qp x``: the objective ``F = rhu(f * 2^qf)`` (int64, saturated)
and the gradient ``G = rhu(g * 2^qg)`` (per component, saturated to int64), both rounded once
from the exact rational - so the C kernel and the Python reference get identical integers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from typing import Callable, Sequence

import numpy as np

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
F = Fraction


@dataclass(frozen=True)
class Objective:
    name: str
    n: int
    f: Callable[[Sequence], object]          # works on floats and on Fractions
    grad: Callable[[Sequence], list]
    starts: tuple[tuple[float, ...], ...]
    x_star: tuple | None = None              # the minimiser, when it is known and dyadic
    f_star: float = 0.0
    note: str = ""
    extra: dict = field(default_factory=dict, compare=False)

    def f_float(self, x) -> float:
        return float(self.f([float(v) for v in x]))

    def grad_float(self, x) -> np.ndarray:
        return np.array([float(v) for v in self.grad([float(v) for v in x])])


# ---------------------------------------------------------------------------- the functions

def rosenbrock(a=1, b=100) -> Objective:
    def f(x):
        return (a - x[0]) ** 2 + b * (x[1] - x[0] ** 2) ** 2

    def g(x):
        t = x[1] - x[0] ** 2
        return [-2 * (a - x[0]) - 4 * b * x[0] * t, 2 * b * t]
    return Objective("rosenbrock", 2, f, g, starts=((-1.2, 1.0), (-1.5, 2.0), (0.0, 0.0), (2.0, 2.0)),
                     x_star=(a, a * a), note=f"(a - x)^2 + b (y - x^2)^2, a = {a}, b = {b}")


def beale() -> Objective:
    c = (F(3, 2), F(9, 4), F(21, 8))

    def f(x):
        u, v = x
        return sum((ci - u + u * v ** (i + 1)) ** 2 for i, ci in enumerate(c))

    def g(x):
        u, v = x
        terms = [ci - u + u * v ** (i + 1) for i, ci in enumerate(c)]
        gu = sum(2 * t * (v ** (i + 1) - 1) for i, t in enumerate(terms))
        gv = sum(2 * t * (i + 1) * u * v ** i for i, t in enumerate(terms))
        return [gu, gv]
    return Objective("beale", 2, f, g, starts=((1.0, 1.0), (0.0, 0.0), (2.0, -1.0), (1.0, 1.5)),
                     x_star=(3, F(1, 2)), note="sum_i (c_i - x + x y^i)^2, c = 1.5, 2.25, 2.625")


def booth() -> Objective:
    def f(x):
        return (x[0] + 2 * x[1] - 7) ** 2 + (2 * x[0] + x[1] - 5) ** 2

    def g(x):
        r1, r2 = x[0] + 2 * x[1] - 7, 2 * x[0] + x[1] - 5
        return [2 * r1 + 4 * r2, 4 * r1 + 2 * r2]
    return Objective("booth", 2, f, g, starts=((0.0, 0.0), (-5.0, 5.0), (10.0, -10.0)),
                     x_star=(1, 3), note="(x + 2y - 7)^2 + (2x + y - 5)^2")


@lru_cache(maxsize=None)
def quadratic(n: int = 10, seed: int = 7) -> Objective:
    """f = 1/2 (x - x*)^T A (x - x*), A = (B^T B + I) / 8 with B integer in [-4, 4] (so A is
    dyadic and positive definite), x* a random multiple of 1/16 in [-2, 2] (on the lattice of
    every Qp >= 16). Fixed seed: the same problem every run."""
    rng = np.random.default_rng(seed)
    B = rng.integers(-4, 5, size=(n, n))
    A8 = (B.T @ B + np.eye(n, dtype=np.int64)).astype(int).tolist()     # 8 A, integers
    x_star = tuple(F(int(k), 16) for k in rng.integers(-32, 33, size=n))
    starts = tuple(tuple(float(v) for v in rng.integers(-12, 13, size=n) / 4) for _ in range(3))

    def f(x):
        e = [xi - si for xi, si in zip(x, x_star)]
        return sum(e[i] * sum(A8[i][j] * e[j] for j in range(n)) for i in range(n)) / 16

    def g(x):
        e = [xi - si for xi, si in zip(x, x_star)]
        return [sum(A8[i][j] * e[j] for j in range(n)) / 8 for i in range(n)]
    eig = np.linalg.eigvalsh(np.array(A8, float) / 8)
    return Objective(f"quadratic{n}", n, f, g, starts=starts, x_star=x_star,
                     note=f"1/2 (x - x*)^T A (x - x*), cond(A) = {eig[-1] / eig[0]:.0f}")


@lru_cache(maxsize=None)
def least_squares(m: int = 24, seed: int = 3) -> Objective:
    """Linear regression y ~ b0 + b1 u1 + b2 u2 + b3 u3 on m noisy samples, f = 1/(2m) |r|^2.
    Features are multiples of 1/8, targets multiples of 1/64: the least-squares solution is not
    on the lattice, so the target is the best lattice point (``lattice_optimum``)."""
    rng = np.random.default_rng(seed)
    U = rng.integers(-16, 17, size=(m, 3)) / 8
    beta = np.array([0.5, 0.75, -1.25, 0.3])
    y = np.round((beta[0] + U @ beta[1:] + rng.normal(0, 0.2, m)) * 64) / 64
    rows = [[F(1)] + [F(v).limit_denominator(8) for v in u] for u in U]
    ys = [F(v).limit_denominator(64) for v in y]

    def f(x):
        return sum((sum(r[j] * x[j] for j in range(4)) - yi) ** 2 for r, yi in zip(rows, ys)) / (2 * m)

    def g(x):
        res = [sum(r[j] * x[j] for j in range(4)) - yi for r, yi in zip(rows, ys)]
        return [sum(ri * r[j] for ri, r in zip(res, rows)) / m for j in range(4)]
    X = np.array([[float(v) for v in r] for r in rows])
    sol = np.linalg.lstsq(X, np.array([float(v) for v in ys]), rcond=None)[0]
    return Objective("least_squares", 4, f, g, starts=((0.0, 0.0, 0.0, 0.0), (2.0, -2.0, 2.0, -2.0), (-1.0, 1.0, 1.0, -1.0)),
                     x_star=None, f_star=float(f([float(v) for v in sol])),
                     note=f"linear regression, {m} samples, 3 features + bias", extra={"solution": tuple(sol)})


def all_objectives() -> list[Objective]:
    return [rosenbrock(), beale(), booth(), quadratic(), least_squares()]


# ----------------------------------------------------------------- fixed-point evaluation

def _round(v: Fraction, bits: int) -> int:
    """rhu(v * 2^bits) saturated to int64."""
    v = Fraction(v)
    r = ((v.numerator << (bits + 1)) + v.denominator) // (2 * v.denominator)
    return max(INT64_MIN, min(INT64_MAX, r))


@dataclass
class FixedPoint:
    """The integer view of an objective at parameters X = Qp x (Qp = 2^q)."""
    obj: Objective
    q: int
    qf: int = 40        # objective: F = rhu(f 2^qf)
    qg: int = 24        # gradient: G = rhu(g 2^qg)
    f_evals: int = 0
    g_evals: int = 0

    def point(self, X) -> list[Fraction]:
        return [Fraction(int(v), 1 << self.q) for v in X]

    def f(self, X) -> int:
        self.f_evals += 1
        return _round(self.obj.f(self.point(X)), self.qf)

    def grad(self, X) -> list[int]:
        self.g_evals += 1
        return [_round(v, self.qg) for v in self.obj.grad(self.point(X))]

    def real(self, F_int: int) -> float:
        return F_int / (1 << self.qf)

    def quantize(self, x) -> np.ndarray:
        return np.array([_round(Fraction(v), self.q) for v in x], dtype=np.int64)

    def f_exact(self, X) -> float:
        return float(self.obj.f(self.point(X)))

    def is_optimum(self, X) -> bool:
        """X is the (dyadic) minimiser of the objective."""
        return self.obj.x_star is not None and self.point(X) == [Fraction(v) for v in self.obj.x_star]


def lattice_optimum(obj: Objective, q: int, x_cont, radius: int = 2) -> tuple[np.ndarray, Fraction]:
    """The best lattice point of a convex objective near a continuous minimiser x_cont: exhaustive
    over the box of +-radius LSB around its rounding, re-centred until the best is inside."""
    Qp = 1 << q
    centre = np.array([round(v * Qp) for v in x_cont], dtype=np.int64)
    grid = np.stack(np.meshgrid(*[np.arange(-radius, radius + 1)] * obj.n, indexing="ij"), -1).reshape(-1, obj.n)
    while True:
        vals = [obj.f([Fraction(int(v), Qp) for v in centre + o]) for o in grid]
        k = min(range(len(vals)), key=lambda i: (vals[i], i))
        if np.all(np.abs(grid[k]) < radius):
            return centre + grid[k], vals[k]
        centre = centre + grid[k]
