"""Link-fault soak: thousands of BATCH frames through the fault-injecting proxy
(fxlearn.faultproxy) at fixed byte corruption / loss rates, on the virtual board or an emulated
one, and the device compared bit for bit with the Python integer reference on the same
batches. Exactly once means: the device applied batch sequences 1..N, each once (its STATS
batch count is N, its sample count the samples sent) and its totals equal the reference's.

* --mode train (the default): a TRAIN stream, every batch one step of the device's trainer;
  the reference is train.Trainer on the same batches, and the final parameters read back
  from the device must equal the reference's bit for bit (a lost batch or a batch applied
  twice changes every later step, so this is the strictest exactly-once check), as must the
  step / accepted / idle counts and the committed model.
* --mode eval: an EVAL stream; totals (samples, correct, loss) and the unchanged model.

    python -m fxlearn.bench.soak --batches 10000 --corrupt 0.01 --drop 0.001   # results/soak.md
    python -m fxlearn.bench.soak --board qemu_f405 --batches 10000 --out results/soak_qemu_f405.md
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import click
import numpy as np

from .. import blob, fixed, loss, mlp, optim, quant, train
from .. import protocol as P
from ..board import open_board
from ..device import Device, train_config
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


SOAK_ACT_SCALES = (1 / 16, 1 / 32, 0.05)   # input, hidden, logits of soak_model (nominal)


def soak_training(batch_size: int, rounding: int = optim.ERROR_FEEDBACK):
    """The soak model with its last layer made int16 Q12 for on-device training, its integer
    training scales, theta and optimizer configuration (train.plan). RHU rounding trains in
    swap mode (no copy of theta), error feedback with the copy: the two trainer paths."""
    model = train.make_trainable(soak_model(), 1, 2.0 ** -6, 12)
    p, theta = train.plan(model, list(SOAK_ACT_SCALES), 1, batch_size, x_max=128)
    return model, p, theta, train.optimizer_config(0.1, rounding=rounding)


@dataclass
class TrainReference:
    model: mlp.IntModel           # the trained model after every batch
    totals: tuple[int, int, int]  # samples, correct, loss as the device acknowledges them
    steps: int
    accepted: int
    idle: int


def reference_training(setup, x, y, batch_size: int) -> TrainReference:
    """train.Trainer on the same batches the device sees, and the totals its acknowledgements
    carry (per-batch loss saturated to int32, summed with int32 saturation)."""
    model, p, theta, cfg = setup
    ref = train.Trainer(blob.read_blob(blob.write_blob(model)), p, theta, optim.Optimizer(cfg, len(theta)))
    correct = total = accepted = idle = 0
    for i in range(0, len(x), batch_size):
        st = ref.step(x[i:i + batch_size], y[i:i + batch_size])
        total = min(max(total + min(st.loss, fixed.INT32_MAX), fixed.INT32_MIN), fixed.INT32_MAX)
        correct += st.correct
        accepted += st.accepted
        idle += st.changed > 0 and not st.accepted
    steps = (len(x) + batch_size - 1) // batch_size
    return TrainReference(ref.model, (len(x), correct, total), steps, accepted, idle)


@dataclass
class SoakResult:
    board: str
    mode: str
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
    rounding: str = ""           # train: the update rounding (rhu: swap mode)
    model_ok: bool = False       # eval: the model read back is the uploaded blob; train: the
                                 # trained parameters, then the committed model, equal the reference's
    steps: tuple[int, int, int] = (0, 0, 0)          # device steps, accepted, idle (train)
    steps_reference: tuple[int, int, int] = (0, 0, 0)

    @property
    def exact(self) -> bool:
        return (self.completed and self.device == self.reference and self.model_ok
                and self.steps == self.steps_reference
                and self.device_batches == self.batches and self.device_last_bseq == self.batches)


def same_trained_params(data: bytes, model: mlp.IntModel, first: int) -> bool:
    """The weights and int32 biases of layers first.. of a blob equal the model's."""
    got = blob.read_blob(data)
    return all(np.array_equal(g.weight, m.weight) and np.array_equal(g.bias, m.bias)
               for g, m in zip(got.layers[first:], model.layers[first:]))


