"""Bit-exact reference of the kernel's quantized optimizer (``firmware/kernel/fx_optim*.c``),
written from its specification ``docs/optimizer.md`` (ALGORITHMS.md section 1: Seok & Kim's
quantized learning, "Idle and Go", orthogonal quantization-error compensation), plus the
ctypes mirror of the C optimizer (``NativeOptimizer``) with the same interface.

Parameters are integers ``X = Qp x`` (``Qp = 2^q``), the search direction ``d`` is an int32 in
Q(dir_q), the learning rate is ``lambda = z / Qp`` with a positive integer ``z``, objective values
are int64 in a scale of the caller's choosing. One trial per iteration:

    opt.direction(f_x, slope)      # a new direction at x: objective there, predicted decrease
    trial = opt.propose(x, d)      # None: every candidate of this direction is used up (stalled)
    if opt.report(f(trial)):       # True: "go" (the trial decreased f by at least phi)
        opt.commit(x, d)           # x <- trial, error-feedback residual and last step updated
"""
from __future__ import annotations

import ctypes as C
from dataclasses import dataclass, field, replace

import numpy as np

from . import native

# Rounding of the update (config.rounding).
RHU, STOCHASTIC, ERROR_FEEDBACK = 0, 1, 2
ROUNDING_NAMES = {RHU: "rhu", STOCHASTIC: "stochastic", ERROR_FEEDBACK: "error-feedback"}
# Step-size schedule after an idle trial (config.schedule).
HALVE, INTERP = 0, 1
# Where a new direction starts (config.policy).
RESET, ADAPT = 0, 1
# Candidate phases of one direction, in order.
ORD, MINLSB, PATTERN, EXPAND, BOX, FAR, ORTHO_POS, ORTHO_NEG, STALLED = range(9)
PHASE_NAMES = ("ord", "minlsb", "pattern", "expand", "box", "far", "ortho+", "ortho-", "stalled")
# Outcomes of propose / report (FX_OPTIM_* in fx_optim.h).
TRIAL, STALL, GO, IDLE = 1, 2, 3, 4

Q_MIN, Q_MAX = 1, 24
DIR_Q_MAX = 30
Z_LIMIT = 1 << 30
N_MAX = 1 << 24
EXPAND_MAX = 8
BOX_MAX = 3
RAY_MAX = 8
RING = 16                                   # hashes of the steps already tried, per direction
PATTERN_SHIFTS = (1, 0, 2)                  # last accepted step times 1/2, 1, 1/4
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
INT16_MIN, INT16_MAX = -(1 << 15), (1 << 15) - 1
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
M32 = 0xFFFFFFFF
GOLDEN, MIXK = 0x9E3779B9, 0x85EBCA6B
# State machine of the calls.
_NEED_DIRECTION, _READY, _PENDING, _NEED_COMMIT = range(4)
_DIRECTION_PHASES = (ORD, MINLSB, EXPAND, FAR)   # steps that round z*d (+ residual) with the mode


