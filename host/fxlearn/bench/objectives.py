"""Benchmark: the quantized optimizer on more objectives, from several starts each, to show it is
not tuned to Rosenbrock: Beale, Booth, a random convex quadratic in 10-D, a small least-squares
regression (and Rosenbrock from other starts). Same pipeline as bench/rosenbrock.py (fixed-point
BFGS direction, C kernel checked against the Python reference on every run). Success = the best
point of the lattice: the dyadic minimiser itself, or for least squares (whose solution is not on
the lattice) the lattice point of lowest cost, found exhaustively. Writes results/objectives.md
and results/objectives.png.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import click
import numpy as np
from tqdm import tqdm

from .. import objectives, optim, paths
from . import fixed_bfgs
from .rosenbrock import make_config

CONFIGS = ("paper", "ours-rhu", "ours-sr", "ours-ef", "ours-noray")


@dataclass
class Result:
    objective: str
    start: tuple
    q: int
    config: str
    exact: bool
    gap: float            # cost above the best lattice point
    best_iter: int
    evals: int
    float_nit: int
    c_agrees: bool | None


def target(obj, q: int) -> tuple[np.ndarray, Fraction]:
    """The best lattice point of Q(q) and its cost."""
    if obj.x_star is not None:
        X = np.array([int(Fraction(v) * (1 << q)) for v in obj.x_star])
        return X, obj.f([Fraction(int(v), 1 << q) for v in X])
    return objectives.lattice_optimum(obj, q, obj.extra["solution"])


def run_all(objs, qs, configs, max_iter: int, lib=None, progress: bool = True) -> list[Result]:
    jobs = [(o, x0, q, c) for o in objs for x0 in o.starts for q in qs for c in configs]
    floats = {(o.name, x0): fixed_bfgs.run_float(o, x0) for o in objs for x0 in o.starts}
    targets = {(o.name, q): target(o, q) for o in objs for q in qs}
    out = []
    for o, x0, q, c in tqdm(jobs, desc="objectives", disable=not progress):
        cfg = make_config(c, q)
        fp = objectives.FixedPoint(o, q)
        ref = fixed_bfgs.run(fp, optim.Optimizer(cfg, o.n), x0, max_iter)
        agrees = None
        if lib is not None:
            got = fixed_bfgs.run(objectives.FixedPoint(o, q), optim.NativeOptimizer(cfg, o.n, lib), x0, max_iter)
            agrees = got.events == ref.events and np.array_equal(got.X, ref.X) and got.stats == ref.stats
        X_t, f_t = targets[(o.name, q)]
        gap = float(o.f(fp.point(ref.X)) - f_t)
        out.append(Result(o.name, x0, q, c, bool(np.array_equal(ref.X, X_t)), gap, ref.best_iter,
                          ref.f_evals, floats[(o.name, x0)].nit, agrees))
    return out


def markdown(res: list[Result], objs, qs, max_iter: int, checked: bool) -> str:
    names = list(dict.fromkeys(r.config for r in res))
    out = ["# The quantized optimizer on more objectives", "",
           "`fxlearn bench objectives` (rerun to regenerate). Each objective from each of its starts, "
           "parameters in Q(q), BFGS direction in fixed point (as in `rosenbrock.md`). A run succeeds when "
           "it ends on the best lattice point (the minimiser itself when it is dyadic; for least squares "
           "the lattice point of lowest cost). Iterations = trials to the best point; ratio = that over "
           f"scipy's float BFGS iterations from the same start. At most {max_iter} iterations.", "",
           "| objective | n | starts | what |", "|---|---|---|---|"]
    for o in objs:
        out.append(f"| {o.name} | {o.n} | {len(o.starts)} | {o.note} |")
    out += ["", "## Success (runs on the best lattice point / runs) and median iteration ratio", "",
            "| objective | config | " + " | ".join(f"Qp = 2^{q}" for q in qs) + " | all |",
            "|---|---|" + "---|" * (len(qs) + 1)]
    for o in objs:
        for c in names:
            cells = []
            for q in list(qs) + [None]:
                rs = [r for r in res if r.objective == o.name and r.config == c and (q is None or r.q == q)]
                ok = [r for r in rs if r.exact]
                ratio = np.median([r.best_iter / r.float_nit for r in ok]) if ok else float("nan")
                cells.append(f"{len(ok)}/{len(rs)}" + (f", {ratio:.2f}x" if ok else ""))
            out.append(f"| {o.name} | {c} | " + " | ".join(cells) + " |")
    total = {c: sum(r.exact for r in res if r.config == c) for c in names}
    out += ["", "Total on the best lattice point: " + ", ".join(f"`{c}` {total[c]}/{sum(r.config == c for r in res)}"
                                                             for c in names) + ".", ""]
    out += ["## Every run", "", "| objective | start | log2 Qp | config | best lattice point | cost gap | best iter | "
            "f evals | float BFGS iters |" + (" C = Python |" if checked else ""),
            "|---|---|---|---|---|---|---|---|---|" + ("---|" if checked else "")]
    for r in res:
        line = (f"| {r.objective} | {tuple(r.start)} | {r.q} | {r.config} | {'yes' if r.exact else 'no'} | "
                f"{r.gap:.3g} | {r.best_iter} | {r.evals} | {r.float_nit} |")
        if checked:
            line += " yes |" if r.c_agrees else " **NO** |"
        out.append(line)
    return "\n".join(out) + "\n"


def plot(res: list[Result], objs, qs, path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(r.config for r in res))
    fig, axes = plt.subplots(2, len(objs), figsize=(3.2 * len(objs), 6), sharex=True)
    for j, o in enumerate(objs):
        for c in names:
            rate, ratio = [], []
            for q in qs:
                rs = [r for r in res if r.objective == o.name and r.config == c and r.q == q]
                ok = [r for r in rs if r.exact]
                rate.append(len(ok) / len(rs))
                ratio.append(np.median([r.best_iter / r.float_nit for r in ok]) if ok else np.nan)
            axes[0, j].plot(qs, rate, "o-", label=c)
            axes[1, j].plot(qs, ratio, "o-", label=c)
        axes[0, j].set(title=o.name, ylim=(-0.05, 1.05))
        axes[1, j].set(xlabel="log2 Qp")
    axes[0, 0].set_ylabel("fraction on the best lattice point")
    axes[1, 0].set_ylabel("iterations / float BFGS (median)")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


@click.command("objectives")
@click.option("--qs", default="4,6,8,10", show_default=True, help="log2 Qp values, comma separated")
@click.option("--max-iter", default=300, show_default=True, help="trials per run")
@click.option("--check-c/--no-check-c", default=True, show_default=True,
              help="also run the C kernel (native build) and require exact agreement")
def main(qs, max_iter, check_c):
    """The quantized optimizer on Beale, Booth, a 10-D quadratic, least squares and Rosenbrock."""
    from .. import native
    q_list = [int(v) for v in qs.split(",")]
    objs = objectives.all_objectives()
    lib = native.load() if check_c else None
    res = run_all(objs, q_list, CONFIGS, max_iter, lib)
    out = paths.results_dir()
    (out / "objectives.md").write_text(markdown(res, objs, q_list, max_iter, check_c))
    plot(res, objs, q_list, out / "objectives.png")
    click.echo(f"wrote {out / 'objectives.md'} and {out / 'objectives.png'}")
    for c in CONFIGS:
        rs = [r for r in res if r.config == c]
        click.echo(f"  {c:9s} best lattice point in {sum(r.exact for r in rs)}/{len(rs)} runs")
    if check_c and not all(r.c_agrees for r in res):
        raise click.ClickException("the C kernel and the Python reference disagree (see the table)")


if __name__ == "__main__":
    main()
