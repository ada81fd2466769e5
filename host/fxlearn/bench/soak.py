"""Link-fault soak: thousands of BATCH frames through the fault-injecting proxy
(fxlearn.faultproxy) at fixed byte corruption / loss rates, on the virtual board or an emulated
one, and the device's cumulative totals compared bit for bit with the Python integer reference
on the same batches. Exactly once means: the device applied batch sequences 1..N, each once
(its STATS batch count is N, its sample count the samples sent) and its totals equal the
reference's. EVAL streams: the trainer's TRAIN streams are not used here.

    python -m fxlearn.bench.soak --batches 10000 --corrupt 0.01 --drop 0.001   # results/soak.md
    python -m fxlearn.bench.soak --board qemu_f405 --batches 2000
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import click
import numpy as np

from .. import blob, fixed, loss, mlp, quant
from .. import protocol as P
from ..board import open_board
from ..device import Device
from ..faultproxy import FaultProxy, Faults, ProxyStats
from ..paths import source_root


def soak_model(seed: int = 1, sizes=(8, 6, 4)) -> mlp.IntModel:
    """A small valid integer MLP: short frames (8 int8 inputs a sample) survive a 1% byte
    corruption rate often enough to make progress, and it fits the smallest board."""
    rng = np.random.default_rng(seed)
    layers = []
    for k, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        last = k == len(sizes) - 2
        pairs = [fixed.quantize_multiplier(float(s)) for s in rng.uniform(0.002, 0.02, n_out)]
        layers.append(mlp.IntLayer(quant.FMT_INT8, 8, rng.integers(-100, 101, (n_out, n_in)),
                                   rng.integers(-3000, 3000, n_out),
                                   np.array([m for m, _ in pairs]), np.array([s for _, s in pairs]),
                                   fixed.INT16_MIN if last else 0, fixed.INT16_MAX if last else 255))
    return mlp.IntModel(layers, input_scale=1 / 16, output_scale=0.05)


def reference_totals(model: mlp.IntModel, x, y, batch_size: int) -> tuple[int, int]:
    """(correct, loss) as the device accumulates them: per-sample Q12 losses summed with int32
    saturation, batch by batch, then into the stream total."""
    z = model.forward(x)
    mult, shift = blob.loss_scale(model.output_scale)
    _, losses = loss.softmax_xent(z, y, mult, shift)
    total = 0
    for i in range(0, len(x), batch_size):
        part = 0
        for v in losses[i:i + batch_size]:
            part = min(max(part + int(v), fixed.INT32_MIN), fixed.INT32_MAX)
        total = min(max(total + part, fixed.INT32_MIN), fixed.INT32_MAX)
    return int((z.argmax(1) == y).sum()), total


@dataclass
class SoakResult:
    board: str
    batches: int
    batch_size: int
    faults: Faults
    seconds: float = 0.0
    completed: bool = False
    error: str = ""
    acked_bseq: int = 0          # last batch the host holds an acknowledgement for
    device_last_bseq: int = -1   # STATS after the run (exactly which batches were applied)
    device_batches: int = -1     # batches the device applied in this stream (each once)
    device: tuple[int, int, int] = (0, 0, 0)     # samples, correct, loss
    reference: tuple[int, int, int] = (0, 0, 0)
    link: P.LinkCounters = field(default_factory=P.LinkCounters)
    proxy: ProxyStats = field(default_factory=ProxyStats)
    model_crc_ok: bool = False   # the model read back after the run is the uploaded blob

    @property
    def exact(self) -> bool:
        return (self.completed and self.device == self.reference and self.model_crc_ok
                and self.device_batches == self.batches and self.device_last_bseq == self.batches)


def run_soak(board_spec: str | None = "native", batches: int = 1000, batch_size: int = 4,
             faults: Faults = Faults(corrupt=0.01, drop=0.001), seed: int = 0,
             timeout: float = 0.1, retries: int = 40, progress: bool = False) -> SoakResult:
    """Upload the soak model over a clean link, stream `batches` EVAL batches through the
    faulty proxy, then read the device's STATS and model over a clean link again."""
    model = soak_model()
    data = blob.write_blob(model)
    rng = np.random.default_rng(seed)
    n = batches * batch_size
    x = rng.integers(-128, 128, (n, model.layers[0].n_in))
    y = rng.integers(0, model.layers[-1].n_out, n)
    correct, total_loss = reference_totals(model, x, y, batch_size)
    board = open_board(board_spec)
    result = SoakResult(board.name, batches, batch_size, faults, reference=(n, correct, total_loss))
    with board:
        with Device(board.port, board=board, timeout=max(timeout, 1.0)) as dev:
            dev.upload(data)
        start = time.monotonic()
        with FaultProxy(board.port, faults, seed=seed) as proxy:
            try:
                with Device(proxy.port, timeout=timeout, retries=retries) as dev:
                    r = dev.evaluate(x, y, batch_size=batch_size, progress=progress,
                                     desc=f"soak {board.name}")
                result.completed = True
                result.acked_bseq = r.last_bseq
                result.device = (r.samples, r.correct, r.loss)
                result.link = r.link
            except P.FxLinkError as e:
                result.error = f"{type(e).__name__}: {e}"
                result.acked_bseq = getattr(e, "last_bseq", None) or 0
            result.proxy = proxy.stats
        result.seconds = time.monotonic() - start
        with Device(board.port, board=board, timeout=max(timeout, 1.0)) as dev:
            st = dev.stats()
            result.device_last_bseq, result.device_batches = st.last_bseq, st.batches
            result.model_crc_ok = dev.read_model() == data
    return result


