"""``fxlearn mp``: fxlearn on MicroPython boards, over mpremote's serial transport.

    fxlearn mp build                                   # MicroPython + module, .mpy files (cached)
    fxlearn mp --port /dev/ttyACM0 install             # fxlearn.mpy for the board's arch + library
    fxlearn mp --port /dev/ttyACM0 train --epochs 3    # train on the board, fetch, validate
    fxlearn mp --port /dev/ttyACM0 train --model m.fxmb --first last   # fine-tune a user's model
    fxlearn mp --port /dev/ttyACM0 validate m.fxmb     # the bare-metal `fxlearn validate` report
    fxlearn mp replay run.json                         # redo a recorded training run on the host
    fxlearn mp --qemu train --limit 256                # the same on the emulated MPS2_AN385

See docs/micropython.md.
"""
from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import click

from . import mp as micropython
from .device_cli import data_options, dataset_split, read_blob_file


@click.group("mp")
@click.option("--port", "-p", help="serial port of the board (e.g. /dev/ttyACM0, or an emulator's pty)")
@click.option("--qemu", "qemu", flag_value="module", default=None,
              help="start MicroPython with fxlearn compiled in on qemu (MPS2_AN385) and use it")
@click.option("--qemu-stock", "qemu", flag_value="stock",
              help="start stock MicroPython on qemu (needs `install` of the .mpy first, in the same session)")
@click.option("--baud", default=115200, show_default=True)
@click.option("--ramfs/--no-ramfs", default=None,
              help="mount a RAM filesystem at / if the board has none (default: on with --qemu)")
@click.option("--reset/--no-reset", default=True, show_default=True,
              help="soft-reset the board before the command (--no-reset keeps e.g. a RAM filesystem)")
@click.pass_context
def mp(ctx, port, qemu, baud, ramfs, reset):
    """MicroPython boards: build, install, train on the board, fetch, validate, replay."""
    ctx.obj = dict(port=port, qemu=qemu, baud=baud, ramfs=ramfs, reset=reset)


@contextlib.contextmanager
def _board(ctx):
    o = ctx.obj
    if bool(o["port"]) == bool(o["qemu"]):
        raise click.UsageError("give either --port or --qemu/--qemu-stock")
    with contextlib.ExitStack() as stack:
        port = o["port"]
        if o["qemu"]:
            b = micropython.build("qemu" if o["qemu"] == "module" else "qemu-stock")
            port = stack.enter_context(micropython.QemuBoard(b.qemu if o["qemu"] == "module" else b.qemu_stock))
        ramfs = o["ramfs"] if o["ramfs"] is not None else bool(o["qemu"])
        board = stack.enter_context(micropython.Board(port, baudrate=o["baud"], soft_reset=o["reset"], ramfs=ramfs))
        yield board


def _fail(e: Exception):
    click.echo(f"error: {e}", err=True)
    sys.exit(2)


@mp.command("build")
@click.argument("targets", nargs=-1)
def build_cmd(targets):
    """Build MicroPython 1.25 with fxlearn (tools/mpy_build.sh; cached in build/micropython).
    TARGETS: unix unix-stock qemu qemu-stock mpy mpy-<arch> (default: all)."""
    try:
        b = micropython.build(*(targets or ("unix", "unix-stock", "qemu", "qemu-stock", "mpy")))
    except (micropython.MpError, ValueError) as e:
        _fail(e)
    click.echo(f"built in {b.root}")


def _install(board: micropython.Board, arch: str, target: str) -> str:
    if arch == "auto":
        arch = "builtin" if board.has_module() else board.arch()
        if arch is None:
            raise micropython.MpError("the board has no fxlearn module and cannot load native .mpy modules")
    if arch != "builtin":
        micropython.build(f"mpy-{arch}")
    from tqdm import tqdm

    bars = {}

    def progress(name, n, total):
        bar = bars.get(name) or bars.setdefault(name, tqdm(total=total, desc=name, unit="B", unit_scale=True,
                                                           leave=False))
        bar.update(n - bar.n)

    files = board.install(None if arch == "builtin" else arch, target, progress=progress)
    for bar in bars.values():
        bar.close()
    return f"installed {', '.join(files)} ({'module in firmware' if arch == 'builtin' else arch})"


@mp.command("install")
@click.option("--arch", default="auto", show_default=True,
              type=click.Choice(["auto", "builtin", *micropython.ARCHS]),
              help="fxlearn.mpy architecture; builtin: the firmware has the module, copy the library only")
