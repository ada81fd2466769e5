"""Commands that talk to a board: ``fxlearn info``, ``upload``, ``infer``, ``train``,
``validate`` and ``board``. Every one takes --port; without it the virtual board is started
for the command and stopped afterwards.

    fxlearn board start native            # prints the port, runs until Ctrl-C
    fxlearn upload model.fxmb --port /dev/pts/5
    fxlearn validate model.fxmb --data digits --float float_mlp.npz
"""
from __future__ import annotations

import contextlib
import signal
import sys
import threading

import click
import numpy as np

from . import blob as blob_mod
from . import data as data_mod
from . import protocol as P
from .board import BOARDS, BoardError, _load_plugins, open_board
from .device import DEFAULT_BATCH_SIZE, Device


def port_options(f):
    f = click.option("--timeout", default=1.0, show_default=True, help="reply timeout, seconds")(f)
    f = click.option("--baud", default=115200, show_default=True, help="serial baud rate")(f)
    f = click.option("--port", default=None,
                     help="serial port or pyserial URL (default: start the virtual board)")(f)
    return f


@contextlib.contextmanager
def connect(port, baud, timeout):
    """A connected Device; link and device errors become one-line click errors."""
    try:
        with Device(port, baudrate=baud, timeout=timeout) as dev:
            yield dev
    except (P.FxLinkError, BoardError) as e:
        raise click.ClickException(str(e)) from e


def read_blob_file(path) -> tuple[bytes, object]:
    data = open(path, "rb").read()
    try:
        return data, blob_mod.read_blob(data)
    except ValueError as e:
        raise click.ClickException(f"{path}: not a valid model blob: {e}") from e


def dataset_split(name: str, split: str):
    try:
        ds = data_mod.load(name)
    except (ValueError, FileNotFoundError) as e:
        raise click.ClickException(str(e)) from e
    return (ds.x_train, ds.y_train) if split == "train" else (ds.x_test, ds.y_test)


def data_options(f=None, split="test"):
    def wrap(f):
        f = click.option("--limit", type=int, default=None, help="use only the first N samples")(f)
        f = click.option("--split", type=click.Choice(["test", "train"]), default=split,
                         show_default=True)(f)
        f = click.option("--data", "data_name", default="digits", show_default=True,
                         help="builtin dataset name or .npz/.csv file")(f)
        return f
    return wrap(f) if f is not None else wrap


def model_on_board(dev: Device, model_path):
    """(IntModel, blob) of the model the board will run: the file (uploaded) or the board's."""
    if model_path:
        data, model = read_blob_file(model_path)
        dev.upload(data, progress=True)
        return model, data
    data = dev.read_model()
    return blob_mod.read_blob(data), data


# ------------------------------------------------------------------ info, upload

@click.command("info")
@port_options
def info(port, baud, timeout):
    """Board, firmware and protocol versions, buffer sizes and statistics."""
    with connect(port, baud, timeout) as dev:
        i, s = dev.info, dev.stats()
    features = [name for bit, name in ((P.FEATURE_INFER, "infer"), (P.FEATURE_EVAL, "eval"),
                                       (P.FEATURE_TRAIN, "train"),
                                       (P.FEATURE_KEEPS_MODEL, "model survives reset"))
                if i.has(bit)]
    click.echo(f"board        {i.board} (boot {i.boot_count}, up {s.uptime_ms / 1000:.1f} s)")
    click.echo(f"firmware     {'.'.join(map(str, i.firmware))}, protocol {i.proto[0]}.{i.proto[1]}, "
               f"kernel {i.kernel[0]}.{i.kernel[1]}")
    click.echo(f"features     {', '.join(features) or 'none'}; counter: {i.counter_name}")
    click.echo(f"buffers      request {i.rx_max} B, reply {i.tx_max} B, window {i.window}, "
               f"model slot {i.model_max} B, work {i.work_max} B, {i.max_layers} layers max")
    click.echo(f"memory       {s.ram_static} B static RAM ({s.model_slots} B model slots)")
    if s.model_present:
        click.echo(f"model        {s.model_len} B, CRC 0x{s.model_crc:08x}, "
                   f"{s.model_inputs} -> {s.model_outputs}")
    else:
        click.echo("model        none")
    click.echo(f"link         {s.frames_ok} frames, {s.crc_errors} CRC errors, {s.seq_gaps} gaps, "
               f"{s.duplicates} duplicates, {s.timeouts} timeouts")