@dataclass(frozen=True)
class OptimConfig:
    """Optimizer configuration (fx_optim_config). ``None`` fields take their documented default:
    dir_q = q, z_max = Qp (lambda = 1)."""
    q: int
    dir_q: int | None = None
    z_max: int | None = None
    rounding: int = RHU
    schedule: int = HALVE
    policy: int = RESET
    c1_shift: int = 13          # Armijo constant c1 = 2^-c1_shift in phi; 0: phi = 1
    shrink_shift: int = 3       # INTERP never shrinks z below z / 2^shrink_shift in one idle
    guess: bool = False         # RESET: first z of a direction from the last decrease (scipy's)
    min_lsb: bool = False       # after the step vanishes: once the smallest non-vanishing step
    pattern: bool = False       # the last accepted step at 1/2, 1, 1/4
    expand: int = 0             # steps lambda_max, 2 lambda_max, ... beyond those tried
    box: int = 0                # every move within +-box LSB in the plane of the 2 largest |d_i|
    ortho: int = 0              # orthogonal compensation: 0 off, 1 +z (the paper), 2 +z then -z
    seed: int = 1
    ray: int = 0                # MINLSB: the steps moving the largest |d_i| by 1..K LSB, K = max(min_lsb, ray)
    ray_far: int = 0            # FAR (after BOX): the ray continued, by K + 1..K + ray_far LSB
    box_line: bool = False      # BOX: the moves nearest the line of d first (else nearest x first)

    @property
    def Qp(self) -> int:
        return 1 << self.q

    def resolved(self) -> "OptimConfig":
        return replace(self, dir_q=self.q if self.dir_q is None else self.dir_q,
                       z_max=(1 << self.q) if self.z_max is None else self.z_max)

    def validate(self, n: int) -> None:
        """Raise ValueError unless the kernel accepts this configuration for n parameters."""
        c = self.resolved()
        if not (Q_MIN <= c.q <= Q_MAX):
            raise ValueError(f"q = {c.q} outside {Q_MIN}..{Q_MAX} (Qp = 2^q)")
        if not (0 <= c.dir_q <= DIR_Q_MAX):
            raise ValueError(f"dir_q = {c.dir_q} outside 0..{DIR_Q_MAX}")
        if not (1 <= c.z_max <= Z_LIMIT):
            raise ValueError(f"z_max = {c.z_max} outside 1..2^30")
        if c.rounding not in ROUNDING_NAMES or c.schedule not in (HALVE, INTERP) or c.policy not in (RESET, ADAPT):
            raise ValueError(f"unknown rounding/schedule/policy {c.rounding}/{c.schedule}/{c.policy}")
        if not (0 <= c.c1_shift <= 62):
            raise ValueError(f"c1_shift = {c.c1_shift} outside 0..62")
        if not (1 <= c.shrink_shift <= 8):
            raise ValueError(f"shrink_shift = {c.shrink_shift} outside 1..8")
        if not (0 <= c.expand <= EXPAND_MAX and 0 <= c.box <= BOX_MAX and c.ortho in (0, 1, 2)):
            raise ValueError(f"expand (0..{EXPAND_MAX}) / box (0..{BOX_MAX}) / ortho (0..2) out of range")
        if not (0 <= c.ray <= RAY_MAX and 0 <= c.ray_far <= RAY_MAX):
            raise ValueError(f"ray = {c.ray} / ray_far = {c.ray_far} outside 0..{RAY_MAX}")
        for flag in ("guess", "min_lsb", "pattern", "box_line"):
            if getattr(c, flag) not in (0, 1):
                raise ValueError(f"{flag} must be 0/1 (False/True)")
        if not (0 <= c.seed <= M32):
            raise ValueError("seed must be a 32-bit unsigned integer")
        if not (1 <= n <= N_MAX):
            raise ValueError(f"n = {n} parameters outside 1..2^24")

    def swap_ok(self) -> bool:
        """fx_optim_swap_ok: the first ORD trial is the only candidate of a direction and
        nothing after it needs d, so a trainer can make the trial in place (fx_train's swap
        mode, no copy of theta); z_max < 2^(dir_q - 1) keeps each step one 32-bit multiply."""
        c = self.resolved()
        return (c.rounding == RHU and not c.pattern and not c.min_lsb and not c.ray and not c.expand
                and not c.box and not c.ray_far and not c.ortho
                and c.dir_q >= 1 and c.z_max <= (2**31 - 1) >> (32 - c.dir_q))

    def work_len(self, n: int) -> int:
        """int32 entries of caller memory the optimizer needs (fx_optim_work_len)."""
        return n * ((self.rounding == ERROR_FEEDBACK) + bool(self.pattern))


def paper(q: int, **kw) -> OptimConfig:
    """The paper's method: round half up, halving Idle-and-Go, compensation +z (eq. 24)."""
    return OptimConfig(q=q, **{"rounding": RHU, "schedule": HALVE, "ortho": 1, **kw})


def wide(q: int, **kw) -> OptimConfig:
    """Ours: the paper's Idle-and-Go with an interpolated step schedule, scipy's first-step
    guess, and the wide lattice search (the lattice ray of 1 and 2 LSB along d, pattern, expand, the
    box nearest the line of d first, the ray on to 3..5 LSB) before the compensation vector in both
    signs."""
    return OptimConfig(q=q, **{"schedule": INTERP, "shrink_shift": 2, "guess": True, "min_lsb": True, "ray": 2,
                               "pattern": True, "expand": 2, "box": 3, "box_line": True, "ray_far": 3, "ortho": 2,
                               **kw})


def plain(q: int, **kw) -> OptimConfig:
    """Ours without any compensation or search phase: Idle-and-Go along d only."""
    return wide(q, **{"min_lsb": False, "ray": 0, "pattern": False, "expand": 0, "box": 0, "box_line": False,
                      "ray_far": 0, "ortho": 0, **kw})


