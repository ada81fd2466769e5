"""Benchmark: Table 1 of seed 000 reproduced and extended. Rosenbrock (a = 1, b = 100) from
(-1.2, 1) with a BFGS direction, parameters in Q(q) for log2 Qp = 4..10: the paper's method
(round half up, halving Idle-and-Go, compensation of eq. 24) and ours (interpolated schedule,
scipy's first-step guess, the wide lattice search), with and without compensation, for each
rounding mode, next to scipy's float BFGS and L-BFGS-B; then ours from many random starts, with
the lattice ray, the line-ordered box and the far ray switched off one at a time (so the gain at
Qp = 2^4 is not a property of the one start). Every quantized run goes through the Python reference and the
C kernel, which must agree exactly (every trial objective, the final point, the counters).
Writes results/rosenbrock.md and results/rosenbrock.png.
"""
from __future__ import annotations

from dataclasses import dataclass

import click
import numpy as np
from tqdm import tqdm

from .. import objectives, optim, paths
from . import fixed_bfgs

START = (-1.2, 1.0)
# Table 1 of seed 000: log2 Qp -> (best epoch, cost); float L-BFGS: 43 epochs, cost 0.
PAPER_TABLE = {4: (1, 20.91852), 5: (2, 19.42276), 6: (2, 19.27893), 7: (46, 0.0), 8: (43, 0.0),
               9: (42, 0.0), 10: (41, 0.0)}
PAPER_FLOAT_EPOCHS = 43

# name -> (description, config factory); the direction always has dir_q = q + 8 bits.
CONFIGS = {
    "paper": ("paper: RHU, halving, compensation +z (eq. 24)", optim.paper),
    "paper-nocomp": ("paper without compensation", lambda q: optim.paper(q, ortho=0)),
    "ours-rhu": ("ours, RHU: wide search + compensation +-z", optim.wide),
    "ours-sr": ("ours, stochastic rounding", lambda q: optim.wide(q, rounding=optim.STOCHASTIC)),
    "ours-ef": ("ours, error feedback", lambda q: optim.wide(q, rounding=optim.ERROR_FEEDBACK)),
    "ours-noray": ("ours-rhu without the lattice ray (MINLSB once, no FAR) and with the box nearest x first: "
                   "the wide search before the ray", lambda q: optim.wide(q, ray=0, box_line=False, ray_far=0)),
    "plain-rhu": ("ours without search/compensation, RHU", optim.plain),
    "plain-sr": ("ours without search/compensation, stochastic", lambda q: optim.plain(q, rounding=optim.STOCHASTIC)),
    "plain-ef": ("ours without search/compensation, error feedback",
                 lambda q: optim.plain(q, rounding=optim.ERROR_FEEDBACK)),
}


# The random-start study: ours-rhu, without each of its three latest search changes, without all.
ABLATION = {
    "ours-rhu": optim.wide,
    "no ray (ray = 0)": lambda q: optim.wide(q, ray=0),
    "box nearest x (box_line = 0)": lambda q: optim.wide(q, box_line=False),
    "no far ray (ray_far = 0)": lambda q: optim.wide(q, ray_far=0),
    "none (ours-noray)": CONFIGS["ours-noray"][1],
}
RANDOM_BOX = ((-2.0, -1.0), (2.0, 3.0))       # random starts: uniform in [-2, 2] x [-1, 3]
RANDOM_SEED = 123


def make_config(name: str, q: int, factory=None) -> optim.OptimConfig:
    cfg = (factory or CONFIGS[name][1])(q)
    return optim.OptimConfig(**{**cfg.__dict__, "dir_q": min(optim.DIR_Q_MAX, q + 8)})


@dataclass
class Row:
    config: str
    q: int
    run: fixed_bfgs.Run
    exact: bool
    cost: float
    c_agrees: bool | None


def run_one(obj, name: str, q: int, x0, max_iter: int, lib=None, factory=None) -> Row:
    """The Python reference run, and the C kernel's on the same problem (lib given)."""
    cfg = make_config(name, q, factory)
    fp = objectives.FixedPoint(obj, q)
    ref = fixed_bfgs.run(fp, optim.Optimizer(cfg, obj.n), x0, max_iter)
    agrees = None
    if lib is not None:
        got = fixed_bfgs.run(objectives.FixedPoint(obj, q), optim.NativeOptimizer(cfg, obj.n, lib), x0, max_iter)
        agrees = got.events == ref.events and np.array_equal(got.X, ref.X) and got.stats == ref.stats
    return Row(name, q, ref, fp.is_optimum(ref.X), fp.f_exact(ref.X), agrees)