@click.command("upload")
@click.argument("model_path", type=click.Path(exists=True, dir_okay=False))
@port_options
def upload(model_path, port, baud, timeout):
    """Load a model blob (.fxmb) onto the board; committed only if every check passes."""
    data, _ = read_blob_file(model_path)
    with connect(port, baud, timeout) as dev:
        m = dev.upload(data, progress=True)
    click.echo(f"committed {m.length} B, CRC 0x{m.crc:08x}: {m.layers} layers, "
               f"{m.inputs} -> {m.outputs}, {m.work} B workspace")


# ------------------------------------------------------------------ infer, train

@click.command("infer")
@click.option("--model", "model_path", type=click.Path(exists=True, dir_okay=False),
              help="upload this blob first (default: the board's model)")
@data_options
@click.option("--show", default=10, show_default=True, help="print this many predictions")
@port_options
def infer(model_path, data_name, split, limit, show, port, baud, timeout):
    """Classify a dataset on the board and report the accuracy."""
    x, y = dataset_split(data_name, split)
    with connect(port, baud, timeout) as dev:
        model, _ = model_on_board(dev, model_path)
        x_int = model.quantize_input(x[:limit])
        r = dev.infer(x_int, progress=True)
    y = y[:limit]
    for k in range(min(show, len(y))):
        click.echo(f"sample {k}: predicted {r.classes[k]}, label {y[k]}")
    click.echo(f"accuracy {np.mean(r.classes == y):.4f} on {len(y)} samples "
               f"({r.counter} counter units of compute)")


def train_setup(model, layers: str, batch: int, lr: float, rounding: str, ortho: int):
    """(TrainParams, theta, OptimConfig) for training the board's model. Trained layers must
    be int16 weights (Q12); the activation scales come from the model (train.act_scales_of)."""
    from . import optim, train
    q = 12
    first = len(model.layers) - 1 if layers == "last" else 0
    try:
        train.check_trainable(model, first)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    p, theta = train.plan(model, train.act_scales_of(model, q), first, batch, q=q)
    by_name = {v: k for k, v in optim.ROUNDING_NAMES.items()}
    cfg = train.optimizer_config(lr, q=q, rounding=by_name[rounding], ortho=ortho)
    return p, theta, cfg


@click.command("train")
@click.option("--model", "model_path", type=click.Path(exists=True, dir_okay=False),
              help="upload this blob first (default: the board's model)")
@data_options(split="train")
@click.option("--epochs", default=1, show_default=True)
@click.option("--batch-size", default=DEFAULT_BATCH_SIZE, show_default=True)
@click.option("--layers", type=click.Choice(["last", "all"]), default="last", show_default=True,
              help="train the last layer (fine-tuning) or every layer")
@click.option("--lr", default=0.1, show_default=True, help="largest learning rate (z_max / 2^q)")
@click.option("--rounding", type=click.Choice(["rhu", "stochastic", "error-feedback"]), default="rhu",
              show_default=True)
@click.option("--ortho", type=click.IntRange(0, 2), default=0, show_default=True,
              help="orthogonal compensation: 0 off, 1 +z, 2 +z then -z")
@click.option("--commit/--no-commit", default=True, show_default=True,
              help="make the trained model the board's model")
