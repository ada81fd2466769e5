"""Fixtures for the board-port tests: firmware built with make, emulated boards running the
bring-up echo app (firmware/ports/common/echo_app.c)."""
from __future__ import annotations

import os
import subprocess

import pytest

from fxlearn.emulator import BOARDS, Emulator, build_firmware
from fxlearn.paths import source_root

ROOT = source_root()
EMULATED = sorted(BOARDS)
ALL_BOARDS = ["qemu_f405", "qemu_f100", "nucleo_f446re", "bluepill_f103c8", "qemu_rv32"]
# Boards whose counter counts instructions (QEMU -icount shift=0); qemu_f100 has no timer in
# QEMU and counts virtual microseconds.
COUNTER_KIND = {"qemu_f405": 1, "qemu_rv32": 1, "qemu_f100": 3}
ESC = b"\x1b"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def session_processes(sid: int, prefix: str) -> list[int]:
    """Processes of session `sid` whose command name starts with `prefix`."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[3]) == sid and comm.startswith(prefix) and fields[0] != "Z":
            pids.append(int(entry))
    return pids


def make(*args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(["make", "-s", *args], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="session")
def echo_firmware():
    """Builds the echo app for a board once per session; returns its ELF path."""
    built = {}

    def get(board: str):
        if board not in built:
            built[board] = build_firmware(board, "echo")
        return built[board]
    return get


class EchoBoard:
    """An emulated board running the echo app, its serial port open."""

    def __init__(self, board: str, emulator: Emulator, serial):
        self.board = board
        self.emulator = emulator
        self.serial = serial
        self.banner = serial.readline()

    def command(self, letter: bytes) -> list[str]:
        """Send ESC <letter>, return the reply line split into words."""
        self.serial.write(ESC + letter)
        line = self.serial.readline()
        assert line.endswith(b"\r\n"), (letter, line)
        return line.decode().split()


@pytest.fixture(scope="module", params=EMULATED)
def echo_board(request, echo_firmware):
    """One emulator per board for a whole test module (pytest runs them one after another)."""
    board = request.param
    with Emulator(board, firmware=echo_firmware(board)) as emu:
        ser = emu.open_serial(timeout=5)
        try:
            yield EchoBoard(board, emu, ser)
        finally:
            ser.close()