def run_all(qs, names, max_iter: int, lib=None, progress: bool = True) -> list[Row]:
    obj = objectives.rosenbrock()
    jobs = [(n, q) for n in names for q in qs]
    return [run_one(obj, n, q, START, max_iter, lib) for n, q in tqdm(jobs, desc="rosenbrock", disable=not progress)]


def random_starts(count: int) -> list[tuple[float, float]]:
    rng = np.random.default_rng(RANDOM_SEED)
    return [tuple(float(v) for v in np.round(rng.uniform(*RANDOM_BOX), 3)) for _ in range(count)]


@dataclass
class StartRow:
    config: str
    q: int
    start: tuple
    exact: bool
    best_iter: int
    float_nit: int
    c_agrees: bool | None


def run_random(qs, count: int, max_iter: int, lib=None, progress: bool = True) -> list[StartRow]:
    """Every ABLATION config from `count` random starts at every Qp; ratio to scipy's BFGS from the same start."""
    obj = objectives.rosenbrock()
    starts = random_starts(count)
    nit = {x0: fixed_bfgs.run_float(obj, x0).nit for x0 in starts}
    jobs = [(name, q, x0) for name in ABLATION for q in qs for x0 in starts]
    out = []
    for name, q, x0 in tqdm(jobs, desc="rosenbrock, random starts", disable=not progress):
        r = run_one(obj, name, q, x0, max_iter, lib, ABLATION[name])
        out.append(StartRow(name, q, x0, r.exact, r.run.best_iter, nit[x0], r.c_agrees))
    return out


def random_markdown(rows: list[StartRow], qs, count: int) -> list[str]:
    out = [f"## From {count} random starts (is the gain at 2^4 a property of one start?)", "",
           f"Starts uniform in [{RANDOM_BOX[0][0]:g}, {RANDOM_BOX[1][0]:g}] x [{RANDOM_BOX[0][1]:g}, "
           f"{RANDOM_BOX[1][1]:g}] (seed {RANDOM_SEED}), same pipeline, at most the same number of iterations. "
           "Cell: runs ending on (1, 1) / runs; geometric mean and median of (iterations to (1, 1)) / "
           "(scipy BFGS iterations from the same start) over those runs; runs within 1.5x.", "",
           "| config | " + " | ".join(f"Qp = 2^{q}" for q in qs) + " | all |", "|---|" + "---|" * (len(qs) + 1)]
    for name in ABLATION:
        cells = []
        for q in list(qs) + [None]:
            rs = [r for r in rows if r.config == name and (q is None or r.q == q)]
            ratios = [r.best_iter / r.float_nit for r in rs if r.exact]
            if not ratios:
                cells.append(f"0/{len(rs)}")
                continue
            gm = float(np.exp(np.mean(np.log(ratios))))
            cells.append(f"{len(ratios)}/{len(rs)}, {gm:.2f}x / {np.median(ratios):.2f}x, "
                         f"{sum(v <= 1.5 for v in ratios)} <= 1.5x")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return out + [""]


def _cell(r: Row, float_nit: int) -> str:
    if r.exact:
        return f"**0** in {r.run.best_iter} ({r.run.best_iter / float_nit:.2f}x)"
    return f"{r.cost:.3g} (stuck at {r.run.best_iter})"


