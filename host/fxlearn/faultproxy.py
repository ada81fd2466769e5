"""A fault-injecting serial proxy: a pseudo-terminal of its own between a client and a board's
port that drops, duplicates, corrupts and delays bytes at seeded rates, per direction. The client
code under test is unchanged: it opens the proxy's port instead of the board's.

    with NativeBoard() as board, FaultProxy(board.port, Faults(corrupt=0.01, drop=0.001)) as px:
        with Device(px.port) as dev:
            ...
        print(px.stats)

or from a shell (runs until Ctrl-C, prints the port to use):

    python -m fxlearn.faultproxy /dev/pts/7 --corrupt 0.01 --drop 0.001 --seed 1
    python -m fxlearn.faultproxy --board native --corrupt 0.01

Faults are drawn per byte from random.Random(seed) (one stream per direction, so a run is
reproducible up to the way the OS splits the bytes into reads). If the board's port goes away
(its process died) the proxy closes its own side, so the client sees the port disappear too.
"""
from __future__ import annotations

import os
import random
import select
import threading
import time
import tty
from dataclasses import dataclass, field

import click

__all__ = ["Faults", "FaultProxy", "DirectionStats"]


@dataclass(frozen=True)
class Faults:
    """Per-byte probabilities for one direction. corrupt: the byte is replaced by a different
    one (a random non-zero xor); drop: the byte is lost; duplicate: it is sent twice;
    delay: the link stalls for delay_s before the byte."""
    corrupt: float = 0.0
    drop: float = 0.0
    duplicate: float = 0.0
    delay: float = 0.0
    delay_s: float = 0.05

    def __post_init__(self):
        for name in ("corrupt", "drop", "duplicate", "delay"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} rate {p} outside [0, 1]")
        if self.delay_s < 0:
            raise ValueError(f"delay_s {self.delay_s} < 0")

    @property
    def any(self) -> bool:
        return bool(self.corrupt or self.drop or self.duplicate or self.delay)


@dataclass
class DirectionStats:
    bytes_in: int = 0
    bytes_out: int = 0
    corrupted: int = 0
    dropped: int = 0
    duplicated: int = 0
    delayed: int = 0


@dataclass
class ProxyStats:
    to_board: DirectionStats = field(default_factory=DirectionStats)
    to_client: DirectionStats = field(default_factory=DirectionStats)


class _Pump:
    """One direction: read src, apply faults, write dst."""

    def __init__(self, faults: Faults, seed: int, stats: DirectionStats):
        self.faults = faults
        self.rng = random.Random(seed)
        self.stats = stats

    def mangle(self, data: bytes) -> tuple[bytes, float]:
        """(bytes to forward, seconds to stall before them)."""
        f, rng, st = self.faults, self.rng, self.stats
        st.bytes_in += len(data)
        if not f.any:
            st.bytes_out += len(data)
            return data, 0.0
        out = bytearray()
        stall = 0.0
        for b in data:
            if f.delay and rng.random() < f.delay:
                st.delayed += 1
                stall += f.delay_s
            if f.drop and rng.random() < f.drop:
                st.dropped += 1
                continue
            if f.corrupt and rng.random() < f.corrupt:
                st.corrupted += 1
                b ^= rng.randrange(1, 256)
            out.append(b)
            if f.duplicate and rng.random() < f.duplicate:
                st.duplicated += 1
                out.append(b)
        st.bytes_out += len(out)
        return bytes(out), stall


def _write_all(fd: int, data: bytes, stop: threading.Event) -> None:
    while data and not stop.is_set():
        try:
            n = os.write(fd, data)
            data = data[n:]
        except BlockingIOError:
            select.select([], [fd], [], 0.05)