def run_soak(board_spec: str | None = "native", batches: int = 1000, batch_size: int = 4,
             faults: Faults = Faults(corrupt=0.01, drop=0.001), seed: int = 0,
             timeout: float = 0.1, retries: int = 40, progress: bool = False,
             mode: str = "train", rounding: int = optim.ERROR_FEEDBACK) -> SoakResult:
    """Upload the soak model over a clean link, stream `batches` batches (TRAIN or EVAL)
    through the faulty proxy, then read the device's STATS and model over a clean link again
    and compare them with the reference on the same batches."""
    if mode not in ("train", "eval"):
        raise ValueError(f"mode {mode!r}: train or eval")
    setup = soak_training(batch_size, rounding) if mode == "train" else None
    model = setup[0] if setup else soak_model()
    data = blob.write_blob(model)
    rng = np.random.default_rng(seed)
    n = batches * batch_size
    x = rng.integers(-128, 128, (n, model.layers[0].n_in))
    y = rng.integers(0, model.layers[-1].n_out, n)
    if setup:
        ref = reference_training(setup, x, y, batch_size)
        reference, steps_reference = ref.totals, (ref.steps, ref.accepted, ref.idle)
        config = train_config(*setup)
    else:
        reference, steps_reference, config = (n, *reference_totals(model, x, y, batch_size)), (0, 0, 0), b""
    board = open_board(board_spec)
    result = SoakResult(board.name, mode, batches, batch_size, faults, reference=reference,
                        steps_reference=steps_reference,
                        rounding=optim.ROUNDING_NAMES[rounding] if setup else "")
    with board:
        with Device(board.port, board=board, timeout=max(timeout, 1.0)) as dev:
            dev.upload(data)
        start = time.monotonic()
        with FaultProxy(board.port, faults, seed=seed) as proxy:
            try:
                with Device(proxy.port, timeout=timeout, retries=retries) as dev:
                    r = dev.stream(P.STREAM_TRAIN if setup else P.STREAM_EVAL, x, y,
                                   batch_size=batch_size, config=config, progress=progress,
                                   desc=f"soak {mode} {board.name}")
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
            if setup:
                result.steps = (st.steps, st.accepted, st.idle)
                trained_ok = same_trained_params(dev.read_training(), ref.model, setup[1].first)
                if trained_ok and result.completed:
                    dev.train_commit()
                    result.model_ok = dev.read_model() == blob.write_blob(ref.model)
            else:
                result.model_ok = dev.read_model() == data
    return result


def _rate(count: int, total: int) -> str:
    return f"{count} ({count / total:.3%})" if total else "0"


