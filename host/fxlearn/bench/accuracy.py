"""Benchmark: accuracy of quantized MLPs as the kernel runs them.

Uniform vs PoT vs APoT at 2/3/4 bits (weights of every layer and hidden activations at the same
width), post-training (PTQ) vs quantization-aware training (QAT) with the STE and with EWGS, on
digits and three other scikit-learn datasets, over several seeds. Every quantized accuracy is
that of the integer model (``mlp.IntModel.forward``: int16 inputs, integer levels, int32 bias,
TFLM requantization, clamp, activation snapping), which is bit-exact with the C kernel; the
fake-quant float accuracy is reported beside it. Model size = bytes of the model blob
(``blob.write_blob``), FP32 = 4 bytes per parameter.

Writes results/accuracy.md, accuracy.png and accuracy.json.
"""
from __future__ import annotations

import json
import math
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from functools import lru_cache

import click
import numpy as np
from tqdm import tqdm

from .. import blob, convert, data, nn, paths, ptq, qat

DATASETS = ("digits", "iris", "wine", "breast_cancer")
SCHEMES = ("uniform", "pot", "apot")
BITS = (2, 3, 4)
FLOAT_STEPS = 3000          # optimizer steps of float training (digits: 150 epochs)
QAT_STEPS = 2000            # optimizer steps of QAT (digits: ~95 epochs)
BATCH = 64


def hidden_sizes(name: str) -> tuple[int, ...]:
    return (64, 32) if name == "digits" else (32, 16)


@dataclass(frozen=True)
class Method:
    label: str
    mode: str                     # "fp32", "ptq" or "qat"
    weights: str = ""
    acts: str = ""
    grad: str = "ste"
    ewgs_delta: str | float = "hessian"
    ewgs_fix: str = "none"
    normalize: bool = False


def methods(quick: bool) -> list[Method]:
    out = [Method("FP32", "fp32")]
    schemes = ("uniform", "apot") if quick else SCHEMES
    for bits in ((2, 4) if quick else BITS):
        for s in schemes:
            w = a = f"{s}{bits}"
            out += [Method(f"{s} {bits}/{bits} PTQ", "ptq", w, a),
                    Method(f"{s} {bits}/{bits} QAT STE", "qat", w, a),
                    Method(f"{s} {bits}/{bits} QAT EWGS", "qat", w, a, "ewgs")]
    out.append(Method("apot 4/uniform 8 PTQ", "ptq", "apot4", "uniform8"))
    if not quick:
        out += [Method("apot 2/2 QAT EWGS delta=1e-3", "qat", "apot2", "apot2", "ewgs", 1e-3),
                Method("apot 2/2 QAT EWGS clip", "qat", "apot2", "apot2", "ewgs", ewgs_fix="clip"),
                Method("apot 2/2 QAT EWGS nozero", "qat", "apot2", "apot2", "ewgs", ewgs_fix="nozero"),
                Method("apot 2/2 QAT STE +norm", "qat", "apot2", "apot2", normalize=True),
                Method("apot 2/2 QAT EWGS +norm", "qat", "apot2", "apot2", "ewgs", normalize=True)]
    return out


def epochs_for(n_samples: int, steps: int) -> int:
    return max(1, math.ceil(steps / math.ceil(n_samples / BATCH)))


def train_float(ds: data.Dataset, seed: int, steps: int) -> nn.MLP:
    model = nn.MLP.init((ds.n_features,) + hidden_sizes(ds.name) + (ds.n_classes,), seed=seed)
    nn.train(model, ds.x_train, ds.y_train,
             nn.TrainConfig(epochs=epochs_for(len(ds.x_train), steps), batch_size=BATCH, seed=seed))
    return model


