"""Emulated boards: QEMU with the board's serial port on a pty.

    with Emulator("qemu_f405") as emu:      # builds build/boards/qemu_f405/fxlearn.elf if needed
        ser = emu.open_serial()             # opens the pty, then lets the CPU run: no lost banner
        ...

or, as a board for :class:`fxlearn.device.Device` (``fxlearn.board.open_board("qemu_f405")``
once this module is imported, which registers the names): :class:`EmulatorBoard`.

QEMU starts paused (``-S``); :meth:`Emulator.resume` sends QMP ``cont`` once the host has the pty
open. ``-icount shift=0`` makes one guest instruction last one virtual nanosecond, so the
boards' counters count instructions. Every emulator is stopped on :meth:`Emulator.stop`, on
leaving the ``with`` block, at interpreter exit, and (Linux) when the Python thread that
started it dies.
"""
from __future__ import annotations

import atexit
import ctypes
import fcntl
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from dataclasses import dataclass
from pathlib import Path

from .board import Board, BoardError, register
from .paths import source_root


@dataclass(frozen=True)
class EmulatedBoard:
    name: str
    qemu: tuple          # emulator binary and machine arguments
    apt_package: str     # where the emulator comes from on Debian/Ubuntu


BOARDS = {
    "qemu_f405": EmulatedBoard("qemu_f405", ("qemu-system-arm", "-M", "netduinoplus2"),
                               "qemu-system-arm"),
    "qemu_f100": EmulatedBoard("qemu_f100", ("qemu-system-arm", "-M", "stm32vldiscovery"),
                               "qemu-system-arm"),
    "qemu_rv32": EmulatedBoard("qemu_rv32", ("qemu-system-riscv32", "-M", "virt", "-bios", "none"),
                               "qemu-system-misc"),
}


# QEMU's pty backend checks for a connected client once a second (chardev/char-pty.c).
PTY_POLL_SECONDS = 1.1


class EmulatorError(RuntimeError):
    """QEMU is missing, did not start, or does not answer."""


def firmware_path(board: str, app: str = "fxlearn") -> Path:
    """Where ``make board BOARD=<board> APP=<app>`` puts the ELF."""
    return source_root() / "build" / "boards" / board / f"{app}.elf"


def build_firmware(board: str, app: str = "fxlearn") -> Path:
    """Build (or bring up to date) a board's firmware with make (any board of
    firmware/ports/boards.mk, real ones too); returns the ELF path."""
    root = source_root()
    lock_path = root / "build" / ".make.lock"   # shared with fxlearn.board: one make at a time
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = subprocess.run(["make", "-s", "board", f"BOARD={board}", f"APP={app}"],
                                cwd=root, capture_output=True, text=True)
    if result.returncode != 0:
        raise EmulatorError(f"building {app} for {board} failed:\n{result.stdout}{result.stderr}")
    return firmware_path(board, app)


def _check_board(board: str) -> EmulatedBoard:
    try:
        return BOARDS[board]
    except KeyError:
        raise ValueError(f"unknown emulated board {board!r}; choose from {sorted(BOARDS)}") from None


