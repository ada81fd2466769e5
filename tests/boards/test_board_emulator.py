"""host/fxlearn/emulator.py: QEMU starts paused with the serial on a pty, answers QMP, and is
always stopped."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from fxlearn.emulator import BOARDS, Emulator, EmulatorError, firmware_path

from conftest import ROOT, session_processes

pytestmark = pytest.mark.emulator


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_unknown_board_is_refused():
    with pytest.raises(ValueError, match="qemu_f405"):
        Emulator("qemu_f999", build=False)


def test_missing_firmware_says_how_to_build_it(tmp_path):
    emu = Emulator("qemu_f405", firmware=tmp_path / "none.elf")
    with pytest.raises(EmulatorError, match="make board BOARD=qemu_f405"):
        emu.start()
    assert not emu.running


def test_firmware_path_is_the_make_output():
    assert firmware_path("qemu_rv32", "echo") == ROOT / "build/boards/qemu_rv32/echo.elf"
    assert set(BOARDS) == {"qemu_f405", "qemu_f100", "qemu_rv32"}


def test_guest_runs_only_after_resume(echo_firmware):
    import serial

    with Emulator("qemu_f405", firmware=echo_firmware("qemu_f405")) as emu:
        ser = serial.Serial(emu.port, timeout=0.3)
        assert ser.read(1) == b""  # paused: the banner has not been printed yet
        emu.resume()
        ser.timeout = 3
        assert ser.readline().startswith(b"fxlearn echo qemu_f405")
        ser.close()


def test_stop_ends_qemu_and_cleans_up(echo_firmware):
    emu = Emulator("qemu_rv32", firmware=echo_firmware("qemu_rv32"))
    with emu:
        pid, tmp = emu.pid, emu._tmp
        assert alive(pid) and os.path.isdir(tmp)
    assert not alive(pid) and not os.path.exists(tmp)
    assert not emu.running
    emu.stop()  # idempotent


def test_guest_memory_is_readable(echo_firmware):
    elf = echo_firmware("qemu_f405")
    image = elf.with_suffix(".bin").read_bytes()
    with Emulator("qemu_f405", firmware=elf) as emu:
        # the vector table at the start of flash: initial stack pointer and reset handler
        assert emu.read_memory(0x08000000, 64) == image[:64]


def test_emulator_dies_with_the_process_that_started_it(echo_firmware):
    # A Python process that starts an emulator and exits abruptly, skipping every cleanup.
    code = ("import os, sys; from fxlearn.emulator import Emulator; "
            f"e = Emulator('qemu_f100', firmware={str(echo_firmware('qemu_f100'))!r}); e.start(); "
            "print(e.pid, flush=True); os._exit(0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    pid = int(out.split()[0])
    deadline = time.monotonic() + 5
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid)


def test_emulated_board_behind_the_board_interface(echo_firmware):
    import serial

    from fxlearn.board import open_board

    echo_firmware("qemu_rv32")
    with open_board("qemu_rv32:app=echo") as b:
        pid = b.pid
        # started = booted (the banner was drained): clients come and go (a Device per test)
        # and each finds the link up at once, nothing lost, nothing stale
        for word in (b"first", b"second"):
            with serial.Serial(b.port, timeout=0.2) as ser:
                ser.write(word)
                assert ser.read(len(word) + 1) == word
        with serial.Serial(b.port, timeout=3) as ser:
            ser.reset_input_buffer()
            b.reset()  # the reset button: the firmware boots again
            assert ser.readline() == b"fxlearn echo qemu_rv32 counter 1\r\n"
    assert not alive(pid) and not b.running


def test_board_options_are_checked():
    from fxlearn.board import BoardError, open_board

    with pytest.raises(BoardError, match="baud"):
        open_board("qemu_f100:baud=9600")


def test_cli_board_start_runs_until_terminated(echo_firmware):
    import signal

    echo_firmware("qemu_f100")
    code = "import fxlearn.emulator; from fxlearn.cli import main; main()"
    proc = subprocess.Popen([sys.executable, "-c", code, "board", "start", "qemu_f100:app=echo"],
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        port = proc.stdout.readline().strip()
        assert port.startswith("/dev/pts/")
        assert session_processes(proc.pid, "qemu-system-arm")
        import serial
        with serial.Serial(port, timeout=3) as ser:
            ser.write(b"ping")
            assert ser.read(4) == b"ping"
            ser.timeout = 0.2
            assert ser.read(1) == b""
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    assert not session_processes(proc.pid, "qemu-system")
