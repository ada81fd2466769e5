# fx_optim.h through fxlearn.Optimizer: the quantized optimizer on its own (a quadratic
# objective in integers), every rounding / schedule / search mode, Idle-and-Go statistics, and
# the compensation vector helpers.
from array import array

import fxlearn as fx
from fxtest import Rand, error

r = Rand(7)
n = 6
target = r.ints(n, -3000, 3000)
w = [1, 3, 7, 1, 2, 5]


def f(x):
    """Objective: sum w_i (x_i - t_i)^2 (int64): ill-conditioned, so steps get rejected."""
    return sum(w[i] * (x[i] - target[i]) ** 2 for i in range(n))


def grad(x, dir_q):
    """d = half the gradient, w (x - t), in Q(dir_q) units of a parameter step (q = 8)."""
    return array("i", [w[i] * (x[i] - target[i]) << (dir_q - 8) for i in range(n)])


def descend(o, x, trial, iterations=12):
    """Idle and Go: per direction, trials until one is accepted (1) or the optimizer gives up (-1)."""
    trace = []
    for it in range(iterations):
        d = grad(x, 12)
        o.direction(f(x), sum(v * v for v in d) >> 16)
        while o.propose(x, d, trial):
            go = o.report(f(trial))
            trace.append(int(go))
            if go:
                o.commit(x, d)
                break
        else:
            trace.append(-1)
    return "".join(str(v) for v in trace)


modes = [("paper", dict(ortho=1)), ("plain", dict(schedule=fx.OPTIM_INTERP, shrink_shift=2, guess=True)),
         ("wide", dict(schedule=fx.OPTIM_INTERP, shrink_shift=2, guess=True, min_lsb=True, pattern=True, expand=2,
                       box=3, ortho=2)),
         ("adapt", dict(policy=fx.OPTIM_ADAPT, c1_shift=0)), ("stochastic", dict(rounding=fx.OPTIM_STOCHASTIC, seed=3)),
         ("error-feedback", dict(rounding=fx.OPTIM_ERROR_FEEDBACK, z_max=64))]
for name, kw in modes:
    for kind in ("h", "i"):
        o = fx.Optimizer(n, 8, dir_q=12, **kw)
        x = array(kind, r.ints(n, -2000, 2000))
        trial = array(kind, [0] * n)
        trace = descend(o, x, trial)
        print("optimizer", name, kind, f(x), list(x), trace, o.stats())

# Near the optimum the ordinary steps vanish: the lattice search (ray, box, far ray) takes over.
for box_line in (False, True):
    o = fx.Optimizer(n, 8, dir_q=12, z_max=16, min_lsb=True, ray=3, box=2, box_line=box_line, ray_far=2)
    x = array("h", [target[i] + (3, -2, 1, 5, -4, 2)[i] for i in range(n)])
    trial = array("h", [0] * n)
    trace = descend(o, x, trial)
    print("optimizer search", box_line, f(x), list(x), trace, o.stats())

v = array("i", [3, -7, 7, 0, 1])
z = array("q", [0] * 5)
m, c = fx.comp_coef(v, 8)
fx.comp_vector(v, 8, z)
print("comp", m, c, list(z), fx.comp_direction_m(v[m], c, 8), fx.comp_direction_m(-12345, (1 << 40) + 5, 24))

o = fx.Optimizer(3, 8)
x3, d3, t3 = array("h", [1, 2, 3]), array("i", [1, 1, 1]), array("h", [0, 0, 0])
print("optimizer errors", error(fx.Optimizer, 0, 8), error(fx.Optimizer, 3, 0), error(fx.Optimizer, 3, 25),
      error(fx.Optimizer, 3, 8, dir_q=31), error(fx.Optimizer, 3, 8, z_max=0), error(fx.Optimizer, 3, 8, rounding=3),
      error(fx.Optimizer, 3, 8, box=4), error(fx.Optimizer, 3, 8, ortho=3), error(fx.Optimizer, 3, 8, shrink_shift=0),
      error(fx.Optimizer, 3, 8, ray=9), error(fx.Optimizer, 3, 8, ray_far=-1),
      error(o.propose, x3, d3, t3), error(o.report, 5), error(o.commit, x3, d3), error(o.direction, 0, -1),
      error(fx.comp_coef, array("i", [0, 0]), 8), error(fx.comp_coef, array("i"), 8), error(fx.comp_coef, v, 25),
      error(fx.comp_vector, v, 8, array("q", [0] * 4)), error(fx.comp_vector, v, 8, array("i", [0] * 5)))
o.direction(10, 0)
print("propose errors", error(o.propose, x3, d3, x3), error(o.propose, x3, array("i", [1, 1]), t3),
      error(o.propose, x3, d3, array("i", [0, 0, 0])), error(o.propose, array("b", [1, 2, 3]), d3, t3))
