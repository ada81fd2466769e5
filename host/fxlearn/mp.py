"""fxlearn on MicroPython boards, from the host: builds, the emulator, and a board session on
mpremote's transport (``mpremote.transport_serial.SerialTransport``, the same code path as the
``mpremote`` command).

    with Board(port) as board:                 # raw REPL over the serial port / pty
        board.install(arch="armv7m")           # fxlearn.mpy + the training library -> /lib
        print(board.exec("import fxlearn; print(fxlearn.sat16(40000))"))

    with QemuBoard() as port:                  # MicroPython with fxlearn compiled in, on qemu
        with Board(port, ramfs=True) as board:
            ...

The C module's source and its MicroPython build are described in docs/micropython.md.
"""
from __future__ import annotations

import binascii
import ctypes
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .paths import source_root

MPREMOTE_VERSION = "1.25.0"   # the pinned transport (pyproject.toml)
ARCHS = ("x64", "armv6m", "armv7m", "armv7emsp", "xtensawin")
BUILD_TARGETS = ("unix", "unix-stock", "qemu", "qemu-stock", "mpy")
LIBRARY = ("fxlearn_train.py",)   # the pure-MicroPython training library
# sys.implementation._mpy architecture field -> the .mpy we build that it loads (every Thumb-2
# core without FPU reports armv7em and loads armv6m..armv7em code; one with FPU loads armv7emsp)
MPY_ARCH = {2: "x64", 4: "armv6m", 5: "armv7m", 6: "armv7m", 7: "armv7emsp", 8: "armv7emsp",
            10: "xtensawin"}


class MpError(RuntimeError):
    """A build, the emulator, or code on the board failed."""


# ---- builds ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Builds:
    """Where tools/mpy_build.sh puts things (build/micropython/)."""
    root: Path

    @property
    def unix(self) -> Path:              # unix port with the module compiled in
        return self.root / "unix" / "fxlearn-micropython"

    @property
    def unix_stock(self) -> Path:        # unix port without it (loads fxlearn.mpy)
        return self.root / "unix-stock" / "micropython"

    @property
    def qemu(self) -> Path:              # MPS2_AN385 firmware with the module
        return self.root / "qemu" / "firmware.elf"

    @property
    def qemu_stock(self) -> Path:
        return self.root / "qemu-stock" / "firmware.elf"

    def dist(self, arch: str) -> Path:   # fxlearn.mpy + library + package.json for one arch
        return self.root / "dist" / arch


def builds() -> Builds:
    return Builds(source_root() / "build" / "micropython")


def build(*targets: str) -> Builds:
    """Run tools/mpy_build.sh for the targets (cached: fast when nothing changed)."""
    for t in targets:
        if t not in BUILD_TARGETS and not (t.startswith("mpy-") and t[4:] in ARCHS):
            raise ValueError(f"unknown MicroPython build target {t!r}; choose from {BUILD_TARGETS}")
    script = source_root() / "tools" / "mpy_build.sh"
    result = subprocess.run(["bash", str(script), *targets], capture_output=True, text=True)
    if result.returncode != 0:
        raise MpError(f"tools/mpy_build.sh {' '.join(targets)} failed:\n{result.stderr[-4000:]}")
    return builds()


def library_files() -> list[Path]:
    mod_dir = source_root() / "firmware" / "micropython"
    return [mod_dir / name for name in LIBRARY if (mod_dir / name).is_file()]


# ---- the emulator -----------------------------------------------------------------------------------