# ---------------------------------------------------------------------------- integer helpers

def lowbias32(x):
    """32-bit integer hash (C. Wellons' lowbias32); works on Python ints and uint32 arrays."""
    if isinstance(x, np.ndarray):
        x = x.astype(np.uint32)
        x ^= x >> np.uint32(16)
        x *= np.uint32(0x7FEB352D)
        x ^= x >> np.uint32(15)
        x *= np.uint32(0x846CA68B)
        x ^= x >> np.uint32(16)
        return x
    x &= M32
    x ^= x >> 16
    x = (x * 0x7FEB352D) & M32
    x ^= x >> 15
    x = (x * 0x846CA68B) & M32
    return x ^ (x >> 16)


def uniform_bits(seed: int, counter: int, n: int) -> np.ndarray:
    """The stochastic-rounding stream of one candidate: n uint32 values (fx_optim_random)."""
    key = lowbias32((seed + counter * GOLDEN) & M32)
    idx = np.arange(n, dtype=np.uint64)
    return lowbias32(((key + idx * MIXK) & M32).astype(np.uint32))


def step_hash(step: np.ndarray) -> int:
    """32-bit fingerprint of a step vector: sum_i lowbias32(S_i + i * 0x9E3779B9) mod 2^32."""
    idx = np.arange(len(step), dtype=np.uint64)
    words = ((step.astype(np.int64).astype(np.uint64) + idx * GOLDEN) & M32).astype(np.uint32)
    return int(lowbias32(words).astype(np.uint64).sum()) & M32


def rhu_shift(t: np.ndarray, s: int) -> np.ndarray:
    """floor(t / 2^s + 1/2) elementwise on int64 (|t| < 2^62)."""
    return t if s == 0 else (t + (1 << (s - 1))) >> s


def mulshr_sat(a: int, z: int, q: int) -> int:
    """floor(a * z / 2^q) for a, z >= 0, saturated to int64 (the predicted decrease at z)."""
    return min((a * z) >> q, INT64_MAX)