def write_report(results: list[SoakResult], path: Path, command: str) -> None:
    lines = ["# Link-fault soak", "",
             "Written by `python -m fxlearn.bench.soak` (host/fxlearn/bench/soak.py). Batches go "
             "through `fxlearn.faultproxy` with seeded per-byte faults in both directions. A "
             "TRAIN soak runs one step of the device's trainer per batch: the trained "
             "parameters read back after the run must equal the Python reference "
             "(train.Trainer on the same batches) bit for bit, then the committed model must "
             "be byte-identical to the reference's blob; a lost or twice-applied batch would "
             "change every later step. Both modes also check the device's cumulative totals "
             "(samples, correct, loss Q12) against the reference and that the device applied "
             "batch sequences 1..N once each (STATS); an EVAL soak checks that the model read "
             "back is the uploaded blob.", "", f"Command: `{command}`", "",
             "| board | mode | batches x size | corrupt | drop | seconds | frames sent | resent | "
             "bad frames rx | bytes corrupted (to board / to host) | bytes dropped | "
             "device applied | steps / accepted / idle | totals equal | model equal | result |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        px = r.proxy
        steps = " / ".join(map(str, r.steps)) if r.mode == "train" else "—"
        lines.append(
            f"| {r.board} | {r.mode}{' (' + r.rounding + ')' if r.rounding else ''} | {r.batches} x {r.batch_size} | {r.faults.corrupt:g} "
            f"| {r.faults.drop:g} | {r.seconds:.1f} | {r.link.frames_tx} | {r.link.resent} "
            f"| {r.link.bad_frames} | {_rate(px.to_board.corrupted, px.to_board.bytes_in)} / "
            f"{_rate(px.to_client.corrupted, px.to_client.bytes_in)} "
            f"| {px.to_board.dropped} / {px.to_client.dropped} "
            f"| {r.device_batches} batches, last {r.device_last_bseq} | {steps} "
            f"| {'yes' if r.device == r.reference else 'NO'} | {'yes' if r.model_ok else 'NO'} "
            f"| {'exact' if r.exact else 'FAILED ' + r.error} |")
    lines += ["", "Device vs reference (samples, correct, loss; steps, accepted, idle):", ""]
    lines += [f"- {r.board} {r.mode}: device {r.device} {r.steps}, reference {r.reference} "
              f"{r.steps_reference}" for r in results]
    lines += ["", "Lost batches: a batch the device never applied ends the stream with an error "
              "naming the last acknowledged batch; double-applied batches would show as device "
              "totals above the reference and a batch count above N, and in a TRAIN soak as "
              "parameters that differ from the reference. All are 0 / equal in every row marked "
              "exact.", ""]
    path.write_text("\n".join(lines))


@click.command()
@click.option("--board", "boards", multiple=True, default=["native"],
              help="board spec(s) (fxlearn.board.open_board), e.g. native, qemu_f405")
@click.option("--mode", type=click.Choice(["train", "eval"]), default="train", show_default=True,
              help="TRAIN stream (parameters compared) or EVAL stream (totals compared)")
@click.option("--rounding", "roundings", type=click.Choice(list(optim.ROUNDING_NAMES.values())), multiple=True,
              default=["error-feedback"], show_default=True,
              help="the trainer's update rounding(s) (rhu: swap mode, no copy of theta)")
@click.option("--batches", default=10000, show_default=True)
@click.option("--batch-size", default=4, show_default=True)
@click.option("--corrupt", default=0.01, show_default=True, help="per-byte corruption rate")
@click.option("--drop", default=0.001, show_default=True, help="per-byte loss rate")
@click.option("--seed", default=0, show_default=True)
@click.option("--timeout", default=0.1, show_default=True, help="client reply timeout, s")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="report (default results/soak.md)")
def main(boards, mode, roundings, batches, batch_size, corrupt, drop, seed, timeout, out):
    """Soak the link: BATCH frames through a faulty proxy, the device checked bit for bit."""
    faults = Faults(corrupt=corrupt, drop=drop)
    results = []
    code = {v: k for k, v in optim.ROUNDING_NAMES.items()}
    for spec, rounding in [(b, r) for b in boards for r in (roundings if mode == "train" else roundings[:1])]:
        r = run_soak(spec, batches, batch_size, faults, seed, timeout, progress=True, mode=mode,
                     rounding=code[rounding])
        click.echo(f"{spec}: {'exact' if r.exact else 'FAILED ' + r.error} in {r.seconds:.1f} s, "
                   f"device {r.device} {r.steps} reference {r.reference} {r.steps_reference}")
        results.append(r)
    out = out or source_root() / "results" / "soak.md"
    command = (f"python -m fxlearn.bench.soak {' '.join('--board ' + b for b in boards)} --mode {mode} "
               f"{' '.join('--rounding ' + r for r in roundings)} "
               f"--batches {batches} --batch-size {batch_size} --corrupt {corrupt} --drop {drop} "
               f"--seed {seed} --timeout {timeout}")
    write_report(results, out, command)
    click.echo(f"wrote {out}")
    if not all(r.exact for r in results):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
