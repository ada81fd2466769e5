"""The virtual board as a process: how the client and the CLI start it, find its port and
make sure it never outlives them."""
from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from fxlearn import protocol as P
from fxlearn.board import BoardError, ExternalPort, NativeBoard, open_board
from fxlearn.device import Device, DeviceTimeout


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie has exited: only its parent has not collected it yet
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(") ")[-1][0] != "Z"


def wait_gone(pid: int, timeout: float = 3.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not alive(pid):
            return True
        time.sleep(0.02)
    return not alive(pid)


def test_device_without_a_port_runs_its_own_board():
    with Device() as dev:
        board = dev.board
        pid = board.pid
        assert dev.info.board == "native" and dev.port.startswith("/dev/")
        assert dev.echo(b"hello") == b"hello"
    assert wait_gone(pid)


def test_board_context_manager_stops_the_process():
    with NativeBoard(name="vb-test") as board:
        pid = board.pid
        assert board.running and board.port
        with Device(board.port) as dev:
            assert dev.info.board == "vb-test"
    assert not board.running and wait_gone(pid)


def test_sigterm_stops_the_board():
    board = NativeBoard().start()
    pid = board.pid
    os.kill(pid, signal.SIGTERM)
    assert wait_gone(pid)
    board.stop()


def test_the_board_dies_with_its_parent():
    """A client killed without any cleanup must not leave its board behind."""
    script = textwrap.dedent("""
        import sys, time
        from fxlearn.board import NativeBoard
        b = NativeBoard().start()
        print(b.pid, flush=True)
        time.sleep(60)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([parent.stdout], [], [], 20)
        assert ready, "the client did not start a board"
        board_pid = int(parent.stdout.readline())
        assert alive(board_pid)
        parent.kill()
        parent.wait()
        assert wait_gone(board_pid)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def test_cli_board_start_prints_the_port_and_stops_on_sigterm():
    cli = subprocess.Popen([sys.executable, "-m", "fxlearn.cli", "board", "start", "native"],
                           stdout=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([cli.stdout], [], [], 20)
        assert ready, "no port printed"
        port = cli.stdout.readline().strip()
        assert port.startswith("/dev/")
        with Device(port) as dev:
            assert dev.info.board == "native"
            children = [int(p) for p in open(f"/proc/{cli.pid}/task/{cli.pid}/children").read().split()]
        cli.send_signal(signal.SIGTERM)
        assert cli.wait(timeout=5) == 0
        assert children and all(wait_gone(p) for p in children)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()


def test_a_frozen_board_gives_a_timeout_not_a_hang():
    with NativeBoard() as board, Device(board.port, timeout=0.1, retries=2) as dev:
        os.kill(board.pid, signal.SIGSTOP)
        try:
            start = time.monotonic()
            with pytest.raises(DeviceTimeout):
                dev.stats()
            assert time.monotonic() - start < 5
        finally:
            os.kill(board.pid, signal.SIGCONT)
        dev.connect()
        assert dev.echo(b"thawed") == b"thawed"


def test_a_paced_link_is_no_faster_than_its_baud_rate():
    with NativeBoard(baud=57600) as board, Device(board.port, baudrate=57600) as dev:
        result = dev.link_test(1500)
        assert result.seconds >= 1500 / 5760 * 0.9


def test_board_specs():
    assert isinstance(open_board("port:/dev/ttyACM7"), ExternalPort)
    assert open_board("port:/dev/ttyACM7").port == "/dev/ttyACM7"
    assert open_board("native:baud=9600").baud == 9600
    with pytest.raises(BoardError):
        open_board("no_such_board")
    with pytest.raises(BoardError):
        open_board("port:/dev/null").reset()


def test_protocol_major_mismatch_is_a_protocol_error(board):
    with Device(board.port, connect=False) as dev:
        dev.send_raw(b"\0" + P.encode_frame(P.Cmd.HELLO, 1, bytes([P.PROTO_MAJOR + 1, 0])))
        while True:
            frame = dev.recv_frame(timeout=2)
            assert frame is not None
            if frame.type == P.TYPE_REPLY | P.Cmd.HELLO:
                break
        assert frame.status == P.Status.VERSION and frame.error_fields()[1] == P.PROTO_MAJOR