class FaultProxy:
    """Proxy between a client and `target` (a board's serial device path). `port` is the path
    the client opens. to_board / to_client: the Faults of each direction (a single Faults for
    both with `faults`). A context manager; start()/stop() otherwise."""

    def __init__(self, target: str, faults: Faults | None = None, *, to_board: Faults | None = None,
                 to_client: Faults | None = None, seed: int = 0):
        self.target = target
        self.to_board = to_board or faults or Faults()
        self.to_client = to_client or faults or Faults()
        self.seed = seed
        self.stats = ProxyStats()
        self.port: str | None = None
        self.board_gone = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._pumps: list[_Pump] = []
        self._master = self._slave = self._target_fd = -1

    def set_faults(self, to_board: Faults | None = None, to_client: Faults | None = None) -> None:
        """Change the fault rates while running (e.g. cut the link mid-stream)."""
        for pump, faults in zip(self._pumps, (to_board, to_client)):
            if faults is not None:
                pump.faults = faults

    def start(self) -> "FaultProxy":
        self._target_fd = os.open(self.target, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no line discipline: bytes pass untouched
        os.set_blocking(self._master, False)
        self.port = os.ttyname(self._slave)
        pumps = ((self._master, self._target_fd, _Pump(self.to_board, self.seed, self.stats.to_board)),
                 (self._target_fd, self._master, _Pump(self.to_client, self.seed + 1,
                                                        self.stats.to_client)))
        self._pumps = [pump for _, _, pump in pumps]
        for src, dst, pump in pumps:
            t = threading.Thread(target=self._run, args=(src, dst, pump), daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def _run(self, src: int, dst: int, pump: _Pump) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([src], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(src, 4096)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                if src == self._target_fd:
                    self._board_lost()
                    return
                time.sleep(0.01)  # no client on the pty right now
                continue
            out, stall = pump.mangle(data)
            if stall:
                time.sleep(stall)
            try:
                _write_all(dst, out, self._stop)
            except OSError:
                if dst == self._target_fd:
                    self._board_lost()
                    return

    def _board_lost(self) -> None:
        """The board's port is gone: close the client's side so its reads fail as well."""
        self.board_gone.set()
        self._stop.set()
        self._close_fds("_master", "_slave")

    def _close_fds(self, *names: str) -> None:
        """Close the named descriptor attributes once each (marked -1 before closing)."""
        for name in names:
            fd = getattr(self, name)
            if fd >= 0:
                setattr(self, name, -1)
                try:
                    os.close(fd)
                except OSError:
                    pass

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout=2)
        self._threads.clear()
        self._close_fds("_master", "_slave", "_target_fd")

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@click.command()
@click.argument("target", required=False)
@click.option("--board", "board_spec", help="start this board (fxlearn.board.open_board spec) "
              "instead of naming a TARGET port")
@click.option("--corrupt", default=0.0, help="per-byte corruption rate (both directions)")
@click.option("--drop", default=0.0, help="per-byte loss rate")
@click.option("--duplicate", default=0.0, help="per-byte duplication rate")
@click.option("--delay", default=0.0, help="per-byte rate of a stall")
@click.option("--delay-s", default=0.05, help="seconds of one stall")
@click.option("--direction", type=click.Choice(["both", "to-board", "to-client"]), default="both")
@click.option("--seed", default=0, help="random seed of the faults")
def main(target, board_spec, corrupt, drop, duplicate, delay, delay_s, direction, seed):
    """Proxy TARGET (a serial port) through a pseudo-terminal that injects byte faults."""
    from .board import open_board
    if bool(target) == bool(board_spec):
        raise click.UsageError("give either a TARGET port or --board")
    faults = Faults(corrupt, drop, duplicate, delay, delay_s)
    clean = Faults()
    board = open_board(board_spec).start() if board_spec else None
    try:
        with FaultProxy(board.port if board else target,
                        to_board=faults if direction in ("both", "to-board") else clean,
                        to_client=faults if direction in ("both", "to-client") else clean,
                        seed=seed) as proxy:
            click.echo(proxy.port)
            try:
                while not proxy.board_gone.is_set():
                    time.sleep(0.2)
                click.echo("the board's port went away", err=True)
            except KeyboardInterrupt:
                pass
            click.echo(f"to board: {proxy.stats.to_board}\nto client: {proxy.stats.to_client}",
                       err=True)
    finally:
        if board is not None:
            board.stop()


if __name__ == "__main__":
    main()
