"""Benchmark: how well the serial protocol uses the link (docs/protocol.md section 4).

For each batch size, digits samples (int8, 64 features) are streamed as BATCH frames to the
board as an EVAL stream (a forward pass per sample) and, on boards that train, as a TRAIN
stream (one on-device training step of the last layer per batch), and compared with a raw
LINK_TEST echo over the same link in the same run:

    efficiency       = sample and label bytes / all bytes on the wire, both directions
    throughput ratio = streamed sample and label bytes per second / raw echo bytes per second

Links: the virtual board paced like a UART (--baud, default 115200: what a real board's UART
does; emulated UARTs move ~15 KB/s) and, for reference, unpaced (the pty's speed: the host's
Python is the bottleneck there, so its ratio says little). Writes results/link.md and link.png.
"""
from __future__ import annotations

import click
import numpy as np
from sklearn.datasets import load_digits
from tqdm import tqdm

from .. import blob, fixed, mlp, paths, protocol as P, quant
from ..board import open_board
from ..device import DEFAULT_BATCH_SIZE, Device

BATCH_SIZES = (1, 2, 4, 8, 16, 32, 62)


def digits_model(seed: int = 0) -> mlp.IntModel:
    """A 64-24-10 int8 model (2360 bytes: fits the 8 KiB board; the link does not care what
    it computes)."""
    rng = np.random.default_rng(seed)
    layers = []
    for n_in, n_out, lo, hi in ((64, 24, 0, 255), (24, 10, fixed.INT16_MIN, fixed.INT16_MAX)):
        pairs = [fixed.quantize_multiplier(float(s)) for s in rng.uniform(0.002, 0.01, n_out)]
        layers.append(mlp.IntLayer(quant.FMT_INT8, 8, rng.integers(-40, 41, (n_out, n_in)),
                                   rng.integers(-500, 500, n_out), np.array([m for m, _ in pairs]),
                                   np.array([s for _, s in pairs]), lo, hi))
    return mlp.IntModel(layers, input_scale=1 / 16, output_scale=0.02)


def trainable_model(batch: int):
    """digits_model with its last layer made int16 Q12 (fine-tuning) and the TRAIN stream
    configuration for mini-batches of `batch` samples."""
    from .. import train
    from ..device import train_config
    model = train.make_trainable(digits_model(), 1, 2.0 ** -6, 12)
    params, theta = train.plan(model, [1 / 16, 1 / 64, 0.02], 1, batch, x_max=16)
    return model, train_config(model, params, theta, train.optimizer_config(0.1))


def measure(spec: str, samples: int, echo_bytes: int, sizes, line_Bps: float | None = None) -> list[dict]:
    """Rows of (EVAL and, where the board trains, TRAIN) streams per batch size, each with the
    raw echo measured on the same link in the same run."""
    d = load_digits()
    x, y = d.data.astype(np.int64)[:samples], d.target[:samples]
    rows = []
    with open_board(spec) as board, Device(board.port, board=board, timeout=2.0) as dev:
        echo = dev.link_test(echo_bytes)
        modes = ["eval"] + (["train"] if dev.info.has(P.FEATURE_TRAIN) else [])
        for mode in modes:
            if mode == "eval":
                dev.upload(blob.write_blob(digits_model()))
            last = None
            for size in tqdm(sizes, desc=f"{spec} {mode}", unit="batch size"):
                if mode == "eval":
                    res = dev.evaluate(x, y, batch_size=size)
                else:
                    model, config = trainable_model(size)
                    dev.upload(blob.write_blob(model))
                    res = dev.train(x, y, config=config, batch_size=size)
                if last == res.batch_size:
                    break  # the device's frames hold no more
                last = res.batch_size
                rows.append(dict(link=spec, stream=mode, batch=res.batch_size, window=dev.window,
                                 efficiency=res.efficiency,
                                 stream_Bps=res.throughput, echo_Bps=echo.throughput,
                                 ratio=res.throughput / echo.throughput, resent=res.link.resent,
                                 line_Bps=line_Bps))
    return rows


