"""Benchmark: the cost of calling the kernel from MicroPython for a digits-sized training step.

The same fx_train_step calls (MLP 64-32-10, digits, batch 16, the quantized optimizer) are run
1. from C directly (firmware/micropython/bench_step.c, set up like modfxlearn.c, -Os like the
   unix port), and
2. from MicroPython through fxlearn.Trainer.step, on the unix port with the module compiled in
   and on the stock unix port with the x64 native module (.mpy),
from the same initial state over the same batches (the final theta checksums must agree), and
overhead = (MicroPython time - C time) / C time. Each figure is the fastest of several repeats
(the machine may be shared). Writes results/micropython_overhead.md and .png.

    python -m fxlearn.bench.mp_overhead [--steps 300] [--repeats 7]
"""
from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import click
import numpy as np
from tqdm import tqdm

from .. import mp, paths

MP_SCRIPT = """\
import time
from array import array
import fxlearn


def read(name, code):
    with open(name, "rb") as f:
        return array(code, f.read())


with open("model.fxb", "rb") as f:
    model = fxlearn.Model(bytearray(f.read()))
theta, o = read("theta.bin", "h"), read("optim.bin", "i")
opt = fxlearn.Optimizer(len(theta), o[0], dir_q=o[1], z_max=o[2], c1_shift=o[3], shrink_shift=o[4], seed=o[5],
                        rounding=o[6], schedule=o[7], policy=o[8], guess=bool(o[9]), min_lsb=bool(o[10]),
                        pattern=bool(o[11]), expand=o[12], box=o[13], ortho=o[14])
trainer = fxlearn.Trainer(model, {first}, read("scales.bin", "i"), theta, opt, fxlearn.LOSS_SOFTMAX_XENT,
                          {slope_shift}, {cache})
x, labels = memoryview(read("x.bin", "h")), memoryview(read("labels.bin", "H"))
n, n_in, batch, steps = len(labels), len(x) // len(labels), {batch}, {steps}
starts = [(i * batch) % (n - batch + 1) for i in range(steps)]
batches = [(x[s * n_in:(s + batch) * n_in], labels[s:s + batch]) for s in starts]
step, ticks_us, ticks_diff = trainer.step, time.ticks_us, time.ticks_diff
us = array("i", [0] * steps)
for k in range(steps):
    xb, yb = batches[k]
    t0 = ticks_us()
    st = step(xb, yb)
    us[k] = ticks_diff(ticks_us(), t0)
s = 0
for v in theta:
    s = (s * 31 + (v & 0xFFFF)) & 0xFFFFFFFF
print(st[0], s)
print(" ".join(str(1000 * t) for t in us))
"""

MODES = (("all layers", 0), ("last layer", 1))


def _files(directory: Path, prep: mp.Prepared) -> None:
    c = prep.optim.resolved()
    fields = (c.q, c.dir_q, c.z_max, c.c1_shift, c.shrink_shift, c.seed, c.rounding, c.schedule, c.policy,
              int(c.guess), int(c.min_lsb), int(c.pattern), c.expand, c.box, c.ortho)
    for name, data in (("model.fxb", prep.blob), ("theta.bin", prep.theta), ("scales.bin", prep.scales),
                       ("optim.bin", np.array(fields, dtype="<i4").tobytes()),
                       ("x.bin", np.ascontiguousarray(prep.x, dtype="<i2").tobytes()),
                       ("labels.bin", np.ascontiguousarray(prep.labels, dtype="<u2").tobytes())):
        (directory / name).write_bytes(data)


# The C baselines are compiled like the kernel is inside each MicroPython build: the unix port's
# objects (-Os, sections, the distribution's default stack protector) and dynruntime.mk's x64
# objects (-Os -fpic -fno-common -fno-stack-protector).
C_FLAVOURS = {
    "module": ["-std=gnu99", "-Os", "-DNDEBUG", "-fdata-sections", "-ffunction-sections", "-U_FORTIFY_SOURCE"],
    "mpy": ["-std=c99", "-Os", "-DNDEBUG", "-fpic", "-fno-common", "-fno-stack-protector", "-U_FORTIFY_SOURCE"],
}


def build_c(flavour: str) -> Path:
    """bench_step with the kernel, compiled like the kernel in that MicroPython build."""
    root = paths.source_root()
    out = root / "build" / "micropython" / f"bench_step_{flavour}"
    kernel = sorted((root / "firmware" / "kernel").glob("*.c"))
    subprocess.run(["gcc", *C_FLAVOURS[flavour], "-Wall", "-Werror", "-I", str(root / "firmware" / "kernel"),
                    "-o", str(out), str(root / "firmware" / "micropython" / "bench_step.c"), *map(str, kernel)],
                   check=True)
    return out


def _run(cmd, cwd, env=None) -> tuple[np.ndarray, int, int]:
    """(ns of every step, loss of the last step, theta checksum)."""
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed:\n{r.stdout}{r.stderr}")
    head, times = r.stdout.strip().split("\n")
    loss, checksum = head.split()
    return np.array(times.split(), dtype=np.int64), int(loss), int(checksum)