@click.option("--out", type=click.Path(dir_okay=False), help="save the trained blob here")
@port_options
def train(model_path, data_name, split, limit, epochs, batch_size, layers, lr, rounding, ortho,
          commit, out, port, baud, timeout):
    """Train the board's model on the board, streaming mini-batches (the host computes the
    integer scales and sends them in STREAM_BEGIN)."""
    from .device import train_config
    x, y = dataset_split(data_name, split)
    with connect(port, baud, timeout) as dev:
        click.echo(f"board: {dev.info.board}")
        if not dev.info.has(P.FEATURE_TRAIN):
            raise click.ClickException(f"{dev.info.board}: this firmware cannot train "
                                       f"(no trainer: the device answers UNSUPPORTED)")
        model, _ = model_on_board(dev, model_path)
        p, theta, cfg = train_setup(model, layers, batch_size, lr, rounding, ortho)
        config = train_config(model, p, theta, cfg)
        try:
            res = dev.train(model.quantize_input(x[:limit]), y[:limit], config, epochs=epochs,
                            batch_size=batch_size, progress=True)
        except P.DeviceError as e:
            if e.name == "TOO_BIG":
                raise click.ClickException(f"{dev.info.board}: not enough RAM to train "
                                           f"{layers} layer(s) of this model (trainer arena "
                                           f"{e.info} bytes)") from e
            raise
        click.echo(f"{res.batches} batches, {res.samples} samples, training accuracy "
                   f"{res.accuracy:.4f}; link efficiency {res.efficiency:.3f}")
        s = dev.stats()
        click.echo(f"steps {s.steps}: {s.accepted} accepted, {s.idle} idle, "
                   f"{s.compensations} compensated; last loss {s.train_loss / 4096:.4f}")
        trained = dev.read_model(P.MODEL_TRAINING, progress=True) if out else None
        if commit:
            m = dev.train_commit()
            click.echo(f"committed the trained model: {m.length} B, CRC 0x{m.crc:08x}")
    if out:
        with open(out, "wb") as f:
            f.write(trained)
        click.echo(f"wrote {out}")


# ------------------------------------------------------------------ validate

@click.command("validate")
@click.argument("model_path", type=click.Path(exists=True, dir_okay=False))
@data_options
@click.option("--float", "float_path", type=click.Path(exists=True, dir_okay=False),
              help="float MLP (.npz from nn.MLP.save) to compare with (default: the integer "
                   "model's weights computed in float)")
@port_options
def validate(model_path, data_name, split, limit, float_path, port, baud, timeout):
    """Run the same data through the board, the bit-exact integer reference and the float
    reference; report bit-exact agreement and the accuracy/loss gap. Exit 1 on any mismatch."""
    from .validate import BoardRun, compare, float_model_logits
    data, model = read_blob_file(model_path)
    x, y = dataset_split(data_name, split)
    x, y = x[:limit], y[:limit]
    x_int = model.quantize_input(x)
    with connect(port, baud, timeout) as dev:
        dev.upload(data, progress=True)
        board = dev.infer(x_int, outputs=True, progress=True)
        stream = dev.evaluate(x_int, y, progress=True)
    report = compare(data, x, y, BoardRun(board.outputs, stream.correct, stream.loss),
                     **float_model_logits(float_path, x),
                     title=f"{len(y)} samples of {data_name} ({split}), model {model_path}")
    click.echo(report.text())
    if not report.ok:
        sys.exit(1)


# ------------------------------------------------------------------ board

@click.group("board")
def board():
    """Start and list boards the client can run itself."""


@board.command("list")
def board_list():
    _load_plugins()
    for name in sorted(BOARDS):
        click.echo(name)


@board.command("start")
@click.argument("name", default="native")
@click.option("--baud", type=int, default=None, help="virtual board: pace the link like a UART")
def board_start(name, baud):
    """Start a board, print its port on the first line, run until Ctrl-C or SIGTERM."""
    spec = name + (f":baud={baud}" if baud else "")
    stop = threading.Event()
    # Installed first: a signal while the board builds or starts still stops it cleanly.
    signal.signal(signal.SIGTERM, lambda sig, frame: stop.set())
    signal.signal(signal.SIGINT, lambda sig, frame: stop.set())
    try:
        b = open_board(spec).start()
    except BoardError as e:
        raise click.ClickException(str(e)) from e
    try:
        click.echo(b.port)
        sys.stdout.flush()
        while not stop.is_set() and b.running:
            stop.wait(0.1)
    finally:
        b.stop()