def write_report(rows: list[dict], baud: int) -> None:
    out = paths.results_dir()
    lines = ["# Link efficiency of the serial protocol",
             "",
             "Written by `fxlearn bench link` (host/fxlearn/bench/link.py). Digits samples (int8, 64",
             "features + 1 label byte) streamed as BATCH frames (EVAL and TRAIN streams) to each board (the",
             "virtual board, paced and unpaced, and the boards given with --board);",
             "*efficiency* = sample and label bytes / all bytes on the wire in both directions;",
             "*ratio* = streamed sample bytes per second / raw LINK_TEST echo bytes per second, same",
             f"link, same run. Paced link: the virtual board at {baud} baud (10 bits per byte), like a",
             "UART; unpaced: the pseudo-terminal's own speed (host Python bound, for reference).",
             f"Default batch size: {DEFAULT_BATCH_SIZE}. Goals: efficiency >= 0.9, ratio >= 0.8.",
             "",
             "*line* = the paced link's capacity (baud / 10), for scale: a ratio above 1 means the",
             "stream used the line better than the echo loop did.",
             "",
             "| link | stream | batch | window | efficiency | stream B/s | raw echo B/s | ratio | line B/s | resent |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        line = f"{r['line_Bps']:.0f}" if r["line_Bps"] else "-"
        lines.append(f"| {r['link']} | {r['stream']} | {r['batch']} | {r['window']} | {r['efficiency']:.3f} | "
                     f"{r['stream_Bps']:.0f} | {r['echo_Bps']:.0f} | {r['ratio']:.3f} | {line} | "
                     f"{r['resent']} |")
    (out / "link.md").write_text("\n".join(lines) + "\n")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 4))
    # The unpaced pty is host-bound: its throughput ratios are in the table, not the plot.
    for link, stream in dict.fromkeys((r["link"], r["stream"]) for r in rows if r["link"] != "native"):
        sel = [r for r in rows if r["link"] == link and r["stream"] == stream]
        link = f"{link} {stream}"
        batches = [r["batch"] for r in sel]
        ax.plot(batches, [r["efficiency"] for r in sel], "o-", label=f"efficiency ({link})")
        ax.plot(batches, [r["ratio"] for r in sel], "s--", label=f"throughput / raw echo ({link})")
        if sel[0]["line_Bps"]:
            ax.plot(batches, [r["stream_Bps"] / r["line_Bps"] for r in sel], "^:",
                    label=f"throughput / line rate ({link})")
    ax.axhline(0.9, color="grey", lw=0.8, ls=":")
    ax.axhline(0.8, color="grey", lw=0.8, ls=":")
    ax.axvline(DEFAULT_BATCH_SIZE, color="grey", lw=0.8)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size (samples per frame)")
    ax.set_ylabel("ratio")
    shown = [r["ratio"] for r in rows if r["link"] != "native"]
    ax.set_ylim(0, max([1.5] + [1.1 * v for v in shown]))
    ax.legend(fontsize=7)
    ax.set_title("serial protocol: link use")
    fig.tight_layout()
    fig.savefig(out / "link.png", dpi=120)


@click.command("link")
@click.option("--baud", default=115200, show_default=True, help="pace of the UART-like link")
@click.option("--samples", default=400, show_default=True, help="digits samples per stream")
@click.option("--board", "extra", multiple=True,
              help="also measure this board spec (e.g. a registered QEMU board)")
def main(baud, samples, extra):
    """Link efficiency and streamed throughput vs a raw echo, per batch size."""
    rows = measure(f"native:baud={baud}", samples, 32 * 1024, BATCH_SIZES, baud / 10)
    for spec in extra:
        rows += measure(spec, samples, 32 * 1024, BATCH_SIZES)
    rows += measure("native", 1797, 1 << 20, BATCH_SIZES)
    write_report(rows, baud)
    for r in rows:
        if r["batch"] == DEFAULT_BATCH_SIZE:
            click.echo(f"{r['link']} {r['stream']}: batch {r['batch']}: efficiency {r['efficiency']:.3f}, "
                       f"throughput ratio {r['ratio']:.3f}")
    click.echo(f"wrote {paths.results_dir() / 'link.md'}")