def markdown(rows: list[Row], floats: dict, qs, max_iter: int, checked: bool, random_rows=None,
             count: int = 0) -> str:
    bfgs = floats["BFGS"]
    by = {(r.config, r.q): r for r in rows}
    names = list(dict.fromkeys(r.config for r in rows))
    out = ["# Rosenbrock: Table 1 of seed 000, reproduced and extended", "",
           "`fxlearn bench rosenbrock` (rerun to regenerate). f(x, y) = (1 - x)^2 + 100 (y - x^2)^2 from "
           f"{START}, BFGS direction, parameters X = Qp x in int32, Qp = 2^q. "
           "Objective F = rhu(f 2^40) (int64), gradient rhu(g 2^24), direction d = H g in Q(q + 8) from a "
           "fixed-point BFGS on Python integers (`bench/fixed_bfgs.py`): the same integers go to the C "
           "kernel and to the Python reference. An iteration is one trial (one objective evaluation), "
           "idle or go, as in the paper's epochs. Cell: final cost, **0** = the exact optimum (1, 1), with "
           "the iteration of the best point and its ratio to scipy's float BFGS iterations "
           f"(nit = {bfgs.nit}; scipy also evaluates f {bfgs.nfev} times: its line search). "
           f"At most {max_iter} iterations.", ""]
    out += ["## Summary", "", "| config | " + " | ".join(f"Qp = 2^{q}" for q in qs) + " |",
            "|---|" + "---|" * len(qs)]
    out.append("| scipy BFGS (float64): iterations / f evals | "
               + " | ".join(f"{bfgs.nit} / {bfgs.nfev}" for _ in qs) + " |")
    for n in names:
        out.append(f"| {n} | " + " | ".join(_cell(by[(n, q)], bfgs.nit) for q in qs) + " |")
    out += ["", "Configs: " + "; ".join(f"`{n}` = {CONFIGS[n][0]}" for n in names) + ".", ""]
    if "paper" in names:
        out += ["## Next to the paper's Table 1", "",
                "| log2 Qp | paper (Table 1): best epoch | paper: cost | our `paper` config: best iteration | cost |"
                + (" our `ours-rhu`: best iteration | cost |" if "ours-rhu" in names else ""),
                "|---|---|---|---|---|" + ("---|---|" if "ours-rhu" in names else "")]
        out.append(f"| float | {PAPER_FLOAT_EPOCHS} (L-BFGS) | 0 | {bfgs.nit} (scipy BFGS; {bfgs.nfev} f evals) | "
                   f"{bfgs.f:.2g} |"
                   + (f" {floats['L-BFGS-B'].nit} (scipy L-BFGS-B) | {floats['L-BFGS-B'].f:.2g} |" if "ours-rhu" in names else ""))
        for q in qs:
            pe, pc = PAPER_TABLE.get(q, ("-", "-"))
            p, o = by[("paper", q)], by.get(("ours-rhu", q))
            line = f"| {q} | {pe} | {pc} | {p.run.best_iter} | {p.cost:.5g} |"
            if o is not None:
                line += f" {o.run.best_iter} | {o.cost:.5g} |"
            out.append(line)
        out.append("")
    if random_rows:
        out += random_markdown(random_rows, qs, count)
    out += ["## Every run", "",
            "| config | log2 Qp | best iter | iters | cost | final point | f evals | g evals | go / idle / search / ortho / skips |"
            + (" C = Python |" if checked else ""),
            "|---|---|---|---|---|---|---|---|---|" + ("---|" if checked else "")]
    for r in rows:
        s = r.run.stats
        pt = "(" + ", ".join(f"{int(v)}/{1 << r.q}" for v in r.run.X) + ")"
        line = (f"| {r.config} | {r.q} | {r.run.best_iter} | {r.run.iters} | {r.cost:.4g} | {pt} | {r.run.f_evals} | "
                f"{r.run.g_evals} | {s['go']} / {s['idle']} / {s['search']} / {s['ortho']} / {s['skips']} |")
        if checked:
            line += " yes |" if r.c_agrees else " **NO** |"
        out.append(line)
    out += ["", "## Float reference (scipy, same process, float64)", "",
            "| method | iterations | f evals | g evals | cost | final point |", "|---|---|---|---|---|---|"]
    for m, fr in floats.items():
        out.append(f"| {m} | {fr.nit} | {fr.nfev} | {fr.njev} | {fr.f:.3g} | ({fr.x[0]:.6f}, {fr.x[1]:.6f}) |")
    out += ["", "Evaluations of the quantized runs include the final confirmation that no candidate improves "
            "(a stall) when the optimum is not reached; at the exact optimum the gradient is 0 and the run stops.", ""]
    if random_rows and checked:
        bad = sum(not r.c_agrees for r in random_rows)
        out += [f"Random starts: C = Python on {len(random_rows) - bad}/{len(random_rows)} runs.", ""]
    return "\n".join(out)