def ray_z(d: np.ndarray, dir_q: int, k: int) -> int:
    """The smallest z whose step moves the largest |d_i| by k + 1 LSB (d not all zero):
    ceil((2k + 1) 2^dir_q / (2 max |d_i|)), at most INT32_MAX."""
    dmax = int(np.abs(d).max())
    return min(-(-((2 * k + 1) << dir_q) // (2 * dmax)), INT32_MAX)


def _sat(v: np.ndarray, lo: int, hi: int) -> np.ndarray:
    return np.clip(v, lo, hi)


# ---------------------------------------------------------------- compensation vector (eq. 24)

def comp_coef(v, q: int) -> tuple[int, int]:
    """(m, c) of the quantized orthogonal compensation vector, eq. (22)-(24):

        m = argmax_i |v_i| (lowest index on ties)
        c = sum_i floor(Qp v_i^2 / v_m^2) + [ sum_i Rem(Qp v_i^2 / v_m^2) ]

    from integer quotients and remainders only ([.] = round half up). Raises ValueError on an
    empty or all-zero vector (no compensation direction exists) or q out of range."""
    v = [int(x) for x in np.asarray(v).ravel()]
    if not v:
        raise ValueError("compensation vector of a zero-length direction")
    if not (Q_MIN <= q <= Q_MAX):
        raise ValueError(f"q = {q} outside {Q_MIN}..{Q_MAX}")
    mags = [abs(x) for x in v]
    m = mags.index(max(mags))
    b = v[m] * v[m]
    if b == 0:
        raise ValueError("compensation vector of an all-zero direction")
    quot = rem = 0
    for x in v:
        qi, ri = divmod((x * x) << q, b)
        quot += qi
        rem += ri
    return m, quot + (2 * rem + b) // (2 * b)


def comp_vector(v, q: int) -> list[int]:
    """The integer compensation vector Z = Qp v - c v_m e_m (eq. 24 times Qp), exactly."""
    m, c = comp_coef(v, q)
    z = [int(x) << q for x in np.asarray(v).ravel()]
    z[m] = ((1 << q) - c) * int(np.asarray(v).ravel()[m])
    return z


def comp_direction_m(v_m: int, c: int, q: int) -> int:
    """Component m of the compensation direction in the units of d: sat32(rhu((Qp - c) v_m / Qp)),
    computed as (1 - c_hi) v_m + rhu(-c_lo v_m / Qp) with c = c_hi Qp + c_lo (no overflow)."""
    c_hi, c_lo = c >> q, c & ((1 << q) - 1)
    val = (1 - c_hi) * v_m + ((-c_lo * v_m + (1 << (q - 1))) >> q)
    return max(INT32_MIN, min(INT32_MAX, val))


# ----------------------------------------------------------------------------- the optimizer

@dataclass
class Stats:
    """Counters (fx_optim_stats): evaluations = go + idle."""
    evals: int = 0
    go: int = 0
    idle: int = 0
    search: int = 0        # trials from the wide-search phases (minlsb, pattern, expand, box)
    ortho: int = 0         # trials along the compensation vector
    skips: int = 0         # candidates dropped unevaluated (zero step or already tried)
    stalls: int = 0
    directions: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class _Cand:
    phase: int
    z: int = 0          # learning-rate numerator (direction and ortho phases)
    a: int = 0          # box: move on the first box coordinate; pattern: the shift
    b: int = 0          # box: move on the second box coordinate
    counter: int = 0    # stochastic rounding: which random stream


def box_moves(radius: int, d1: int, d2: int, line: bool = False) -> list[tuple[int, int]]:
    """The box candidates (a, b) != (0, 0), |a|, |b| <= radius, in trial order: by ring
    max(|a|, |b|), then most aligned with the direction first (a d1 + b d2 descending), then
    (a, b) ascending. ``line``: first of all by |a d2 - b d1|, the distance of the move from the
    line of (d1, d2) (times its length): the lattice points along +-d come first."""
    moves = [(a, b) for a in range(-radius, radius + 1) for b in range(-radius, radius + 1) if a or b]
    return sorted(moves, key=lambda m: ((abs(m[0] * d2 - m[1] * d1) if line else 0), max(abs(m[0]), abs(m[1])),
                                        -(m[0] * d1 + m[1] * d2), m))


def box_plane(d: np.ndarray) -> tuple[int, int]:
    """The two coordinates of largest |d_i| (ties: lower index); (j, j) when n = 1."""
    order = np.lexsort((np.arange(len(d)), -np.abs(d)))
    return int(order[0]), int(order[1] if len(d) > 1 else order[0])


@dataclass
class Optimizer:
    """The integer Idle-and-Go optimizer over n parameters (fx_optim)."""
    cfg: OptimConfig
    n: int
    stats: Stats = field(default_factory=Stats)

    def __post_init__(self):
        self.cfg.validate(self.n)
        self.cfg = self.cfg.resolved()
        c = self.cfg
        self.resid = np.zeros(self.n, np.int64) if c.rounding == ERROR_FEEDBACK else None
        self.last = np.zeros(self.n, np.int64) if c.pattern else None
        self.have_last = False
        self.counter = 0
        self.z_cur = c.z_max
        self.f_prev = None          # objective before the last go (for the step guess)
        self.f_x = 0
        self.state = _NEED_DIRECTION

    # -- the calls -------------------------------------------------------------------------
    def direction(self, f_x: int, slope: int = 0) -> None:
        """Start a new direction at the current x: f_x the objective there, slope >= 0 the
        decrease predicted for lambda = 1 in objective units (g.h; 0 if unknown)."""
        if self.state not in (_NEED_DIRECTION, _READY):
            raise RuntimeError("direction() while a trial is pending or a go is not committed")
        if not (INT64_MIN <= f_x <= INT64_MAX) or not (0 <= slope <= INT64_MAX):
            raise ValueError("f_x must be an int64 and slope an int64 >= 0")
        c = self.cfg
        f_prev = self.f_prev if self.state == _NEED_DIRECTION else None
        self.f_prev = None
        self.f_x, self.slope = int(f_x), int(slope)
        if c.policy == ADAPT:
            z0 = max(1, self.z_cur)
        elif c.guess and f_prev is not None and f_prev > f_x and slope > 0:
            # scipy's first trial: lambda = 2 (f_prev - f_x) / slope, at most lambda_max
            z0 = max(1, min(c.z_max, (2 * (f_prev - f_x) << c.q) // slope))
        else:
            z0 = c.z_max
        self.z_first = z0
        self.phase, self.k, self.z = ORD, 0, z0
        self.ring: list[int] = []
        self.ortho_m = -1
        self.plane = None
        self.stats.directions += 1
        self.state = _READY

    def propose(self, x, d):
        """The next trial point (same dtype as x, int16 or int32), or None when every candidate
        of this direction is used up ("stalled": give a new direction or stop)."""
        if self.state != _READY:
            raise RuntimeError("propose() needs direction() first (or report() of the last trial)")
        x, d = self._check_vectors(x, d)
        lo, hi = (INT16_MIN, INT16_MAX) if x.dtype == np.int16 else (INT32_MIN, INT32_MAX)
        while True:
            cand = self._candidate(d)
            if cand is None:
                self.stats.stalls += 1
                if self.cfg.policy == ADAPT:
                    self.z_cur = self.cfg.z_max
                self.state = _NEED_DIRECTION
                return None
            step, vanished = self._step(cand, d)
            if vanished:
                self._exhaust(cand)
                continue
            h = step_hash(step)
            if not step.any() or h in self.ring:
                self.stats.skips += 1
                self._advance(cand, None)
                continue
            self.ring = (self.ring + [h])[-RING:]
            self.pending = cand
            self.state = _PENDING
            return _sat(x.astype(np.int64) - step, lo, hi).astype(x.dtype)

    def report(self, f_trial: int) -> bool:
        """Judge the pending trial (eq. 11): go iff f_trial <= f_x - phi. Returns True for go."""
        if self.state != _PENDING:
            raise RuntimeError("report() without a pending trial")
        if not (INT64_MIN <= f_trial <= INT64_MAX):
            raise ValueError("f_trial must be an int64")
        cand = self.pending
        self.stats.evals += 1
        if cand.phase in (ORTHO_POS, ORTHO_NEG):
            self.stats.ortho += 1
        elif cand.phase != ORD:
            self.stats.search += 1
        if f_trial <= self.f_x and self.f_x - f_trial >= self._phi(cand):
            self.stats.go += 1
            if self.cfg.policy == ADAPT:
                self.z_cur = min(2 * self.z_cur, self.cfg.z_max)
            self.f_prev = self.f_x
            self.state = _NEED_COMMIT
            return True
        self.stats.idle += 1
        self._advance(cand, f_trial)
        self.state = _READY
        return False

    def commit(self, x: np.ndarray, d) -> None:
        """After a go: x <- the trial (in place, recomputed), residual and last step updated."""
        if self.state != _NEED_COMMIT:
            raise RuntimeError("commit() without an accepted trial")
        if not isinstance(x, np.ndarray) or x.dtype not in (np.int16, np.int32):
            raise TypeError("x must be an int16 or int32 numpy array (updated in place)")
        _, d = self._check_vectors(x, d)
        cand = self.pending
        step, _ = self._step(cand, d)
        lo, hi = (INT16_MIN, INT16_MAX) if x.dtype == np.int16 else (INT32_MIN, INT32_MAX)
        x[:] = _sat(x.astype(np.int64) - step, lo, hi)
        if self.resid is not None and cand.phase in _DIRECTION_PHASES:
            t = self._t(cand.z, d)
            self.resid = _sat(t - (step << self.cfg.dir_q), INT32_MIN, INT32_MAX)
        if self.last is not None:
            self.last = step.copy()
            self.have_last = True
        self.state = _NEED_DIRECTION

    # -- candidates ----------------------------------------------------------------------------
    def _candidate(self, d: np.ndarray) -> _Cand | None:
        """The candidate at the current (phase, k, z), entering later phases as they run out."""
        c = self.cfg
        while True:
            p = self.phase
            if p == ORD and self.z >= 1:
                return self._dir_cand(ORD, self.z)
            ray = max(int(c.min_lsb), c.ray)
            if (p == MINLSB and self.k < ray or p == FAR and self.k < c.ray_far) and d.any():
                return self._dir_cand(p, ray_z(d, c.dir_q, self.k + (ray if p == FAR else 0)))
            if p == PATTERN and c.pattern and self.have_last and self.k < len(PATTERN_SHIFTS):
                return _Cand(PATTERN, a=PATTERN_SHIFTS[self.k])
            if p == EXPAND and self.k < c.expand:
                # lambda_max, 2 lambda_max, ... (from 2 lambda_max when ORD started there)
                shift = self.k + (self.z_first == c.z_max)
                return self._dir_cand(EXPAND, min(c.z_max << shift, INT32_MAX))
            if p == BOX and self.k < (2 * c.box + 1) ** 2 - 1:
                if self.plane is None:
                    j1, j2 = box_plane(d)
                    self.plane = (j1, j2, box_moves(c.box, int(d[j1]), int(d[j2]), c.box_line))
                a, b = self.plane[2][self.k]
                return _Cand(BOX, a=a, b=b)
            if p in (ORTHO_POS, ORTHO_NEG) and c.ortho >= (1 if p == ORTHO_POS else 2) and self.z >= 1:
                if self.ortho_m < 0:
                    if not d.any():
                        self._next_phase()
                        continue
                    m, coef = comp_coef(d, c.q)
                    self.ortho_m, self.ortho_zm = m, comp_direction_m(int(d[m]), coef, c.q)
                return _Cand(p, self.z, a=1 if p == ORTHO_POS else -1)
            if p == STALLED:
                return None
            self._next_phase()

    def _dir_cand(self, phase: int, z: int) -> _Cand:
        cand = _Cand(phase, z, counter=self.counter)
        if self.cfg.rounding == STOCHASTIC:
            self.counter = (self.counter + 1) & M32
        return cand

    def _next_phase(self) -> None:
        self.phase += 1
        self.k = 0
        if self.phase in (ORTHO_POS, ORTHO_NEG):
            self.z = self.z_first

    def _exhaust(self, cand: _Cand) -> None:
        """The step of a direction candidate vanished: that line of candidates is used up."""
        if cand.phase == EXPAND:
            self.k += 1
        else:
            self._next_phase()

    def _advance(self, cand: _Cand, f_trial: int | None) -> None:
        """Move past a candidate that was skipped (f_trial None) or idle."""
        if cand.phase == ORD:
            self.z = self._shrink(cand.z, f_trial)
            if self.cfg.policy == ADAPT:
                self.z_cur = max(1, self.z)
        elif cand.phase in (ORTHO_POS, ORTHO_NEG):
            self.z = cand.z >> 1
        else:
            self.k += 1

    def _shrink(self, z: int, f_trial: int | None) -> int:
        """Next z after an idle ORD trial: halve, or the minimiser of the quadratic through
        f_x, the predicted slope and f_trial, clamped to [z / 2^shrink_shift, z / 2]."""
        c = self.cfg
        if f_trial is None or c.schedule == HALVE or self.slope <= 0:
            return z >> 1
        p = mulshr_sat(self.slope, z, c.q)
        df = min(f_trial - self.f_x, INT64_MAX)
        if p <= 0 or df <= 0:
            return z >> 1
        e = min(df + p, INT64_MAX)
        while e >= 1 << 31:
            e >>= 1
            p >>= 1
        zn = (z * p) // (2 * e)
        return max(z >> c.shrink_shift, min(zn, z >> 1))

    def _phi(self, cand: _Cand) -> int:
        """phi(lambda, k) of eq. (11): c1 * lambda * slope for steps along d, at least 1."""
        c = self.cfg
        if c.c1_shift == 0 or self.slope <= 0 or cand.phase not in _DIRECTION_PHASES:
            return 1
        return max(1, mulshr_sat(self.slope, cand.z, c.q) >> c.c1_shift)

    def _t(self, z: int, d: np.ndarray) -> np.ndarray:
        t = z * d
        return t + self.resid if self.resid is not None else t

    def _step(self, cand: _Cand, d: np.ndarray) -> tuple[np.ndarray, bool]:
        """(step S as int64 in int32 range, vanished) of a candidate; x_trial = sat(x - S)."""
        c, p = self.cfg, cand.phase
        dq = c.dir_q
        if p in _DIRECTION_PHASES:
            t = self._t(cand.z, d)
            r = rhu_shift(t, dq)
            vanished = not r.any()
            if c.rounding == STOCHASTIC and dq > 0:
                u = (uniform_bits(c.seed, cand.counter, self.n) >> np.uint32(32 - dq)).astype(np.int64)
                r = (t + u) >> dq
            return _sat(r, INT32_MIN, INT32_MAX), vanished
        if p == PATTERN:
            return rhu_shift(self.last, cand.a), False
        if p == BOX:
            j1, j2, _ = self.plane
            s = np.zeros(self.n, np.int64)
            s[j1] += cand.a
            s[j2] += cand.b
            return s, False
        zc = d.copy()
        zc[self.ortho_m] = self.ortho_zm
        r = rhu_shift(cand.z * cand.a * zc, dq)
        return _sat(r, INT32_MIN, INT32_MAX), not r.any()

    def _check_vectors(self, x, d) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(x)
        if x.dtype not in (np.int16, np.int32):
            raise TypeError(f"parameters must be int16 or int32, not {x.dtype}")
        d = np.asarray(d)
        if x.shape != (self.n,) or d.shape != (self.n,):
            raise ValueError(f"x and d must both have shape ({self.n},)")
        if d.size and (d.min() < INT32_MIN or d.max() > INT32_MAX):
            raise ValueError("direction outside int32")
        return x, d.astype(np.int64)

    @property
    def phase_name(self) -> str:
        return PHASE_NAMES[self.pending.phase]


# ------------------------------------------------------------------ ctypes mirror of the kernel

class FxOptimConfig(C.Structure):
    _fields_ = [("q", C.c_int32), ("dir_q", C.c_int32), ("z_max", C.c_int32), ("c1_shift", C.c_int32),
                ("shrink_shift", C.c_int32), ("seed", C.c_uint32),
                ("rounding", C.c_uint8), ("schedule", C.c_uint8), ("policy", C.c_uint8), ("guess", C.c_uint8),
                ("min_lsb", C.c_uint8), ("pattern", C.c_uint8), ("expand", C.c_uint8), ("box", C.c_uint8),
                ("ortho", C.c_uint8), ("ray", C.c_uint8), ("box_line", C.c_uint8), ("ray_far", C.c_uint8),
                ("_pad", C.c_uint8 * 4)]


class FxOptimStats(C.Structure):
    _fields_ = [(name, C.c_uint32) for name in Stats().__dict__]


class FxOptim(C.Structure):
    """Opaque storage for fx_optim; its size is checked against fx_optim_sizeof() at load."""
    _fields_ = [("_storage", C.c_uint64 * 40)]


i32p, i16p = native.i32p, native.i16p
native.declare("fx_optim_sizeof", C.c_uint32, [])
native.declare("fx_optim_work_len", C.c_uint32, [C.POINTER(FxOptimConfig), C.c_uint32])
native.declare("fx_optim_init", C.c_int, [C.POINTER(FxOptim), C.POINTER(FxOptimConfig), C.c_uint32, i32p, C.c_uint32])
native.declare("fx_optim_direction", C.c_int, [C.POINTER(FxOptim), C.c_int64, C.c_int64])
native.declare("fx_optim_propose_s32", C.c_int, [C.POINTER(FxOptim), i32p, i32p, i32p])
native.declare("fx_optim_propose_s16", C.c_int, [C.POINTER(FxOptim), i16p, i32p, i16p])
native.declare("fx_optim_propose_s16_swap", C.c_int, [C.POINTER(FxOptim), i16p, i32p, C.POINTER(C.c_uint32)])
native.declare("fx_optim_swap_ok", C.c_int, [C.POINTER(FxOptimConfig)])
native.declare("fx_optim_report", C.c_int, [C.POINTER(FxOptim), C.c_int64])
native.declare("fx_optim_commit_s32", C.c_int, [C.POINTER(FxOptim), i32p, i32p])
native.declare("fx_optim_commit_s16", C.c_int, [C.POINTER(FxOptim), i16p, i32p])
native.declare("fx_optim_stats_get", C.c_int, [C.POINTER(FxOptim), C.POINTER(FxOptimStats)])
native.declare("fx_optim_comp_coef", C.c_int, [i32p, C.c_uint32, C.c_int32, C.POINTER(C.c_uint32), C.POINTER(C.c_int64)])
native.declare("fx_optim_comp_vector", C.c_int, [i32p, C.c_uint32, C.c_int32, C.POINTER(C.c_int64)])
native.declare("fx_optim_comp_direction_m", C.c_int32, [C.c_int32, C.c_int64, C.c_int32])
native.declare("fx_optim_udiv_shl", C.c_uint64, [C.c_uint64, C.c_uint64, C.c_int32, C.c_uint64, C.POINTER(C.c_uint64)])
native.declare("fx_optim_lowbias32", C.c_uint32, [C.c_uint32])
native.declare("fx_optim_random", C.c_uint32, [C.c_uint32, C.c_uint32, C.c_uint32])
native.declare("fx_optim_round_step", C.c_int32, [C.c_int64, C.c_int32, C.c_uint8, C.c_uint32, C.POINTER(C.c_int)])
native.declare("fx_optim_hash_term", C.c_uint32, [C.c_int32, C.c_uint32])
native.declare("fx_optim_box_plane", None, [i32p, C.c_uint32, C.POINTER(C.c_uint32), C.POINTER(C.c_uint32)])
native.declare("fx_optim_box_move", C.c_int, [C.c_int32, C.c_int32, C.c_int32, C.c_uint32, C.POINTER(C.c_int8),
                                              C.POINTER(C.c_int8)])
native.declare("fx_optim_box_move_ordered", C.c_int, [C.c_int32, C.c_uint8, C.c_int32, C.c_int32, C.c_uint32,
                                                      C.POINTER(C.c_int8), C.POINTER(C.c_int8)])


def native_config(cfg: OptimConfig) -> FxOptimConfig:
    """The C struct of a configuration (no validation: the kernel checks it)."""
    c = cfg.resolved()
    return FxOptimConfig(c.q, c.dir_q, c.z_max, c.c1_shift, c.shrink_shift, c.seed, c.rounding, c.schedule,
                         c.policy, int(c.guess), int(c.min_lsb), int(c.pattern), c.expand, c.box, c.ortho, c.ray,
                         int(c.box_line), c.ray_far)


class KernelError(RuntimeError):
    def __init__(self, fn: str, status: int):
        super().__init__(f"{fn} returned {status}")
        self.status = status


class NativeOptimizer:
    """The C optimizer through ctypes, with Optimizer's interface (for the bit-exactness tests
    and the benchmarks)."""

    def __init__(self, cfg: OptimConfig, n: int, lib=None):
        self.lib = lib or native.load()
        if self.lib.fx_optim_sizeof() > C.sizeof(FxOptim):
            raise RuntimeError("fx_optim grew: enlarge FxOptim")
        self.n = n
        self.cfg = cfg.resolved()
        self._ccfg = native_config(cfg)
        self._o = FxOptim()
        self._work = np.zeros(max(1, self.lib.fx_optim_work_len(C.byref(self._ccfg), n)), np.int32)
        self._call("fx_optim_init", C.byref(self._o), C.byref(self._ccfg), n,
                   native.ptr(self._work, C.c_int32), len(self._work))

    def _call(self, fn: str, *args) -> int:
        st = getattr(self.lib, fn)(*args)
        if st < 0:
            raise KernelError(fn, st)
        return st

    def direction(self, f_x: int, slope: int = 0) -> None:
        self._call("fx_optim_direction", C.byref(self._o), f_x, slope)

    def _vecs(self, x, d):
        x = np.ascontiguousarray(x)
        d = np.ascontiguousarray(d, dtype=np.int32)
        if x.dtype not in (np.int16, np.int32) or x.shape != (self.n,) or d.shape != (self.n,):
            raise ValueError("x must be int16/int32 and x, d of shape (n,)")
        ct = C.c_int16 if x.dtype == np.int16 else C.c_int32
        return x, d, ct, ("s16" if x.dtype == np.int16 else "s32")

    def propose(self, x, d):
        x, d, ct, sfx = self._vecs(x, d)
        trial = np.empty_like(x)
        st = self._call(f"fx_optim_propose_{sfx}", C.byref(self._o), native.ptr(x, ct),
                        native.ptr(d, C.c_int32), native.ptr(trial, ct))
        return trial if st == TRIAL else None

    def report(self, f_trial: int) -> bool:
        return self._call("fx_optim_report", C.byref(self._o), f_trial) == GO

    def commit(self, x: np.ndarray, d) -> None:
        if not isinstance(x, np.ndarray) or not x.flags["C_CONTIGUOUS"]:
            raise TypeError("x must be a C-contiguous numpy array (updated in place)")
        x, d, ct, sfx = self._vecs(x, d)
        self._call(f"fx_optim_commit_{sfx}", C.byref(self._o), native.ptr(x, ct), native.ptr(d, C.c_int32))

    @property
    def stats(self) -> Stats:
        s = FxOptimStats()
        self._call("fx_optim_stats_get", C.byref(self._o), C.byref(s))
        return Stats(**{name: getattr(s, name) for name in Stats().__dict__})
