"""Boards the client can start, talk to and stop: the virtual board (the firmware app built as
a host process on a pseudo-terminal) and, registered by other modules, emulated or real boards.

A board is a context manager with a ``port`` (what :class:`fxlearn.device.Device` opens),
``reset()`` (the reset button) and ``stop()``. ``open_board(spec)`` turns a spec string into
one: ``"native"``, ``"native:baud=115200"``, ``"port:/dev/ttyACM0"`` (a board someone else
runs), or any name added with :func:`register`.
"""
from __future__ import annotations

import atexit
import fcntl
import importlib
import importlib.util
import os
import select
import signal
import subprocess
from pathlib import Path
from typing import Callable

from .paths import source_root


class BoardError(RuntimeError):
    """A board could not be built, started or controlled."""


class Board:
    """Interface of every board; subclasses start a process or just name a port."""

    name = "board"
    port: str | None = None

    def start(self) -> "Board":
        return self

    def stop(self) -> None:
        pass

    def reset(self) -> None:
        """Press the reset button (not a protocol RESET)."""
        raise BoardError(f"{self.name}: no way to reset this board from the host")

    @property
    def running(self) -> bool:
        return self.port is not None

    def __enter__(self) -> "Board":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class ExternalPort(Board):
    """A board that is already running and attached at `port` (a real board)."""

    def __init__(self, port: str):
        self.name = f"port:{port}"
        self.port = port


def _build_native() -> Path:
    root = source_root()
    lock_path = root / "build" / ".make.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = subprocess.run(["make", "-s", "-C", str(root), "firmware"],
                                capture_output=True, text=True)
    if result.returncode != 0:
        raise BoardError(f"building the virtual board failed:\n{result.stdout}{result.stderr}")
    return root / "build" / "native-board" / "fxboard"


class NativeBoard(Board):
    """The virtual board: build/native-board/fxboard on a pseudo-terminal.

    baud: pace the link like a UART at this rate (None: as fast as the pty goes). The process
    dies with its parent (Linux PR_SET_PDEATHSIG) and is stopped by stop() / the context
    manager / interpreter exit."""

    _live: set["NativeBoard"] = set()

    def __init__(self, baud: int | None = None, name: str = "native", binary: Path | None = None,
                 start_timeout: float = 10.0):
        self.name = name
        self.baud = baud
        self.binary = binary
        self.start_timeout = start_timeout
        self.process: subprocess.Popen | None = None
        self.port = None

    def start(self) -> "NativeBoard":
        if self.process is not None:
            return self
        # FXLEARN_NATIVE_BOARD: another build of the board, e.g. the sanitizer one.
        override = os.environ.get("FXLEARN_NATIVE_BOARD")
        binary = self.binary or (Path(override) if override else _build_native())
        cmd = [str(binary), "--name", self.name]
        if self.baud:
            cmd += ["--baud", str(int(self.baud))]
        self.process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        NativeBoard._live.add(self)
        ready, _, _ = select.select([self.process.stdout], [], [], self.start_timeout)
        line = self.process.stdout.readline().decode().strip() if ready else ""
        if not line.startswith("/"):
            err = self._kill_and_collect()
            raise BoardError(f"virtual board did not report its port: {line!r} {err}")
        self.port = line
        return self

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def reset(self) -> None:
        if not self.running:
            raise BoardError("virtual board is not running")
        self.process.send_signal(signal.SIGUSR1)

    def _kill_and_collect(self) -> str:
        proc, self.process = self.process, None
        self.port = None
        NativeBoard._live.discard(self)
        if proc is None:
            return ""
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()
        return err

    def stop(self) -> None:
        self._kill_and_collect()

    @classmethod
    def stop_all(cls) -> None:
        for board in list(cls._live):
            board.stop()


atexit.register(NativeBoard.stop_all)


def _native_factory(options: dict) -> Board:
    baud = options.pop("baud", None)
    board = NativeBoard(baud=int(baud) if baud else None, **options)
    return board


BOARDS: dict[str, Callable[[dict], Board]] = {"native": _native_factory}
# Modules that register more boards when imported (emulated boards), loaded on demand.
PLUGINS = (".emulator",)


def _load_plugins() -> None:
    for name in PLUGINS:
        if importlib.util.find_spec(name, __package__) is not None:
            importlib.import_module(name, __package__)


def register(name: str, factory: Callable[[dict], Board]) -> None:
    """Make `open_board("name:key=value,...")` build a board with factory(options)."""
    BOARDS[name] = factory


def open_board(spec: str | None = None) -> Board:
    """A (not yet started) board from a spec; None means FXLEARN_BOARD or "native"."""
    spec = spec or os.environ.get("FXLEARN_BOARD") or "native"
    if spec.startswith("port:"):
        return ExternalPort(spec[len("port:"):])
    name, _, rest = spec.partition(":")
    if name not in BOARDS:
        _load_plugins()
    if name not in BOARDS:
        raise BoardError(f"unknown board {name!r}; known: {', '.join(sorted(BOARDS))}, port:PATH")
    options = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        options[key] = value
    return BOARDS[name](options)