_live: "weakref.WeakSet[Emulator]" = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for emu in list(_live):
        emu.stop()


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGKILL QEMU if the starting thread dies (Linux)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Emulator:
    """One QEMU instance running a board's firmware, serial port on a pty, paused until
    :meth:`resume` (or :meth:`open_serial`)."""

    def __init__(self, board: str, firmware: str | os.PathLike | None = None,
                 app: str = "fxlearn", build: bool = True, icount: bool = True,
                 serial: int = 0):
        """serial: which of the machine's UARTs gets the pty (0: the boards' own; e.g. 1 for
        USART2 when running a nucleo_f446re build on the F405 machine)."""
        self.board = _check_board(board)
        self.serial = serial
        if firmware is None:
            firmware = build_firmware(board, app) if build else firmware_path(board, app)
        self.firmware = Path(firmware)
        self.icount = icount
        self.port: str | None = None
        self._proc: subprocess.Popen | None = None
        self._qmp: socket.socket | None = None
        self._qmp_buf = b""
        self._tmp: str | None = None
        self._started_at = 0.0

    # -- life cycle -----------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> str:
        """Launch QEMU paused; returns the pty path of the board's serial port."""
        if self._proc is not None:
            raise EmulatorError("emulator already started")
        if not self.firmware.is_file():
            raise EmulatorError(f"firmware not found: {self.firmware} (make board BOARD={self.board.name})")
        exe = shutil.which(self.board.qemu[0])
        if exe is None:
            raise EmulatorError(f"{self.board.qemu[0]} not found: apt install {self.board.apt_package} "
                                "(or bash tools/setup.sh)")
        self._tmp = tempfile.mkdtemp(prefix=f"fxlearn-{self.board.name}-")
        qmp_path = os.path.join(self._tmp, "qmp.sock")
        serials = ["-serial", "null"] * self.serial + ["-serial", "pty"]
        cmd = [exe, *self.board.qemu[1:], "-kernel", str(self.firmware),
               "-nodefaults", "-display", "none", *serials,
               "-qmp", f"unix:{qmp_path},server=on,wait=off", "-S"]
        if self.icount:
            cmd += ["-icount", "shift=0"]
        log = open(os.path.join(self._tmp, "qemu.log"), "wb")
        try:
            self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                          preexec_fn=_die_with_parent)
        finally:
            log.close()
        self._started_at = time.monotonic()
        _live.add(self)
        try:
            self._qmp_connect(qmp_path, timeout)
            self.port = self._serial_pty()
        except BaseException:
            self.stop()
            raise
        return self.port

    def resume(self) -> None:
        """Let the guest CPU run (QMP ``cont``)."""
        self._command("cont")

    def open_serial(self, timeout: float = 5.0, **kwargs):
        """Start if needed, open the serial pty with pyserial, then resume the CPU, so the host
        sees everything the firmware prints from its first instruction on.

        QEMU notices a client on its pty only when it polls, once a second from its start;
        until then it sends the guest nothing. Resuming after that first poll makes the board
        answer at once when this returns (the wait happens here, once)."""
        import serial  # pyserial

        if self._proc is None:
            self.start()
        ser = serial.Serial(self.port, baudrate=115200, timeout=timeout, **kwargs)
        time.sleep(max(0.0, self._started_at + PTY_POLL_SECONDS - time.monotonic()))
        self.resume()
        return ser

    def reset(self) -> None:
        """Reset the machine (QMP ``system_reset``); QEMU reloads the firmware image."""
        self._command("system_reset")

    def read_memory(self, address: int, size: int) -> bytes:
        """Guest physical memory (QMP ``pmemsave``), e.g. to inspect the painted stack."""
        path = os.path.join(self._tmp, "memory.bin")
        self._command("pmemsave", val=address, size=size, filename=path)
        with open(path, "rb") as f:
            return f.read()

    def stack_room(self) -> tuple[int, int]:
        """(bytes of stack used at the deepest point since boot, bytes available to it).
        The ports' reset code fills the RAM between the end of .bss and the top of the stack
        with 0xA5A5A5A5; the lowest word no longer holding it marks the deepest point."""
        nm = ("riscv64-unknown-elf-nm" if self.board.qemu[0].endswith("riscv32")
              else "arm-none-eabi-nm")
        listing = subprocess.run([nm, str(self.firmware)], capture_output=True, text=True,
                                 check=True).stdout
        symbols = {parts[2]: int(parts[0], 16) for parts in map(str.split, listing.splitlines())
                   if len(parts) == 3}
        bottom, top = symbols["_ebss"], symbols["_estack"]
        free = self.read_memory(bottom, top - bottom)
        untouched = 0
        while free[untouched:untouched + 4] == b"\xa5\xa5\xa5\xa5":
            untouched += 4
        return top - bottom - untouched, top - bottom

    def stack_peak(self) -> int:
        """Deepest stack use since boot, in bytes (see :meth:`stack_room`)."""
        return self.stack_room()[0]

    @property
    def pid(self) -> int | None:
        """Process id of the running QEMU."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        """Quit QEMU (QMP ``quit``, then SIGTERM, then SIGKILL) and remove its temp files."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                try:
                    self._command("quit")
                except (OSError, EmulatorError):
                    pass
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.terminate()
                    try:
                        proc.wait(timeout)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
        if self._qmp is not None:
            self._qmp.close()
            self._qmp = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        _live.discard(self)

    def log(self) -> str:
        """What QEMU printed (errors, warnings) so far."""
        if self._tmp is None:
            return ""
        try:
            with open(os.path.join(self._tmp, "qemu.log"), "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def __enter__(self) -> "Emulator":
        if self._proc is None:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __del__(self) -> None:
        if getattr(self, "_proc", None) is not None:
            self.stop()

    # -- QMP ------------------------------------------------------------------------------
    def _qmp_connect(self, path: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self._proc.poll() is not None:
                raise EmulatorError(f"QEMU exited with {self._proc.returncode}:\n{self.log()}")
            try:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(timeout)
                sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                sock.close()
                if time.monotonic() > deadline:
                    raise EmulatorError(f"QEMU did not open its QMP socket:\n{self.log()}") from None
                time.sleep(0.02)
        self._qmp = sock
        self._receive()  # greeting
        self._command("qmp_capabilities")

    def _receive(self) -> dict:
        while b"\n" not in self._qmp_buf:
            chunk = self._qmp.recv(65536)
            if not chunk:
                raise EmulatorError("QEMU closed the QMP connection")
            self._qmp_buf += chunk
        line, self._qmp_buf = self._qmp_buf.split(b"\n", 1)
        return json.loads(line)

    def _command(self, name: str, **arguments):
        if self._qmp is None:
            raise EmulatorError("emulator not started")
        message = {"execute": name}
        if arguments:
            message["arguments"] = arguments
        self._qmp.sendall(json.dumps(message).encode() + b"\n")
        while True:
            reply = self._receive()
            if "return" in reply:
                return reply["return"]
            if "error" in reply:
                raise EmulatorError(f"QMP {name}: {reply['error'].get('desc', reply['error'])}")
            # anything else is an asynchronous event (STOP, RESUME, SHUTDOWN ...): skip it

    def _serial_pty(self) -> str:
        for dev in self._command("query-chardev"):
            if (dev.get("label") == f"serial{self.serial}"
                    and dev.get("filename", "").startswith("pty:")):
                return dev["filename"][len("pty:"):]
        raise EmulatorError(f"QEMU reports no pty for serial{self.serial}")


class EmulatorBoard(Board):
    """An emulated board behind the :class:`fxlearn.board.Board` interface: ``port`` is the
    emulator's pty, ``reset()`` is QEMU's system reset (the reset button).

    The board holds the pty open itself for its whole life, so QEMU always sees a client and
    neither drops output nor pauses input while clients come and go (a Device per test).
    start() returns once the firmware has announced its boot (its first output, drained
    here): from then on its UART receives, so no byte a client sends is lost to the boot."""

    def __init__(self, name: str, firmware: str | os.PathLike | None = None,
                 app: str = "fxlearn"):
        _check_board(name)
        self.name = name
        self.firmware = firmware
        self.app = app
        self.emulator: Emulator | None = None
        self.port = None
        self._keeper: int | None = None

    def start(self) -> "EmulatorBoard":
        if self.emulator is not None:
            return self
        try:
            emu = Emulator(self.name, firmware=self.firmware, app=self.app)
            emu.start()
        except EmulatorError as e:
            raise BoardError(str(e)) from e
        self.emulator = emu
        self._keeper = os.open(emu.port, os.O_RDWR | os.O_NOCTTY)
        time.sleep(max(0.0, emu._started_at + PTY_POLL_SECONDS - time.monotonic()))
        emu.resume()
        if not self._drain(first_timeout=10.0):
            log = emu.log()
            self.stop()
            raise BoardError(f"{self.name}: the firmware printed nothing at boot\n{log}")
        self.port = emu.port
        return self

    def _drain(self, first_timeout: float, quiet: float = 0.05) -> bytes:
        """Read what the guest prints until it has been quiet for `quiet` seconds."""
        data = b""
        wait = first_timeout
        while select.select([self._keeper], [], [], wait)[0]:
            data += os.read(self._keeper, 4096)
            wait = quiet
        return data

    @property
    def pid(self) -> int | None:
        return self.emulator.pid if self.emulator else None

    @property
    def running(self) -> bool:
        return self.emulator is not None and self.emulator.running

    def reset(self) -> None:
        if not self.running:
            raise BoardError(f"{self.name} is not running")
        self.emulator.reset()

    def stop(self) -> None:
        """Stop the emulator; raises BoardError afterwards if the firmware's stack ever
        filled all the RAM left to it (it would have overwritten .bss)."""
        emu, self.emulator = self.emulator, None
        used = room = 0
        if emu is not None:
            if emu.running:
                try:
                    used, room = emu.stack_room()
                except (EmulatorError, OSError, KeyError, subprocess.CalledProcessError):
                    pass  # no check possible (e.g. a foreign firmware without the symbols)
            emu.stop()
        if self._keeper is not None:
            os.close(self._keeper)
            self._keeper = None
        self.port = None
        if room and used >= room:
            raise BoardError(f"{self.name}: the stack used all {room} bytes of RAM left to it "
                             "and ran into .bss")


def _factory(name: str):
    """open_board("qemu_f405[:firmware=PATH][,app=echo]")."""
    def make(options: dict) -> EmulatorBoard:
        firmware = options.pop("firmware", None)
        app = options.pop("app", "fxlearn")
        if options:
            raise BoardError(f"{name}: unknown option(s) {', '.join(options)}; an emulated board "
                             "takes firmware=PATH and app=NAME (its UART ignores the baud rate)")
        return EmulatorBoard(name, firmware=firmware, app=app)
    return make


for _name in BOARDS:
    register(_name, _factory(_name))