def _rate(count: int, total: int) -> str:
    return f"{count} ({count / total:.3%})" if total else "0"


def write_report(results: list[SoakResult], path: Path, command: str) -> None:
    lines = ["# Link-fault soak", "",
             "Written by `python -m fxlearn.bench.soak` (host/fxlearn/bench/soak.py). EVAL batches "
             "go through `fxlearn.faultproxy` with seeded per-byte faults in both directions; "
             "the device's cumulative totals (samples, correct, loss Q12) must equal the Python "
             "integer reference on the same batches, the device must have applied batch "
             "sequences 1..N once each (STATS), and the model read back must be the uploaded "
             "blob.", "", f"Command: `{command}`", "",
             "| board | batches x size | corrupt | drop | seconds | frames sent | resent | "
             "bad frames rx | bytes corrupted (to board / to host) | bytes dropped | "
             "device applied | totals equal | result |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        px = r.proxy
        lines.append(
            f"| {r.board} | {r.batches} x {r.batch_size} | {r.faults.corrupt:g} | {r.faults.drop:g} "
            f"| {r.seconds:.1f} | {r.link.frames_tx} | {r.link.resent} | {r.link.bad_frames} "
            f"| {_rate(px.to_board.corrupted, px.to_board.bytes_in)} / "
            f"{_rate(px.to_client.corrupted, px.to_client.bytes_in)} "
            f"| {px.to_board.dropped} / {px.to_client.dropped} "
            f"| {r.device_batches} batches, last {r.device_last_bseq} "
            f"| {'yes' if r.device == r.reference else 'NO'} "
            f"| {'exact' if r.exact else 'FAILED ' + r.error} |")
    lines += ["", "Device totals vs reference (samples, correct, loss):", ""]
    lines += [f"- {r.board}: device {r.device}, reference {r.reference}" for r in results]
    lines += ["", "Lost batches: a batch the device never applied ends the stream with an error "
              "naming the last acknowledged batch; double-applied batches would show as device "
              "totals above the reference and a batch count above N. Both counts are 0 in every "
              "row marked exact.", ""]
    path.write_text("\n".join(lines))


@click.command()
@click.option("--board", "boards", multiple=True, default=["native"],
              help="board spec(s) (fxlearn.board.open_board), e.g. native, qemu_f405")
@click.option("--batches", default=10000, show_default=True)
@click.option("--batch-size", default=4, show_default=True)
@click.option("--corrupt", default=0.01, show_default=True, help="per-byte corruption rate")
@click.option("--drop", default=0.001, show_default=True, help="per-byte loss rate")
@click.option("--seed", default=0, show_default=True)
@click.option("--timeout", default=0.1, show_default=True, help="client reply timeout, s")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="report (default results/soak.md)")
def main(boards, batches, batch_size, corrupt, drop, seed, timeout, out):
    """Soak the link: BATCH frames through a faulty proxy, totals checked bit for bit."""
    faults = Faults(corrupt=corrupt, drop=drop)
    results = []
    for spec in boards:
        r = run_soak(spec, batches, batch_size, faults, seed, timeout, progress=True)
        click.echo(f"{spec}: {'exact' if r.exact else 'FAILED ' + r.error} in {r.seconds:.1f} s, "
                   f"device {r.device} reference {r.reference}")
        results.append(r)
    out = out or source_root() / "results" / "soak.md"
    command = (f"python -m fxlearn.bench.soak {' '.join('--board ' + b for b in boards)} "
               f"--batches {batches} --batch-size {batch_size} --corrupt {corrupt} --drop {drop} "
               f"--seed {seed} --timeout {timeout}")
    write_report(results, out, command)
    click.echo(f"wrote {out}")
    if not all(r.exact for r in results):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