def _die_with_parent() -> None:
    """In the child before exec: SIGKILL qemu when the process that started it dies (Linux)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class QemuBoard:
    """MicroPython's qemu port (MPS2_AN385, Cortex-M3) with its UART on a pty.

    A context manager yielding the pty path; the emulator is stopped on exit (an idle guest
    busy-polls its UART and would eat a host core)."""

    def __init__(self, firmware: Path | str | None = None, machine: str = "mps2-an385"):
        self.firmware = Path(firmware) if firmware else builds().qemu
        self.machine = machine
        self.port: str | None = None
        self._proc: subprocess.Popen | None = None

    def start(self, timeout: float = 10.0) -> str:
        exe = shutil.which("qemu-system-arm")
        if exe is None:
            raise MpError("qemu-system-arm not found: apt install qemu-system-arm (tools/setup.sh)")
        if not self.firmware.is_file():
            raise MpError(f"firmware not found: {self.firmware} (tools/mpy_build.sh qemu)")
        self._proc = subprocess.Popen(
            [exe, "-machine", self.machine, "-nographic", "-monitor", "null", "-semihosting",
             "-serial", "pty", "-kernel", str(self.firmware)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent)
        deadline = time.monotonic() + timeout
        seen = b""
        while time.monotonic() < deadline:
            line = self._proc.stdout.readline()
            seen += line
            m = re.search(rb"(/dev/pts/\d+)", line)
            if m:
                self.port = m.group(1).decode()
                return self.port
            if not line and self._proc.poll() is not None:
                break
        self.stop()
        raise MpError(f"qemu did not report its serial pty:\n{seen.decode(errors='replace')}")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# ---- a board session ----------------------------------------------------------------------------------

class Board:
    """A MicroPython board on a serial port (or an emulator's pty), in raw REPL.

    soft_reset: start from a fresh interpreter (mpremote's default); False keeps the board's
    state, e.g. a RAM filesystem mounted by an earlier session. ramfs: mount
    firmware/micropython/ramfs.py at "/" unless a filesystem is there already (boards without
    one, like the qemu port)."""

    def __init__(self, port: str, baudrate: int = 115200, soft_reset: bool = True, ramfs: bool = False):
        self.port, self.baudrate, self.soft_reset, self.ramfs = port, baudrate, soft_reset, ramfs
        self.transport = None

    def open(self) -> "Board":
        from mpremote.transport import TransportError
        from mpremote.transport_serial import SerialTransport

        try:
            self.transport = SerialTransport(self.port, baudrate=self.baudrate)
            self.transport.enter_raw_repl(soft_reset=self.soft_reset)
        except TransportError as e:
            self.close()
            raise MpError(f"no MicroPython raw REPL on {self.port}: {e}") from None
        if self.ramfs:
            self.mount_ramfs()
        return self

    def close(self) -> None:
        if self.transport is not None:
            try:
                self.transport.exit_raw_repl()
            except OSError:
                pass
            self.transport.close()
            self.transport = None

    def __enter__(self) -> "Board":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    # -- running code ---------------------------------------------------------------------------
    def exec(self, code: str | bytes, timeout: float | None = 30,
             on_output: Callable[[bytes], None] | None = None) -> str:
        """Run code; returns what it printed. MpError with the board's traceback on an exception.
        timeout: seconds without output before giving up (None: wait forever); on_output gets
        the output as it arrives (then it is not returned)."""
        from mpremote.transport import TransportError

        try:
            self.transport.exec_raw_no_follow(code)
            out, err = self.transport.follow(timeout, on_output)
        except TransportError as e:
            raise MpError(f"board did not complete the command: {e}") from None
        if err:
            raise MpError(f"error on the board:\n{err.decode(errors='replace')}")
        return out.decode(errors="replace").replace("\r\n", "\n")

    def eval(self, expression: str):
        import ast

        return ast.literal_eval(self.exec(f"print(repr({expression}))").strip())

    # -- files ------------------------------------------------------------------------------------
    def write_file(self, remote: str, data: bytes, chunk: int = 4096,
                   progress: Callable[[int], None] | None = None) -> None:
        """Write bytes to a file on the board (base64 chunks: no control bytes on the wire)."""
        self.exec(f"import binascii\n_f=open({remote!r},'wb')")
        try:
            for i in range(0, len(data), chunk):
                piece = binascii.b2a_base64(data[i:i + chunk], newline=False).decode()
                self.exec(f"_f.write(binascii.a2b_base64({piece!r}))")
                if progress:
                    progress(min(len(data), i + chunk))
        finally:
            self.exec("_f.close()\ndel _f")

    def read_file(self, remote: str, chunk: int = 2048) -> bytes:
        out = bytearray()
        self.exec(f"import binascii\n_f=open({remote!r},'rb')")
        try:
            while True:
                line = self.exec(f"print(binascii.b2a_base64(_f.read({chunk})).decode(),end='')").strip()
                if not line:
                    break
                out += binascii.a2b_base64(line)
        finally:
            self.exec("_f.close()\ndel _f")
        return bytes(out)

    def makedirs(self, path: str) -> None:
        self.exec("import os\np=''\nfor d in %r.strip('/').split('/'):\n p+='/'+d\n"
                  " try:\n  os.mkdir(p)\n except OSError:\n  pass" % path)

    def mount_ramfs(self) -> bool:
        """Mount the RAM filesystem at "/" unless a filesystem is there; True if it mounted."""
        if self.eval("any(m[1] == '/' for m in __import__('vfs').mount())"):
            return False
        source = (source_root() / "firmware" / "micropython" / "ramfs.py").read_text()
        self.exec(source + "\nmount()\n")
        return True

    # -- fxlearn ------------------------------------------------------------------------------------
    def has_module(self) -> bool:
        """True if `import fxlearn` works (compiled in, or installed)."""
        return self.exec("try:\n import fxlearn\n print(1)\nexcept ImportError:\n print(0)").strip() == "1"

    def arch(self) -> str | None:
        """The fxlearn.mpy architecture this board loads (from sys.implementation._mpy), None if
        it cannot load native modules."""
        mpy = self.eval("getattr(__import__('sys').implementation, '_mpy', 0)")
        return MPY_ARCH.get((mpy >> 10) & 0x0F)

    def install(self, arch: str | None = None, target: str = "/lib",
                progress: Callable[[str, int, int], None] | None = None) -> list[str]:
        """Copy the training library, and fxlearn.mpy for `arch` (None: the firmware has the
        module compiled in, copy only the library), to `target`. Returns the remote paths."""
        files = library_files()
        if arch is not None:
            mpy = builds().dist(arch) / "fxlearn.mpy"
            if not mpy.is_file():
                raise MpError(f"{mpy} not built (tools/mpy_build.sh mpy-{arch})")
            files = [mpy, *files]
        self.makedirs(target)
        written = []
        for f in files:
            data = f.read_bytes()
            remote = f"{target.rstrip('/')}/{f.name}"
            self.write_file(remote, data, progress=(lambda n, name=f.name, total=len(data):
                                                    progress(name, n, total)) if progress else None)
            written.append(remote)
        self.exec("import sys\nif %r not in sys.path: sys.path.append(%r)" % (target, target))
        return written


# ---- on-device training: the run, the data on the wire, the host reference ------------------------------

DATASET_MAGIC = b"FXDS"        # fxlearn_train.py's dataset file / stream header


def dataset_header(n_in: int, n: int, classes: int) -> bytes:
    """The 16-byte FXDS version-1 header of a labelled dataset (fxlearn_train.py)."""
    import struct

    return DATASET_MAGIC + struct.pack("<HHIHH", 1, n_in, n, classes, 0)


def dataset_bytes(x, labels, classes: int) -> bytes:
    """An FXDS file: header, x int16 [n][n_in], labels uint16 [n] (little-endian)."""
    import numpy as np

    x = np.asarray(x)
    return (dataset_header(x.shape[1], len(x), classes) + np.ascontiguousarray(x, dtype="<i2").tobytes()
            + np.ascontiguousarray(labels, dtype="<u2").tobytes())


@dataclass
class TrainSpec:
    """Everything that decides an on-device training run, so that the host can redo it exactly.

    The model: `model`, a blob file (a user's model: its layers first.. must be int16, its
    activation scales are read from its requantization scales, train.act_scales_of, as the
    bare-metal `fxlearn train` does), or by default an MLP (64, hidden..., 10) with He-normal
    weights of `seed` (nn.MLP.init) in the fixed-point design of docs/training.md
    (train.from_float). Layers first.. (negative: from the end, -1 the last) are trained by
    the quantized optimizer (`lr`, `batch`, train.plan). The data: `dataset` (data.load), the
    first `limit` training samples (0: all). Batch order: `stream` serves every epoch a new permutation (train.epochs,
    the order train.fit uses); a dataset file on the board is read in one fixed order (the
    permutation of epoch 0)."""
    hidden: tuple = (32,)
    seed: int = 0
    first: int = 0
    lr: float = 0.5
    batch: int = 16
    epochs: int = 1
    limit: int = 0
    stream: bool = True
    dataset: str = "digits"
    rounding: int = 0           # the optimizer's update rounding (optim.RHU / STOCHASTIC / ERROR_FEEDBACK)
    ortho: int = 0              # its compensation vector (0 off, 1 the paper's +z, 2 +z then -z)
    model: str = ""             # a blob file to train (default: the MLP above)

    def to_json(self) -> dict:
        from dataclasses import asdict

        d = asdict(self)
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_json(cls, d: dict) -> "TrainSpec":
        d = dict(d)
        d["hidden"] = tuple(d["hidden"])
        return cls(**d)


@dataclass
class Prepared:
    """A TrainSpec made concrete on the host."""
    blob: bytes                 # the initial model
    scales: bytes               # int32 training scales, 9 per trained layer (train.LayerScales)
    theta: bytes                # int16 initial trained parameters
    params: object              # train.TrainParams
    optim: object               # optim.OptimConfig
    x: object                   # int16 training inputs [n, 64]
    labels: object              # [n]
    x_test: object              # float test inputs (the validate report quantizes them)
    y_test: object
    classes: int
    schedule: list              # per epoch: the sample indices of each batch, in order
    first: int                  # the first trained layer (spec.first, counted from the front)


def prepare(spec: TrainSpec) -> Prepared:
    import numpy as np

    from . import blob, data, nn, train

    ds = data.load(spec.dataset)
    if spec.model:
        model = blob.read_blob(Path(spec.model).read_bytes())
        q, dir_q, x_max = 12, 24, 32768
        act_scales = train.act_scales_of(model, q)
    else:
        design = train.FixedPointDesign()
        init = nn.MLP.init((ds.n_features, *spec.hidden, ds.n_classes), seed=spec.seed)
        model = train.from_float(init.weights, init.biases, design)
        q, dir_q, x_max = design.q, design.dir_q, 4096
        act_scales = design.act_scales(len(model.layers))
    first = spec.first + len(model.layers) if spec.first < 0 else spec.first
    train.check_trainable(model, first)
    if model.layers[0].n_in != ds.n_features or model.layers[-1].n_out != ds.n_classes:
        raise ValueError(f"the model maps {model.layers[0].n_in} inputs to {model.layers[-1].n_out} "
                         f"outputs; {spec.dataset} has {ds.n_features} features and {ds.n_classes} classes")
    cache = spec.batch if first else 0
    params, theta = train.plan(model, act_scales, first, spec.batch, q=q, dir_q=dir_q, x_max=x_max, cache=cache)
    cfg = train.optimizer_config(spec.lr, q=q, dir_q=dir_q, rounding=spec.rounding, ortho=spec.ortho)
    cfg.validate(len(theta))
    n = len(ds.x_train) if spec.limit <= 0 else min(spec.limit, len(ds.x_train))
    x = model.quantize_input(ds.x_train[:n])
    labels = ds.y_train[:n]
    schedule = [list(b) for b in train.epochs(n, spec.epochs, spec.batch, spec.seed)]
    if not spec.stream:
        # a file on the board holds the samples in epoch 0's order and is read front to back
        order = np.concatenate(schedule[0])
        x, labels = x[order], labels[order]
        schedule = [[np.arange(s, min(s + spec.batch, n)) for s in range(0, n, spec.batch)]] * spec.epochs
    scales = np.array([getattr(s, f) for s in params.layers for f in train.LayerScales.__dataclass_fields__],
                      dtype="<i4")
    return Prepared(blob.write_blob(model), scales.tobytes(), theta.astype("<i2").tobytes(), params, cfg, x, labels,
                    ds.x_test, ds.y_test, ds.n_classes, schedule, first)


STEP_FIELDS = ("loss", "loss_trial", "n", "correct", "changed", "accepted")


@dataclass
class RunResult:
    steps: list                 # per batch (epoch, loss, loss_trial, n, correct, changed, accepted)
    blob: bytes                 # the trained model, CRC sealed


def reference_run(prep: Prepared, spec: TrainSpec, kernel=None, progress=None) -> RunResult:
    """The run on the host: the Python integer reference (train.Trainer with optim.Optimizer) on
    the same batches; with `kernel` (native.load()) the C kernel's trainer runs alongside and
    must agree at every step."""
    import numpy as np

    from . import blob, optim, train

    model = blob.read_blob(prep.blob)
    theta = np.frombuffer(prep.theta, dtype="<i2").astype(np.int16)
    c_trainer = train.CTrainer(kernel, blob.read_blob(prep.blob), prep.params, theta, prep.optim) \
        if kernel is not None else None
    trainer = train.Trainer(model, prep.params, theta, optim.Optimizer(prep.optim, len(theta)))
    steps = []
    for epoch, batches in enumerate(prep.schedule):
        for idx in batches:
            st = trainer.step(prep.x[idx], prep.labels[idx])
            if c_trainer is not None and c_trainer.step(prep.x[idx], prep.labels[idx]) != st:
                raise MpError(f"C kernel differs from the Python reference at step {len(steps)}")
            steps.append((epoch, st.loss, st.loss_trial, st.n, st.correct, st.changed, int(st.accepted)))
            if progress:
                progress()
    if c_trainer is not None:
        for a, b in zip(c_trainer.model().layers, model.layers):
            if not (np.array_equal(a.weight, b.weight) and np.array_equal(a.bias, b.bias)):
                raise MpError("C kernel parameters differ from the Python reference after training")
    return RunResult(steps, blob.write_blob(model))


TRAIN_SCRIPT = """\
import fxlearn, fxlearn_train as ft
model = ft.load({model!r})
theta = ft.load_array({theta!r}, "h")
optimizer = fxlearn.Optimizer(len(theta), {optim})
trainer = fxlearn.Trainer(model, {first}, ft.load_array({scales!r}, "i"), theta, optimizer,
                          fxlearn.LOSS_SOFTMAX_XENT, {slope_shift}, {cache})
samples = {samples}
ft.fit(model, trainer, samples, {epochs}, {batch})
ft.save(model, {out!r})
print("@optimizer", *optimizer.stats())
print("@done")
"""


def optimizer_arguments(cfg) -> str:
    """fxlearn.Optimizer's keyword arguments (after n) for an optim.OptimConfig."""
    c = cfg.resolved()
    fields = ("q", "dir_q", "z_max", "rounding", "schedule", "policy", "c1_shift", "shrink_shift", "guess",
              "min_lsb", "pattern", "expand", "box", "ortho", "seed", "ray", "ray_far", "box_line")
    return ", ".join(f"{f}={getattr(c, f)!r}" for f in fields)


class _Server:
    """The host end of a script on the board that reads fxlearn_train.StreamSamples: answers
    its requests (@header, @batch) with the scheduled samples, and collects what it reports:
    @step lines (fit), @out / @outputs lines (outputs)."""

    def __init__(self, x, labels, classes: int, batches, write: Callable[[bytes], None],
                 on_step: Callable[[tuple], None] | None = None, on_out: Callable[[int], None] | None = None):
        self.x, self.labels, self.classes = x, labels, classes
        self.write, self.on_step, self.on_out = write, on_step, on_out
        self.batches = iter(batches)
        self.steps, self.outputs, self.totals, self.other, self._pending = [], [], None, [], b""

    def _answer(self, data: bytes) -> None:
        self.write(binascii.b2a_base64(data, newline=False) + b"\n")

    def _line(self, line: str) -> None:
        import numpy as np

        words = line.split()
        if not words:
            return
        if words[0] == "@header":
            self._answer(dataset_header(self.x.shape[1], len(self.x), self.classes))
        elif words[0] == "@batch":
            idx = next(self.batches, None)
            if idx is None or int(words[2]) != len(idx):
                raise MpError(f"the board asks for {words[2]} samples at {words[1]}: not the next scheduled batch")
            self._answer(np.ascontiguousarray(self.x[idx], dtype="<i2").tobytes()
                         + np.ascontiguousarray(self.labels[idx], dtype="<u2").tobytes())
        elif words[0] == "@step":
            st = tuple(int(w) for w in words[1:2] + words[3:])   # epoch, then the stats (not the start)
            self.steps.append(st)
            if self.on_step:
                self.on_step(st)
        elif words[0] == "@out":
            out = np.frombuffer(binascii.a2b_base64(words[2]), dtype="<i2")
            self.outputs.append(out)
            if self.on_out:
                self.on_out(len(out))
        elif words[0] == "@outputs":
            self.totals = tuple(int(w) for w in words[1:4])
        elif words[0] not in ("@epoch", "@optimizer", "@done"):
            self.other.append(line)

    def feed(self, data: bytes) -> None:
        self._pending += data
        while b"\n" in self._pending:
            line, _, self._pending = self._pending.partition(b"\n")
            self._line(line.decode(errors="replace").strip())

    def close(self) -> None:
        self.feed(b"\n")

    def failure(self, err: str) -> MpError:
        return MpError("the script failed on the board:\n" + err + "\n".join(self.other[-20:]))


def _training_server(prep: Prepared, write, on_step=None) -> _Server:
    return _Server(prep.x, prep.labels, prep.classes, [idx for epoch in prep.schedule for idx in epoch],
                   write, on_step)


def _exec_serving(board: "Board", code: str, server: _Server, timeout: float) -> None:
    """Run `code` on the board's raw REPL while the server answers its sample requests."""
    from mpremote.transport import TransportError

    serial = board.transport.serial
    try:
        board.transport.exec_raw_no_follow(code)
    except TransportError as e:
        raise MpError(f"board did not accept the script: {e}") from None
    # raw REPL: output, \x04, error output, \x04, then the ">" prompt the next command waits for:
    # read byte by byte so as not to swallow the prompt
    deadline = time.monotonic() + timeout
    out, err, eots = bytearray(), bytearray(), 0
    while eots < 2:
        if not serial.in_waiting:
            if time.monotonic() > deadline:
                raise MpError(f"no output from the board for {timeout} s")
            time.sleep(0.001)
            continue
        deadline = time.monotonic() + timeout
        byte = serial.read(1)
        if byte == b"\x04":
            eots += 1
        elif eots == 0:
            out += byte
            if byte == b"\n":
                server.feed(bytes(out))
                out.clear()
        else:
            err += byte
    server.feed(bytes(out))
    server.close()
    if err.strip():
        raise server.failure(err.decode(errors="replace"))


def _train_code(prep: Prepared, spec: TrainSpec, workdir: str) -> str:
    return TRAIN_SCRIPT.format(
        model=f"{workdir}/model.fxb", scales=f"{workdir}/scales.bin", theta=f"{workdir}/theta.bin",
        optim=optimizer_arguments(prep.optim), first=prep.first, slope_shift=prep.params.slope_shift,
        cache=prep.params.cache, epochs=spec.epochs, batch=spec.batch, out=f"{workdir}/trained.fxb",
        samples="ft.StreamSamples()" if spec.stream else f"ft.FileSamples({workdir + '/train.fxd'!r})")


def _training_files(prep: Prepared, spec: TrainSpec) -> dict:
    files = {"model.fxb": prep.blob, "scales.bin": prep.scales, "theta.bin": prep.theta}
    if not spec.stream:
        files["train.fxd"] = dataset_bytes(prep.x, prep.labels, prep.classes)
    return files


def train_on_board(board: "Board", spec: TrainSpec, prep: Prepared | None = None, workdir: str = "/fxdata",
                   on_step: Callable[[tuple], None] | None = None, timeout: float = 120) -> RunResult:
    """Upload the model and scales (and the dataset file unless streaming), train on the board
    with fxlearn_train.fit (serving the samples when streaming), fetch the trained blob."""
    prep = prep or prepare(spec)
    board.makedirs(workdir)
    for name, data in _training_files(prep, spec).items():
        board.write_file(f"{workdir}/{name}", data)
    server = _training_server(prep, board.transport.serial.write, on_step)
    _exec_serving(board, _train_code(prep, spec, workdir), server, timeout)
    return RunResult(server.steps, board.read_file(f"{workdir}/trained.fxb"))


OUTPUTS_SCRIPT = """\
import fxlearn_train as ft
ft.outputs(ft.load({model!r}), ft.StreamSamples(), {batch})
"""


def evaluate_on_board(board: "Board", data: bytes, x_int, labels, classes: int, batch: int = 16,
                      workdir: str = "/fxdata", on_out: Callable[[int], None] | None = None,
                      timeout: float = 120):
    """The model (blob `data`) on the board over the samples, streamed from the host: its
    logits and its own evaluation (fxlearn_train.outputs), as a validate.BoardRun."""
    import numpy as np

    from .validate import BoardRun

    board.makedirs(workdir)
    board.write_file(f"{workdir}/validate.fxb", data)
    n = len(x_int)
    server = _Server(np.asarray(x_int), np.asarray(labels), classes,
                     [np.arange(s, min(s + batch, n)) for s in range(0, n, batch)],
                     board.transport.serial.write, on_out=on_out)
    _exec_serving(board, OUTPUTS_SCRIPT.format(model=f"{workdir}/validate.fxb", batch=batch), server, timeout)
    if server.totals is None or server.totals[2] != n:
        raise MpError(f"the board evaluated {server.totals and server.totals[2]} of {n} samples")
    logits = np.concatenate(server.outputs).reshape(n, -1) if server.outputs else np.zeros((0, 0))
    return BoardRun(logits.astype(np.int64), server.totals[0], server.totals[1])


def train_on_unix(binary: Path, spec: TrainSpec, prep: Prepared | None = None, micropypath: str | None = None,
                  on_step: Callable[[tuple], None] | None = None, timeout: float = 300) -> RunResult:
    """The same run with the unix port (a `micropython` binary): files in a temporary folder,
    samples over stdin/stdout when streaming. micropypath: where fxlearn_train.py (and
    fxlearn.mpy for a stock binary) are; default: firmware/micropython."""
    import tempfile

    prep = prep or prepare(spec)
    path = micropypath or str(source_root() / "firmware" / "micropython")
    with tempfile.TemporaryDirectory(prefix="fxlearn-unix-") as tmp:
        for name, data in _training_files(prep, spec).items():
            Path(tmp, name).write_bytes(data)
        proc = subprocess.Popen([str(binary), "-c", _train_code(prep, spec, tmp)], cwd=tmp,
                                env={**os.environ, "MICROPYPATH": path}, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

        def write(data: bytes) -> None:
            proc.stdin.write(data)
            proc.stdin.flush()

        server = _training_server(prep, write, on_step)
        try:
            while True:
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                server.feed(chunk)
            server.close()
            proc.stdin.close()
            err = proc.stderr.read().decode(errors="replace")
            if proc.wait(timeout) != 0:
                raise server.failure(err)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            proc.stderr.close()
        return RunResult(server.steps, Path(tmp, "trained.fxb").read_bytes())


@dataclass
class RunCheck:
    """A training run on the board against the same run on the host: every step's statistics
    and the trained model (`fxlearn mp replay`, and the first part of `mp train`'s report)."""
    steps_device: int
    steps_reference: int
    first_step_mismatch: int | None      # index of the first differing step, None if all agree
    blob_identical: bool
    blob_bytes: int
    params_differing: int                # trained parameters that differ (0 when identical)
    test_acc_device: float
    test_acc_reference: float

    @property
    def ok(self) -> bool:
        return (self.first_step_mismatch is None and self.blob_identical
                and self.steps_device == self.steps_reference)

    def report(self) -> str:
        lines = ["training run: MicroPython board vs host integer reference",
                 f"  training steps  : {self.steps_device} on the board, {self.steps_reference} in the reference, "
                 + ("all identical (loss, trial loss, n, correct, changed, accepted)" if self.first_step_mismatch is None
                    else f"first difference at step {self.first_step_mismatch}"),
                 f"  trained model   : {self.blob_bytes} bytes, "
                 + ("bit-identical" if self.blob_identical else f"{self.params_differing} parameters differ"),
                 f"  test accuracy   : board model {100 * self.test_acc_device:.2f} %, "
                 f"reference {100 * self.test_acc_reference:.2f} %",
                 f"  result          : {'BIT-EXACT' if self.ok else 'MISMATCH'}"]
        return "\n".join(lines)


def check_run(prep: Prepared, device: RunResult, reference: RunResult) -> RunCheck:
    import numpy as np

    from . import blob

    first_bad = next((i for i, (a, b) in enumerate(zip(device.steps, reference.steps)) if tuple(a) != tuple(b)),
                     None)
    if first_bad is None and len(device.steps) != len(reference.steps):
        first_bad = min(len(device.steps), len(reference.steps))
    dev_model, ref_model = blob.read_blob(device.blob), blob.read_blob(reference.blob)
    differing = sum(int(np.sum(a.weight != b.weight) + np.sum(a.bias != b.bias))
                    for a, b in zip(dev_model.layers, ref_model.layers))
    acc = lambda m: float(np.mean(m.predict(m.quantize_input(prep.x_test)) == prep.y_test))
    return RunCheck(len(device.steps), len(reference.steps), first_bad, device.blob == reference.blob,
                      len(device.blob), differing, acc(dev_model), acc(ref_model))