@click.option("--target", default="/lib", show_default=True, help="folder on the board")
@click.pass_context
def install_cmd(ctx, arch, target):
    """Copy fxlearn.mpy (for the board's architecture) and the training library to the board."""
    try:
        with _board(ctx) as board:
            click.echo(_install(board, arch, target))
    except micropython.MpError as e:
        _fail(e)


@mp.command("fetch")
@click.argument("remote")
@click.argument("local", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def fetch_cmd(ctx, remote, local):
    """Copy a file (e.g. the trained model /fxdata/trained.fxb) from the board."""
    try:
        with _board(ctx) as board:
            data = board.read_file(remote)
    except micropython.MpError as e:
        _fail(e)
    local.write_bytes(data)
    click.echo(f"{remote} -> {local} ({len(data)} bytes)")


def _reference(prep, spec, check_c: bool):
    from tqdm import tqdm

    from . import native

    kernel = native.load() if check_c else None
    total = sum(len(e) for e in prep.schedule)
    with tqdm(total=total, desc="host reference", unit="step", leave=False) as bar:
        return micropython.reference_run(prep, spec, kernel=kernel, progress=lambda: bar.update(1))


def _first_layer(value: str) -> int:
    if value == "last":
        return -1
    try:
        return int(value)
    except ValueError:
        raise click.BadParameter(f"{value!r}: a layer index or 'last'") from None


def _validate_on_board(board, data: bytes, x, y, float_path, title: str):
    """The bare-metal validate report (fxlearn.validate), with the MicroPython board's module
    computing the logits and the evaluation."""
    from tqdm import tqdm

    from . import blob
    from .validate import compare, float_model_logits

    model = blob.read_blob(data)
    with tqdm(total=len(y), desc="evaluating on the board", unit="sample", leave=False) as bar:
        run = micropython.evaluate_on_board(board, data, model.quantize_input(x), y, model.layers[-1].n_out,
                                            on_out=lambda n: bar.update(n // model.layers[-1].n_out))
    return compare(data, x, y, run, **float_model_logits(float_path, x), title=title)


@mp.command("train")
@click.option("--model", "model_path", type=click.Path(exists=True, dir_okay=False),
              help="train this blob (its trained layers int16; default: a new MLP of --hidden, --seed)")
@click.option("--data", "dataset", default="digits", show_default=True, help="builtin dataset name or .npz/.csv file")
@click.option("--hidden", default="32", show_default=True, help="hidden layer sizes of the new MLP, comma separated")
@click.option("--first", default="0", show_default=True,
              help="first trained layer: an index (0: all layers) or 'last' (fine-tune the last layer)")
@click.option("--epochs", default=1, show_default=True)
@click.option("--batch", default=16, show_default=True)
@click.option("--lr", default=0.5, show_default=True)
@click.option("--seed", default=0, show_default=True, help="initial weights and batch order")
@click.option("--limit", default=0, show_default=True, help="use only the first N training samples (0: all)")
@click.option("--rounding", type=click.Choice(["rhu", "stochastic", "error-feedback"]), default="rhu",
              show_default=True, help="the quantized optimizer's update rounding")
@click.option("--ortho", type=click.IntRange(0, 2), default=0, show_default=True,
              help="orthogonal compensation: 0 off, 1 the paper's +z, 2 +z then -z")
@click.option("--stream/--file", default=True, show_default=True,
              help="samples over the serial link per batch, or a dataset file written to the board first")
@click.option("--install", "install_arch", default="auto", show_default=True,
              type=click.Choice(["auto", "builtin", "none", *micropython.ARCHS]), help="install first (none: skip)")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("trained.fxb"),
              show_default=True, help="where the trained model (blob) goes")
@click.option("--run", "run_path", type=click.Path(dir_okay=False, path_type=Path), default=Path("run.json"),
              show_default=True, help="the run record (spec and every step's statistics), for `replay`")
@click.option("--validate/--no-validate", default=True, show_default=True,
              help="check the run step by step against the host, then the trained model on the test split")
@click.option("--test-limit", default=0, show_default=True, help="validate on the first N test samples (0: all)")
@click.option("--check-c/--no-check-c", default=True, show_default=True,
              help="run the C kernel (ctypes) alongside the Python reference when validating")
@click.pass_context
def train_cmd(ctx, model_path, dataset, hidden, first, epochs, batch, lr, seed, limit, rounding, ortho, stream,
              install_arch, out, run_path, validate, test_limit, check_c):
    """Train a model on the board (fxlearn_train.fit with the quantized optimizer), fetch it,
    check every step against the host reference and validate the trained model on the board
    (the report of the bare-metal `fxlearn validate`)."""
    from tqdm import tqdm

    rounding_mode = {"rhu": 0, "stochastic": 1, "error-feedback": 2}[rounding]
    spec = micropython.TrainSpec(tuple(int(h) for h in hidden.split(",") if h), seed, _first_layer(first), lr, batch,
                                 epochs, limit, stream, dataset, rounding=rounding_mode, ortho=ortho,
                                 model=str(Path(model_path).resolve()) if model_path else "")
    report = None
    try:
        prep = micropython.prepare(spec)
        total = sum(len(e) for e in prep.schedule)
        with _board(ctx) as board:
            if install_arch != "none":
                click.echo(_install(board, install_arch, "/lib"))
            with tqdm(total=total, desc="training on the board", unit="step") as bar:
                seen = {"loss": 0, "n": 0, "correct": 0}

                def on_step(st):
                    seen["loss"] += st[1]
                    seen["n"] += st[3]
                    seen["correct"] += st[4]
                    bar.set_postfix(epoch=st[0], loss=f"{seen['loss'] / 4096 / seen['n']:.3f}",
                                    acc=f"{seen['correct'] / seen['n']:.3f}")
                    bar.update(1)

                device = micropython.train_on_board(board, spec, prep, on_step=on_step)
            if validate:
                n_test = test_limit or len(prep.y_test)
                report = _validate_on_board(board, device.blob, prep.x_test[:n_test], prep.y_test[:n_test], None,
                                            f"trained model on {n_test} samples of {dataset} (test), "
                                            f"MicroPython board vs host")
    except (micropython.MpError, ValueError) as e:
        _fail(e)
    out.write_bytes(device.blob)
    run_path.write_text(json.dumps({"spec": spec.to_json(), "steps": device.steps, "trained": str(out)}, indent=1))
    click.echo(f"trained model -> {out} ({len(device.blob)} bytes), run record -> {run_path}")
    if validate:
        v = micropython.check_run(prep, device, _reference(prep, spec, check_c))
        click.echo(v.report())
        click.echo(report.text())
        sys.exit(0 if v.ok and report.ok else 1)


@mp.command("validate")
@click.argument("model_path", type=click.Path(exists=True, dir_okay=False))
@data_options
@click.option("--float", "float_path", type=click.Path(exists=True, dir_okay=False),
              help="float MLP (.npz from nn.MLP.save) to compare with (default: the integer model's weights in float)")
@click.option("--install", "install_arch", default="auto", show_default=True,
              type=click.Choice(["auto", "builtin", "none", *micropython.ARCHS]), help="install first (none: skip)")
@click.pass_context
def validate_cmd(ctx, model_path, data_name, split, limit, float_path, install_arch):
    """Run the same data through the MicroPython board's fxlearn module, the bit-exact integer
    reference and the float reference: the report of the bare-metal `fxlearn validate`.
    Exit 1 on any mismatch."""
    data, _ = read_blob_file(model_path)
    x, y = dataset_split(data_name, split)
    x, y = x[:limit], y[:limit]
    try:
        with _board(ctx) as board:
            if install_arch != "none":
                click.echo(_install(board, install_arch, "/lib"))
            report = _validate_on_board(board, data, x, y, float_path,
                                        f"{len(y)} samples of {data_name} ({split}), model {model_path}")
    except (micropython.MpError, ValueError) as e:
        _fail(e)
    click.echo(report.text())
    sys.exit(0 if report.ok else 1)


@mp.command("replay")
@click.argument("run_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--trained", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="the trained model (default: the run record's)")
@click.option("--check-c/--no-check-c", default=True, show_default=True)
def replay_cmd(run_path, trained, check_c):
    """Redo a recorded board run on the host and compare every step and the trained model."""
    record = json.loads(run_path.read_text())
    spec = micropython.TrainSpec.from_json(record["spec"])
    trained = trained or Path(record["trained"])
    prep = micropython.prepare(spec)
    device = micropython.RunResult([tuple(s) for s in record["steps"]], trained.read_bytes())
    v = micropython.check_run(prep, device, _reference(prep, spec, check_c))
    click.echo(v.report())
    sys.exit(0 if v.ok else 1)