def plot(rows: list[Row], floats: dict, qs, path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    obj = objectives.rosenbrock()
    by = {(r.config, r.q): r for r in rows}
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 5.2))
    xs, ys = np.meshgrid(np.linspace(-1.6, 1.6, 300), np.linspace(-0.4, 2.2, 300))
    f = (1 - xs) ** 2 + 100 * (ys - xs ** 2) ** 2
    ax.contour(xs, ys, np.log10(f + 1e-3), levels=18, cmap="Greys", linewidths=0.6)
    fp = np.array(floats["BFGS"].path)
    ax.plot(fp[:, 0], fp[:, 1], "k.-", lw=1, ms=3, label=f"float BFGS ({floats['BFGS'].nit} it)")
    picks = [("paper", qs[0], "tab:red"), ("paper", min(7, qs[-1]), "tab:orange"),
             ("ours-noray", qs[0], "tab:purple"), ("ours-rhu", qs[0], "tab:blue"),
             ("ours-rhu", qs[-1], "tab:green")]
    for name, q, col in picks:
        r = by.get((name, q))
        if r is None:
            continue
        pts = np.array([x for _, x in r.run.path], float) / (1 << q)
        ax.plot(pts[:, 0], pts[:, 1], "o-", color=col, ms=3, lw=1,
                label=f"{name}, Qp = 2^{q}: cost {r.cost:.3g} at it {r.run.best_iter}")
    ax.plot([1], [1], "k*", ms=12)
    ax.set(xlabel="x", ylabel="y", title="Accepted points on the contour of log10 f")
    ax.legend(fontsize=7, loc="lower left")
    cmap = plt.get_cmap("viridis")
    for i, q in enumerate(qs):
        col = cmap(i / max(1, len(qs) - 1))
        for name, style in (("ours-rhu", "-"), ("paper", ":"), ("ours-noray", "--")):
            r = by.get((name, q))
            if r is not None and (name != "ours-noray" or i == 0):
                bx.plot(np.minimum.accumulate(r.run.cost), style, color=col, lw=1.3,
                        label=f"{name} 2^{q}" if name != "paper" or i in (0, len(qs) - 1) else None)
    fc = [obj.f_float(x) for x in floats["BFGS"].path]
    bx.plot(fc, "k--", lw=1.5, label="float BFGS (per iteration)")
    bx.set_yscale("symlog", linthresh=1e-10)
    bx.set(xlabel="iteration (one trial = one objective evaluation)", ylabel="best cost so far (0 at the bottom)",
           title="Cost vs iteration: ours (solid), paper (dotted), ours-noray (dashed)")
    bx.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


@click.command("rosenbrock")
@click.option("--q-min", default=4, show_default=True, help="smallest log2 Qp")
@click.option("--q-max", default=10, show_default=True, help="largest log2 Qp")
@click.option("--max-iter", default=200, show_default=True, help="trials per run")
@click.option("--starts", default=48, show_default=True, help="random starts of the ablation study (0: skip)")
@click.option("--check-c/--no-check-c", default=True, show_default=True,
              help="also run the C kernel (native build) and require exact agreement")
def main(q_min, q_max, max_iter, starts, check_c):
    """Table 1 of seed 000: quantized BFGS on Rosenbrock, paper vs ours, C vs Python."""
    from .. import native
    qs = list(range(q_min, q_max + 1))
    lib = native.load() if check_c else None
    rows = run_all(qs, list(CONFIGS), max_iter, lib)
    random_rows = run_random(qs, starts, max_iter, lib) if starts else []
    obj = objectives.rosenbrock()
    floats = {m: fixed_bfgs.run_float(obj, START, m) for m in ("BFGS", "L-BFGS-B")}
    out = paths.results_dir()
    (out / "rosenbrock.md").write_text(markdown(rows, floats, qs, max_iter, check_c, random_rows, starts))
    plot(rows, floats, qs, out / "rosenbrock.png")
    click.echo(f"wrote {out / 'rosenbrock.md'} and {out / 'rosenbrock.png'}")
    for n in CONFIGS:
        cells = " ".join(("ok" if r.exact else "--") + f"/{r.run.best_iter}" for r in rows if r.config == n)
        click.echo(f"  {n:13s} {cells}")
    if check_c and not all(r.c_agrees for r in rows + random_rows):
        raise click.ClickException("the C kernel and the Python reference disagree (see the table)")


if __name__ == "__main__":
    main()