def run_method(ds: data.Dataset, fm: nn.MLP, m: Method, seed: int, qat_steps: int,
               hutchinson: tuple[int, int] = (10, 16)) -> dict:
    """One (dataset, seed, method) cell: accuracies of the integer and fake-quant models."""
    if m.mode == "fp32":
        return {"acc": fm.accuracy(ds.x_test, ds.y_test), "fake_acc": None, "agree": None,
                "bytes": 4 * fm.n_params()}
    cfg = ptq.QuantConfig(weights=m.weights, acts=m.acts, per_channel=True,
                          normalize=m.normalize, grad=m.grad, ewgs_fix=m.ewgs_fix)
    qm = ptq.quantize(fm, cfg, ds.x_train)
    extra = {}
    if m.mode == "qat":
        epochs = epochs_for(len(ds.x_train), qat_steps)
        hist = qat.train_qat(qm, ds.x_train, ds.y_train, qat.QATConfig(
            epochs=epochs, batch_size=BATCH, seed=seed, weight_decay=1e-3, ewgs_delta=m.ewgs_delta,
            ewgs_refresh=max(1, epochs // 10), hutchinson_batches=hutchinson[0],
            hutchinson_vectors=hutchinson[1]))
        spans = [q.max_abs_diff for q in qm.quantizers]
        extra = {"loss_first": hist.loss[0], "loss_last": hist.loss[-1],
                 "diverged": bool(not np.isfinite(hist.loss[-1]) or hist.loss[-1] > hist.loss[0]),
                 "max_delta": max((max(d) for d in hist.deltas), default=0.0),
                 "max_scale_dev": max((max(di * s for di, s in zip(d, spans)) for d in hist.deltas),
                                      default=0.0)}
    im = convert.to_int_model(qm)
    xi = convert.quantize_input(qm, ds.x_test)
    pred_int = im.predict(xi)
    pred_fake = qm.predict(ds.x_test)
    return {"acc": float(np.mean(pred_int == ds.y_test)),
            "fake_acc": float(np.mean(pred_fake == ds.y_test)),
            "agree": float(np.mean(pred_int == pred_fake)),
            "bytes": len(blob.write_blob(im)), **extra}


@lru_cache(maxsize=4)
def _float_model(name: str, seed: int, steps: int) -> tuple[data.Dataset, nn.MLP]:
    ds = data.load(name)
    return ds, train_float(ds, seed, steps)


def _cell(task: tuple) -> dict:
    name, seed, m, float_steps, qat_steps, hutchinson = task
    ds, fm = _float_model(name, seed, float_steps)
    return {"dataset": name, "seed": seed, "method": m.label, **asdict(m),
            **run_method(ds, fm, m, seed, qat_steps, hutchinson)}


def run(datasets, seeds: int, quick: bool, jobs: int = 1, progress: bool = True,
        steps: tuple[int, int] | None = None) -> dict:
    """Every (dataset, seed, method) cell, on ``jobs`` processes (each trains the float models
    it needs; they are deterministic, so every process gets the same ones)."""
    float_steps, qat_steps = steps or ((600, 400) if quick else (FLOAT_STEPS, QAT_STEPS))
    hutchinson = (2, 4) if quick else (10, 16)          # (batches, vectors) per EWGS refresh
    ms = methods(quick)
    tasks = [(n, s, m, float_steps, qat_steps, hutchinson) for n in datasets for s in range(seeds) for m in ms]
    t0 = time.time()
    bar = tqdm(total=len(tasks), desc="bench accuracy", disable=not progress)
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as pool:
            cells = []
            for c in pool.map(_cell, tasks, chunksize=1):
                cells.append(c)
                bar.update(1)
    else:
        cells = []
        for t in tasks:
            cells.append(_cell(t))
            bar.update(1)
    bar.close()
    return {"settings": {"datasets": list(datasets), "seeds": seeds, "quick": quick,
                         "float_steps": float_steps, "qat_steps": qat_steps, "batch": BATCH,
                         "per_channel": True, "input_bits": 8, "jobs": jobs, "hutchinson": hutchinson,
                         "hidden": {n: hidden_sizes(n) for n in datasets},
                         "seconds": round(time.time() - t0, 1)},
            "methods": [m.label for m in ms], "cells": cells}


def summarize(res: dict) -> dict:
    """(dataset, method) -> mean/sd of accuracies (percent), bytes, EWGS stats."""
    out = {}
    for name in res["settings"]["datasets"]:
        for label in res["methods"]:
            cs = [c for c in res["cells"] if c["dataset"] == name and c["method"] == label]
            acc = 100 * np.array([c["acc"] for c in cs])
            fake = [100 * c["fake_acc"] for c in cs if c["fake_acc"] is not None]
            agree = [100 * c["agree"] for c in cs if c["agree"] is not None]
            out[name, label] = {
                "mean": float(acc.mean()), "sd": float(acc.std(ddof=1)) if len(acc) > 1 else 0.0,
                "min": float(acc.min()), "max": float(acc.max()),
                "fake": float(np.mean(fake)) if fake else None,
                "agree": float(np.mean(agree)) if agree else None,
                "bytes": int(cs[0]["bytes"]),
                "max_delta": max((c.get("max_delta", 0.0) for c in cs), default=0.0),
                "max_scale_dev": max((c.get("max_scale_dev", 0.0) for c in cs), default=0.0),
                "diverged": sum(bool(c.get("diverged")) for c in cs)}
    return out


GOALS = [("FP32 >= 97%", "FP32", None, 97.0),
         ("APoT W4/A8 PTQ within 0.5 of FP32", "apot 4/uniform 8 PTQ", 0.5, None),
         ("APoT 3/3 QAT within 1 of FP32", "apot 3/3 QAT STE", 1.0, None),
         ("APoT 2/2 QAT within 1.5 of FP32", "apot 2/2 QAT STE", 1.5, None)]


def markdown(res: dict) -> str:
    s = summarize(res)
    st = res["settings"]
    lines = ["# Quantized MLP accuracy (integer model, bit-exact with the kernel)", "",
             f"Generated by `fxlearn bench accuracy{' --quick' if st['quick'] else ''}` "
             f"in {st['seconds']} s. Test accuracy (%) of `IntModel.forward` on the fixed "
             f"stratified test split (25 %, split seed 0), mean ± sample sd (min..max) over "
             f"{st['seeds']} training seed(s). W/A = weight bits of **every** layer (first and last "
             "included) / hidden activation bits. Per-channel weight scales, 8-bit inputs, int16 "
             "logits. PTQ = output-aware clips + GPTQ rounding + bias correction; QAT = "
             f"{st['qat_steps']} Adam steps from the PTQ model, learnable clips (RCF). "
             "2-bit weights are ternary in all three schemes, and 2-bit PoT and APoT activations are "
             "the same level set {0, 1/4, 1/2, 1}. `fake` = the float fake-quant model's accuracy; "
             "`agree` = share of test samples where both predict the same class. Size = model "
             "blob bytes (FP32: 4 bytes per parameter).", ""]
    if "digits" in st["datasets"]:
        lines += ["## Goals (digits)", "", "| goal | measured | met |", "|---|---|---|"]
        fp = s["digits", "FP32"]["mean"]
        for text, label, gap, floor in GOALS:
            if ("digits", label) not in s:
                continue
            v = s["digits", label]
            ok = v["mean"] >= floor if floor is not None else fp - v["mean"] <= gap
            meas = f"{v['mean']:.2f}" + ("" if floor is not None else f" (gap {fp - v['mean']:.2f})")
            lines.append(f"| {text} | {meas} | {'yes' if ok else 'NO'} |")
        lines.append("")
    for name in st["datasets"]:
        fp = s[name, "FP32"]["mean"]
        sizes = "-".join(str(n) for n in st["hidden"][name])
        lines += [f"## {name} (MLP in-{sizes}-classes)", "",
                  "| method | W/A | accuracy % | Δ vs FP32 | fake % | agree % | size B |",
                  "|---|---|---|---|---|---|---|"]
        for label in res["methods"]:
            v = s[name, label]
            m = next(c for c in res["cells"] if c["method"] == label)
            bits = "32/32" if m["mode"] == "fp32" else f"{m['weights']}/{m['acts']}"
            fake = "" if v["fake"] is None else f"{v['fake']:.2f}"
            agree = "" if v["agree"] is None else f"{v['agree']:.1f}"
            lines.append(f"| {label} | {bits} | {v['mean']:.2f} ± {v['sd']:.2f} "
                         f"({v['min']:.1f}..{v['max']:.1f}) | {v['mean'] - fp:+.2f} | {fake} | "
                         f"{agree} | {v['bytes']} |")
        lines.append("")
    ewgs = [(n, l) for (n, l) in s if "EWGS" in l]
    if ewgs:
        lines += ["## EWGS stability", "",
                  "delta = (Tr(H)/N)/(3 sd(g)) per quantizer (Hutchinson), refreshed 10 times per "
                  "run; `max |delta (x-q)|` is the largest change of the gradient scale it can "
                  "cause (above 1 the scaled gradient can flip sign); `diverged` counts runs whose "
                  "last-epoch training loss exceeds the first epoch's.", "",
                  "| dataset | method | max delta | max abs delta (x-q) | diverged / runs | Δ vs STE |",
                  "|---|---|---|---|---|---|"]
        for n, l in ewgs:
            v = s[n, l]
            ste = l.split(" QAT")[0] + " QAT STE" + (" +norm" if "+norm" in l else "")
            d = f"{v['mean'] - s[n, ste]['mean']:+.2f}" if (n, ste) in s else ""
            lines.append(f"| {n} | {l} | {v['max_delta']:.3g} | {v['max_scale_dev']:.3g} | "
                         f"{v['diverged']} / {st['seeds']} | {d} |")
        lines.append("")
    return "\n".join(lines)


def plot(res: dict, path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    s = summarize(res)
    names = res["settings"]["datasets"]
    cols = min(2, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.2 * cols, 4.4 * rows), squeeze=False)
    for ax in axes.ravel()[len(names):]:
        ax.set_visible(False)
    styles = {"PTQ": ":", "QAT STE": "-", "QAT EWGS": "--"}
    colors = {"uniform": "C0", "pot": "C1", "apot": "C2"}
    for ax, name in zip(axes.ravel(), names):
        for scheme, color in colors.items():
            for mode, ls in styles.items():
                pts = [(b, s[name, f"{scheme} {b}/{b} {mode}"]) for b in BITS
                       if (name, f"{scheme} {b}/{b} {mode}") in s]
                if pts:
                    ax.errorbar([p[0] for p in pts], [p[1]["mean"] for p in pts],
                                yerr=[p[1]["sd"] for p in pts], ls=ls, color=color, marker="o",
                                ms=3, capsize=2, label=f"{scheme} {mode}")
        ax.axhline(s[name, "FP32"]["mean"], color="k", lw=0.8, label="FP32")
        ax.set(title=f"{name}: dotted PTQ, solid QAT STE, dashed QAT EWGS",
               xlabel="bits (weights = activations)", xticks=BITS,
               ylabel="integer-model test accuracy (%)")
        lo = min(v["mean"] for (n, _), v in s.items() if n == name)
        ax.set_ylim(max(lo - 2, 0), 100.5)
    axes[0][0].legend(fontsize=7, ncol=1)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(res: dict, out_dir) -> None:
    (out_dir / "accuracy.json").write_text(json.dumps(res, indent=1))
    (out_dir / "accuracy.md").write_text(markdown(res) + "\n")
    plot(res, out_dir / "accuracy.png")


@click.command("accuracy")
@click.option("--quick", is_flag=True, help="digits only, 1 seed, fewer schemes and steps (CI)")
@click.option("--seeds", type=click.IntRange(1, 20), default=None, help="training seeds (default 3; 1 with --quick)")
@click.option("--datasets", default=None, help=f"comma list (default: {','.join(DATASETS)})")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="folder (default: results/)")
@click.option("--jobs", type=click.IntRange(1, 64), default=None,
              help="worker processes (default: min(2, CPUs))")
def main(quick: bool, seeds: int | None, datasets: str | None, out: str | None, jobs: int | None):
    """Uniform / PoT / APoT at 2-4 bits, PTQ vs QAT (STE, EWGS): integer-model accuracy table
    (accuracy.md), plot (accuracy.png) and raw numbers (accuracy.json)."""
    from pathlib import Path
    names = tuple(datasets.split(",")) if datasets else (("digits",) if quick else DATASETS)
    for n in names:
        if n not in data.BUILTIN:
            raise click.BadParameter(f"unknown dataset {n!r}; use {', '.join(DATASETS)}")
    seeds = seeds or (1 if quick else 3)
    out_dir = Path(out) if out else paths.results_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    res = run(names, seeds, quick, jobs or min(2, os.cpu_count() or 1))
    write(res, out_dir)
    click.echo(f"wrote {out_dir / 'accuracy.md'}, accuracy.png, accuracy.json")