def measure(steps: int, repeats: int, batch: int = 16, progress=None) -> list[dict]:
    builds = mp.build("unix", "unix-stock", "mpy-x64")
    bench = {flavour: build_c(flavour) for flavour in C_FLAVOURS}
    rows = []
    for name, first in MODES:
        spec = mp.TrainSpec(hidden=(32,), first=first, batch=batch, stream=False)
        prep = mp.prepare(spec)
        with tempfile.TemporaryDirectory(prefix="fxlearn-overhead-") as tmp:
            _files(Path(tmp), prep)
            script = MP_SCRIPT.format(first=first, slope_shift=prep.params.slope_shift, cache=prep.params.cache,
                                      batch=batch, steps=steps)
            c_args = [tmp, str(first), str(steps), str(batch), str(prep.params.slope_shift), str(prep.params.cache)]
            runs = {
                "C module": [str(bench["module"]), *c_args],
                "C mpy": [str(bench["mpy"]), *c_args],
                "module": [str(builds.unix), "-c", script],
                "mpy": [str(builds.unix_stock), "-c", script],
            }
            env = {**os.environ, "MICROPYPATH": str(builds.dist("x64"))}
            best, results = {}, {}
            for _ in range(repeats):
                for key, cmd in runs.items():
                    t, loss, checksum = _run(cmd, tmp, env)
                    best[key] = np.minimum(best.get(key, t), t)
                    results.setdefault(key, set()).add((loss, checksum))
                if progress:
                    progress()
        if len(set.union(*results.values())) != 1:
            raise RuntimeError(f"{name}: the runs did not compute the same integers: {results}")
        us = {k: float(v.sum()) / 1e3 / steps for k, v in best.items()}
        rows.append({"mode": name, "params": len(prep.theta) // 2, **us,
                     **{f"{k} overhead": (us[k] - us[f"C {k}"]) / us[f"C {k}"] for k in ("module", "mpy")}})
    return rows


def plot(rows, path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = ["C module", "module", "C mpy", "mpy"]
    labels = ["C, compiled as in the firmware", "MicroPython, module in firmware",
              "C, compiled as the .mpy", "MicroPython, native .mpy"]
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    width = 0.2
    for j, (key, label) in enumerate(zip(keys, labels)):
        ax.bar(np.arange(len(rows)) + (j - 1.5) * width, [r[key] for r in rows], width, label=label)
    ax.set_xticks(np.arange(len(rows)), [f"{r['mode']} ({r['params']} params)" for r in rows])
    ax.set_ylabel("µs per training step (batch 16)")
    ax.set_title("fx_train_step called from C and from MicroPython (unix port, x86-64)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


@click.command()
@click.option("--steps", default=300, show_default=True, help="training steps per run")
@click.option("--repeats", default=7, show_default=True, help="runs per variant (the fastest counts)")
def main(steps, repeats):
    """Overhead of calling the kernel from MicroPython: results/micropython_overhead.md + .png."""
    with tqdm(total=repeats * len(MODES), desc="overhead runs", unit="repeat") as bar:
        rows = measure(steps, repeats, progress=lambda: bar.update(1))
    out = paths.results_dir()
    plot(rows, out / "micropython_overhead.png")
    lines = [
        "# Calling the kernel from MicroPython: overhead of a training step",
        "",
        f"Command: `python -m fxlearn.bench.mp_overhead --steps {steps} --repeats {repeats}`",
        "",
        "Digits (sklearn), MLP 64-32-10 in the fixed-point design of docs/training.md, mini-batch 16, the "
        "quantized optimizer (train.optimizer_config, lr 0.5). The same fx_train_step calls, from the same "
        f"initial state over the same {steps} batches, are made from C directly "
        "(firmware/micropython/bench_step.c) and from MicroPython 1.25 (`st = step(x, labels)` on prepared "
        "memoryview slices) on the unix port, x86-64; every run ends with the same theta (checked). Each step "
        "is timed on its own (clock_gettime in C, time.ticks_us around the call in MicroPython); a step's time "
        f"is its fastest of {repeats} runs (the machine may be shared), the table gives the mean over the steps. "
        "Overhead = (MicroPython - C) / C: the bytecode call, argument and buffer checks, the result tuple and "
        "the copy of the trained weights back into the blob.",
        "",
        "The kernel is compiled differently in the two MicroPython builds (the unix port's objects keep the "
        "distribution's default stack protector, dynruntime.mk's native module does not), so each is compared "
        "with a C baseline compiled the same way.",
        "",
        "| mode | trained parameters | C µs/step (firmware flags) | MicroPython, module in firmware | overhead | "
        "C µs/step (.mpy flags) | MicroPython, native .mpy | overhead |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['mode']} | {r['params']} | {r['C module']:.1f} | {r['module']:.1f} | "
                     f"{100 * r['module overhead']:.1f} % | {r['C mpy']:.1f} | {r['mpy']:.1f} | "
                     f"{100 * r['mpy overhead']:.1f} % |")
    lines += ["", "Goal: below 10 %.", "", "![overhead](micropython_overhead.png)", ""]
    (out / "micropython_overhead.md").write_text("\n".join(lines))
    click.echo("\n".join(lines))


if __name__ == "__main__":
    main()
