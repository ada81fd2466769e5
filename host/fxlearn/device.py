"""``fxlearn.Device``: the serial client of a board running the fxlearn firmware.

One class for every board (virtual, emulated, real): it opens the port with pyserial, says
HELLO, and offers a typed method per command. Requests go out in a window (several frames in
flight); replies are matched by sequence number; a lost or damaged frame is resent
(go-back-N, docs/protocol.md section 2) and nothing is applied twice. Errors are exceptions:
``DeviceError`` (the device refused, with its code's name), ``DeviceTimeout`` (no answer after
the retries), ``DeviceReset`` (the board restarted), ``ProtocolError``.

    with Device("/dev/ttyACM0") as dev:     # or Device() to start the virtual board
        print(dev.info.board)
        dev.upload(blob)
        print(dev.infer(x).classes)
"""
from __future__ import annotations

import random
import struct
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import numpy as np
import serial
from tqdm import tqdm

from . import protocol as P
from .board import Board, NativeBoard
from .protocol import (Cmd, DeviceError, DeviceReset, DeviceTimeout, FxLinkError, ProtocolError,
                       Status)

__all__ = ["Device", "DeviceError", "DeviceReset", "DeviceTimeout", "ProtocolError",
           "FxLinkError", "StreamResult", "LinkTest", "DEFAULT_BATCH_SIZE", "train_config"]

DEFAULT_BATCH_SIZE = 16
CONNECT_TIMEOUT = 2.0


TRAIN_CONFIG_VERSION = 1
_OPTIM_FLAGS = ("rounding", "schedule", "policy", "guess", "min_lsb", "pattern", "expand", "box",
                "ortho", "ray", "box_line", "ray_far")


def train_config(model, params, theta, cfg, mse_one: int = 0) -> bytes:
    """The STREAM_BEGIN TRAIN configuration (layout in firmware/app/fx_trainer.c): which layers
    train and the loss (train.TrainParams from train.plan), the optimizer (optim.OptimConfig),
    every trained layer's integer scales, and theta's initial biases (the device takes W from
    the model it holds). mse_one: the MSE target of the label's output."""
    from . import train          # deferred: train loads the native kernel
    train.check_params(model, params)
    cfg = cfg.resolved()
    cfg.validate(train.n_params(model, params.first))
    out = struct.pack("<BBBBiiihH", TRAIN_CONFIG_VERSION, params.first, params.loss,
                      len(params.layers), params.loss_mult, params.loss_shift, params.slope_shift,
                      mse_one, 0)
    out += struct.pack("<5iI", cfg.q, cfg.dir_q, cfg.z_max, cfg.c1_shift, cfg.shrink_shift, cfg.seed)
    out += bytes(int(getattr(cfg, f)) for f in _OPTIM_FLAGS)
    for s in params.layers:
        out += struct.pack("<9i", *(getattr(s, f) for f in train.LayerScales.__dataclass_fields__))
    for _, b in train.split_theta(model, params.first, np.asarray(theta)):
        out += np.asarray(b, dtype="<i2").tobytes()
    return out


def _name(cmd: int) -> str:
    try:
        return Cmd(cmd).name
    except ValueError:
        return f"command 0x{cmd:02x}"


@dataclass
class _Request:
    cmd: int
    payload: bytes = b""
    needs_data: bool = True     # the reply's data matters (a lost reply is fetched again)
    meta: object = None         # caller's bookkeeping, handed back with the reply


@dataclass
class _Pending:
    req: _Request
    seq: int
    wire: bytes
    sent_at: float = 0.0
    tries: int = 0
    reply: P.Frame | None = None
    implicit: bool = False      # acknowledged by a later reply; no data of its own
    error: Exception | None = None


@dataclass
class StreamResult:
    """What a BATCH stream did: device totals (cumulative over resumes) and link figures."""
    mode: int
    batches: int = 0
    batch_size: int = 0         # samples per BATCH frame (the request clipped to the frame size)
    samples: int = 0
    correct: int = 0
    loss: int = 0               # sum over samples, Q12 nats (0 when the model has no loss scale)
    last_bseq: int = 0
    seconds: float = 0.0
    payload_bytes: int = 0      # sample and label bytes
    link: P.LinkCounters = field(default_factory=P.LinkCounters)
    resets: int = 0

    @property
    def accuracy(self) -> float:
        return self.correct / self.samples if self.samples else float("nan")

    @property
    def mean_loss(self) -> float:
        return self.loss / 4096 / self.samples if self.samples else float("nan")

    @property
    def efficiency(self) -> float:
        """Payload bytes / all bytes on the wire in both directions."""
        return self.payload_bytes / self.link.wire if self.link.wire else float("nan")

    @property
    def throughput(self) -> float:
        """Payload bytes per second."""
        return self.payload_bytes / self.seconds if self.seconds else float("nan")


@dataclass
class LinkTest:
    """A raw echo (LINK_TEST): bytes each way and the time they took."""
    nbytes: int
    seconds: float

    @property
    def throughput(self) -> float:
        return self.nbytes / self.seconds


class Device:
    """A board running the fxlearn firmware, reached through a serial port.

    port: a device path or pyserial URL; None starts the virtual board (stopped on close).
    timeout: seconds to wait for a reply beyond the time the bytes need on the link
    (``link_rate`` bytes/s, default baudrate / 10). retries: resends of an unanswered frame.
    window: frames in flight (default and maximum: what the device advertises)."""

    def __init__(self, port: str | None = None, *, board: Board | None = None,
                 baudrate: int = 115200, timeout: float = 1.0, retries: int = 4,
                 window: int | None = None, link_rate: float | None = None,
                 connect: bool = True):
        self._own_board: Board | None = None
        if port is None:
            if board is None:
                board = NativeBoard()
                self._own_board = board
            board.start()
            port = board.port
        self.port = port
        self.board = board
        self.timeout = timeout
        self.retries = retries
        self.link_rate = link_rate or baudrate / 10
        self._window = window
        self.counters = P.LinkCounters()
        self.info: P.DeviceInfo | None = None
        self._deframer = P.Deframer()
        self._rx: list = []
        self._seq = 0
        self._recovering: int | None = None
        self._write_stalls = 0
        try:
            self._ser = serial.serial_for_url(port, baudrate=baudrate, timeout=0,
                                              write_timeout=max(2.0, 4 * timeout))
        except (serial.SerialException, OSError) as e:
            self._stop_own_board()
            raise FxLinkError(f"cannot open {port}: {e}") from e
        if connect:
            try:
                self.connect()
            except BaseException:
                self.close()
                raise

    # ------------------------------------------------------------ lifetime

    def __enter__(self) -> "Device":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        ser = getattr(self, "_ser", None)
        if ser is not None:
            ser.close()
            self._ser = None
        self._stop_own_board()

    def _stop_own_board(self) -> None:
        if self._own_board is not None:
            self._own_board.stop()
            self._own_board = None

    @property
    def window(self) -> int:
        device = self.info.window if self.info else 1
        return max(1, min(self._window or device, device))

    # ------------------------------------------------------------ byte level

    def _write(self, data: bytes) -> None:
        try:
            self._ser.write(data)
            self._write_stalls = 0
        except serial.SerialTimeoutException as e:
            # The device (or the host, starved of CPU) did not take the bytes in time: the frame
            # is lost or cut short, which the protocol recovers from like a damaged frame (it is
            # resent). Only a device that stays stuck for `retries` writes in a row is given up.
            self._write_stalls += 1
            self.counters.extra["write_stalls"] = self.counters.extra.get("write_stalls", 0) + 1
            if self._write_stalls > self.retries:
                raise DeviceTimeout(f"{self.port}: the device stopped reading ({e}, "
                                    f"{self._write_stalls} writes in a row)") from e
            return
        except (serial.SerialException, OSError) as e:
            raise FxLinkError(f"{self.port}: write failed: {e}") from e
        self.counters.wire_tx += len(data)

    def _read_some(self, timeout: float) -> bytes:
        try:
            self._ser.timeout = max(0.0, timeout)
            data = self._ser.read(max(1, self._ser.in_waiting))
        except (serial.SerialException, OSError) as e:
            raise FxLinkError(f"{self.port}: read failed: {e}") from e
        self.counters.wire_rx += len(data)
        return data

    def _recv(self, deadline: float) -> P.Frame | None:
        """The next intact frame, or None at the deadline; damaged frames are counted."""
        while not self._rx:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            for item in self._deframer.feed(self._read_some(remaining)):
                if isinstance(item, P.FrameError):
                    self.counters.bad_frames += 1
                else:
                    self._rx.append(item)
        self.counters.frames_rx += 1
        return self._rx.pop(0)

    def send_raw(self, data: bytes) -> None:
        """Write bytes as they are (tests: damaged frames, garbage)."""
        self._write(data)

    def recv_frame(self, timeout: float | None = None) -> P.Frame | None:
        """The next frame from the device as it is (tests)."""
        return self._recv(time.monotonic() + (self.timeout if timeout is None else timeout))

    def next_seq(self) -> int:
        """Take the next request sequence number (for hand-made frames)."""
        seq = self._seq
        self._seq = (self._seq + 1) & 0xFFFF
        return seq

    # ------------------------------------------------------------ windowed exchange

    def _send(self, p: _Pending) -> None:
        p.sent_at = time.monotonic()
        p.tries += 1
        if p.tries > 1:
            self.counters.resent += 1
        self.counters.frames_tx += 1
        self._write(p.wire)

    def _deadline(self, pending: "OrderedDict[int, _Pending]") -> float:
        oldest = min(p.sent_at for p in pending.values() if p.reply is None)
        inflight = sum(len(p.wire) + 64 for p in pending.values() if p.reply is None)
        return oldest + self.timeout + inflight / self.link_rate

    def _settle_before(self, pending, stop_seq: int | None, expected: int | None) -> None:
        """Requests before a reply (or before the device's expected seq) were executed: a
        replayable one whose reply was lost is asked again, the others count as done."""
        for q in pending.values():
            if stop_seq is not None and q.seq == stop_seq:
                break
            if expected is not None and P.seq_diff(q.seq, expected) >= 0:
                break
            if q.reply is None:
                if q.req.needs_data:
                    self._send(q)
                else:
                    q.reply = P.Frame(P.TYPE_REPLY | q.req.cmd, q.seq, bytes([Status.OK]))
                    q.implicit = True

    def _rewind(self, pending, expected: int) -> None:
        """Go-back-N from the device's expected seq, once per loss."""
        if self._recovering == expected:
            return
        oldest = next((q.seq for q in pending.values() if q.reply is None), None)
        if oldest is not None and P.seq_diff(expected, oldest) < 0:
            # Everything before `oldest` was answered, yet the device wants an earlier seq:
            # its session is not ours any more.
            raise ProtocolError(f"{self.port}: the device expects seq {expected}, which this "
                                f"session already completed: another client took it over")
        self._recovering = expected
        self._settle_before(pending, None, expected)
        for q in pending.values():
            if q.reply is None and P.seq_diff(q.seq, expected) >= 0:
                self._send(q)

    def _exchange(self, requests: Iterable[_Request],
                  on_reply: Callable[[_Request, P.Frame, bool], None] | None = None,
                  window: int | None = None, hello: bool = False) -> None:
        """Send requests with up to `window` in flight; call on_reply(request, reply frame,
        implicit) in request order. The first device error is raised once the requests
        already in flight are answered; nothing more is sent after it."""
        window = window or self.window
        it: Iterator[_Request] = iter(requests)
        pending: OrderedDict[int, _Pending] = OrderedDict()
        error: Exception | None = None
        exhausted = False
        self._recovering = None
        while True:
            while error is None and not exhausted and len(pending) < window:
                req = next(it, None)
                if req is None:
                    exhausted = True
                    break
                if not 1 <= req.cmd <= P.TYPE_REQUEST_LAST:
                    raise ValueError(f"command id 0x{req.cmd:02x} outside 0x01..0x7e")
                if self.info is not None and len(req.payload) > self.info.rx_max:
                    raise ValueError(f"{_name(req.cmd)}: a {len(req.payload)}-byte request does "
                                     f"not fit the device's {self.info.rx_max}-byte frames")
                seq = self.next_seq()
                p = _Pending(req, seq, P.encode_frame(req.cmd, seq, req.payload))
                pending[seq] = p
                self._send(p)
            while pending:
                first = next(iter(pending.values()))
                if first.reply is None:
                    break
                pending.popitem(last=False)
                if first.error is not None:
                    error = error or first.error
                elif error is None and on_reply is not None:
                    on_reply(first.req, first.reply, first.implicit)
            if not pending:
                if error is not None:
                    raise error
                if exhausted:
                    return
                continue
            frame = self._recv(self._deadline(pending))
            if frame is None:
                oldest = next(p for p in pending.values() if p.reply is None)
                if oldest.tries > self.retries:
                    raise DeviceTimeout(f"{self.port}: no reply to {_name(oldest.req.cmd)} "
                                        f"after {self.retries} retries")
                self._recovering = None
                for q in pending.values():
                    if q.reply is None:
                        self._send(q)
                continue
            self._dispatch(frame, pending, hello)

    def _dispatch(self, frame: P.Frame, pending, hello: bool) -> None:
        if frame.type == P.TYPE_BOOT:
            if hello:
                return
            boot = struct.unpack_from("<I", frame.payload)[0] if len(frame.payload) >= 4 else None
            raise DeviceReset(f"{self.port}: the device restarted (boot {boot})", boot)
        if frame.type == P.TYPE_LINK_ERROR:
            kst, info = frame.error_fields()
            if frame.status == Status.NO_SESSION and not hello:
                raise DeviceReset(f"{self.port}: the device has no session (it was reset)", info)
            if frame.status in P.LINK_STATUSES:
                if hello:
                    # A damaged HELLO: info is the previous session's expected seq, not ours.
                    for q in pending.values():
                        if q.reply is None:
                            self._send(q)
                else:
                    self._rewind(pending, info)
            return
        if not frame.is_reply:
            return
        p = pending.get(frame.seq)
        if p is None or p.req.cmd != frame.command or p.reply is not None or not frame.payload:
            return  # a late duplicate reply, or one to an earlier session
        status = frame.status
        if status == Status.NO_SESSION:
            if hello:
                return
            raise DeviceReset(f"{self.port}: the device has no session (it was reset)",
                              frame.error_fields()[1])
        if status == Status.SEQUENCE:
            self._rewind(pending, frame.error_fields()[1])
            return
        if status not in (Status.OK, Status.DUPLICATE):
            kst, info = frame.error_fields()
            p.error = DeviceError(status, kst, info, _name(p.req.cmd))
        p.reply = frame
        self._settle_before(pending, frame.seq, None)
        self._recovering = None

    def call(self, cmd: int, payload: bytes = b"") -> P.Frame:
        """One request, windowless; returns the reply frame (status OK or DUPLICATE)."""
        out: list[P.Frame] = []
        self._exchange([_Request(int(cmd), bytes(payload))],
                       lambda req, frame, implicit: out.append(frame), window=1)
        return out[0]

    def request(self, cmd: int, payload: bytes = b"") -> bytes:
        """One request, windowless; returns the reply data after the status byte."""
        return self.call(cmd, payload).payload[1:]

    # ------------------------------------------------------------ commands

    def connect(self) -> P.DeviceInfo:
        """Start a session (HELLO): flush what is in flight, pick a fresh sequence start."""
        self._deframer.clear()
        self._rx.clear()
        try:
            self._ser.reset_input_buffer()
        except (serial.SerialException, OSError) as e:
            raise FxLinkError(f"{self.port}: {e}") from e
        self._write(b"\0")  # ends any partial frame the device holds
        self._seq = random.randrange(1 << 16)
        self.info = None
        out: list[bytes] = []
        saved = self.timeout
        self.timeout = max(self.timeout, CONNECT_TIMEOUT)
        try:
            self._exchange([_Request(Cmd.HELLO, bytes([P.PROTO_MAJOR, P.PROTO_MINOR]))],
                           lambda req, frame, implicit: out.append(frame.payload[1:]),
                           window=1, hello=True)
        except DeviceError as e:
            if e.code == Status.VERSION:
                raise ProtocolError(f"{self.port}: device speaks protocol {e.info}.x, "
                                    f"this client {P.PROTO_MAJOR}.{P.PROTO_MINOR}") from e
            raise
        finally:
            self.timeout = saved
        self.info = P.DeviceInfo.parse(out[0])
        return self.info

    def echo(self, data: bytes) -> bytes:
        return self.request(Cmd.ECHO, data)

    def stats(self) -> P.Stats:
        return P.Stats.parse(self.request(Cmd.STATS))

    def reset(self, timeout: float = 5.0) -> P.DeviceInfo:
        """Software reset (RESET), wait for the BOOT event, start a new session."""
        self.request(Cmd.RESET)
        deadline = time.monotonic() + timeout
        while True:
            frame = self._recv(deadline)
            if frame is None:
                raise DeviceTimeout(f"{self.port}: no BOOT event after RESET")
            if frame.type == P.TYPE_BOOT:
                return self.connect()

    def link_test(self, nbytes: int, chunk: int = 256) -> LinkTest:
        """Raw echo of nbytes (LINK_TEST): the link's capacity without any framing."""
        pattern = (bytes(range(1, 256)) * (nbytes // 255 + 1))[:nbytes]
        self.request(Cmd.LINK_TEST, struct.pack("<I", nbytes))
        received = bytearray()
        sent = 0
        start = time.monotonic()
        deadline = start + self.timeout + 2 * nbytes / self.link_rate
        while len(received) < nbytes:
            # Keep a bounded amount in flight so neither side's buffers fill up.
            if sent < nbytes and sent - len(received) < 8 * chunk:
                self._write(pattern[sent:sent + chunk])
                sent = min(nbytes, sent + chunk)
                timeout = 0.0
            else:
                timeout = 0.05
            if time.monotonic() > deadline:
                raise DeviceTimeout(f"{self.port}: raw echo stalled at {len(received)}/{nbytes}")
            received += self._read_some(timeout)
        seconds = time.monotonic() - start
        if bytes(received[:nbytes]) != pattern:
            raise ProtocolError("raw echo returned different bytes")
        return LinkTest(nbytes, seconds)

    def upload(self, blob: bytes, progress: bool = False) -> P.ModelInfo:
        """Load a model blob in chunks; it becomes active only if every check passes."""
        blob = bytes(blob)
        chunk = self.info.rx_max - 4

        def requests():
            yield _Request(Cmd.UPLOAD_BEGIN, struct.pack("<II", len(blob), P.crc32(blob)), False)
            for off in range(0, len(blob), chunk):
                yield _Request(Cmd.UPLOAD_CHUNK, struct.pack("<I", off) + blob[off:off + chunk],
                               False, meta=min(chunk, len(blob) - off))
            yield _Request(Cmd.UPLOAD_COMMIT)

        out: list[P.ModelInfo] = []
        with tqdm(total=len(blob), unit="B", unit_scale=True, desc="upload",
                  disable=not progress) as bar:
            def on_reply(req, frame, implicit):
                if req.cmd == Cmd.UPLOAD_CHUNK:
                    bar.update(req.meta)
                elif req.cmd == Cmd.UPLOAD_COMMIT:
                    # A repeated COMMIT whose reply is no longer cached says only DUPLICATE.
                    dup = frame.status == Status.DUPLICATE and len(frame.payload) == 1
                    out.append(None if dup else P.ModelInfo.parse(frame.payload[1:]))
            self._exchange(requests(), on_reply)
        if out[0] is None:
            st = self.stats()
            if (st.model_len, st.model_crc) != (len(blob), P.crc32(blob)):
                raise ProtocolError("upload committed twice but the active model is not this blob")
            return P.ModelInfo(len(blob), st.model_crc, st.model_inputs, st.model_outputs, 0, 0)
        return out[0]

    def read_model(self, which: int = P.MODEL_ACTIVE, progress: bool = False) -> bytes:
        """The active model's blob (or the training copy) read back in chunks."""
        step = self.info.tx_max - 1 - 4
        first = self.request(Cmd.READ_MODEL, struct.pack("<BIH", which, 0, step))
        total = struct.unpack_from("<I", first)[0]
        parts = {0: first[4:]}
        requests = (_Request(Cmd.READ_MODEL, struct.pack("<BIH", which, off, step), meta=off)
                    for off in range(step, total, step))
        with tqdm(total=total, unit="B", unit_scale=True, desc="read", disable=not progress) as bar:
            bar.update(len(first) - 4)

            def on_reply(req, frame, implicit):
                parts[req.meta] = frame.payload[5:]
                bar.update(len(frame.payload) - 5)
            self._exchange(requests, on_reply)
        data = b"".join(parts[k] for k in sorted(parts))
        if len(data) != total:
            raise ProtocolError(f"read {len(data)} of {total} model bytes")
        return data

    def infer(self, x, outputs: bool = False, x_bytes: int | None = None,
              progress: bool = False) -> P.InferReply:
        """Classes (and int16 outputs) of integer samples x[n, inputs], in as few frames as
        the device's buffers allow."""
        x = np.atleast_2d(np.asarray(x))
        xb = x_bytes or P.x_bytes_for(x)
        n_out = self.stats().model_outputs if outputs else None
        per_in = x.shape[1] * xb
        per_out = 1 + (2 * n_out if n_out else 0)
        count = max(1, min((self.info.rx_max - P.INFER_HEADER) // max(1, per_in),
                           (self.info.tx_max - 1 - 6) // per_out, 65535))
        classes, outs, counter = [], [], 0
        with tqdm(total=len(x), unit="sample", desc="infer", disable=not progress) as bar:
            def on_reply(req, frame, implicit):
                nonlocal counter
                r = P.parse_infer(frame.payload[1:], req.meta, n_out)
                classes.append(r.classes)
                if outputs:
                    outs.append(r.outputs)
                counter += r.counter
                bar.update(req.meta)
            self._exchange((_Request(Cmd.INFER, P.pack_infer(x[i:i + count], xb, outputs),
                                     meta=len(x[i:i + count]))
                            for i in range(0, len(x), count)), on_reply)
        return P.InferReply(np.concatenate(classes) if classes else np.zeros(0, np.int64),
                            np.concatenate(outs) if outputs and outs else None, counter)

    def stream_begin(self, mode: int, x_bytes: int, first: int = 1,
                     config: bytes = b"") -> P.StreamInfo:
        payload = struct.pack("<BBI", mode, x_bytes, first) + bytes(config)
        return P.StreamInfo.parse(self.request(Cmd.STREAM_BEGIN, payload))

    def stream(self, mode: int, x, y, *, batch_size: int | None = None,
               x_bytes: int | None = None, config: bytes = b"", resume: bool = False,
               progress: bool = False, desc: str = "stream",
               on_batch: Callable[[P.BatchAck], None] | None = None) -> StreamResult:
        """Stream x[n, inputs], y[n] as BATCH frames. Each batch is applied exactly once; the
        result's totals come from the device's cumulative acknowledgements and are checked
        against what was sent. resume: after a device reset, start a new stream at the batch
        after the last acknowledged one and add up (EVAL only: a training copy does not
        survive a reset). on_batch(ack) is called for every acknowledgement with totals."""
        x = np.atleast_2d(np.asarray(x))
        y = np.asarray(y).reshape(-1)
        if len(x) != len(y):
            raise ValueError(f"{len(x)} samples but {len(y)} labels")
        xb = x_bytes or P.x_bytes_for(x)
        row = x.shape[1] * xb + 1
        fit = (self.info.rx_max - P.BATCH_HEADER) // row
        if fit < 1:
            raise ValueError(f"one sample ({row} bytes) does not fit the device's "
                             f"{self.info.rx_max}-byte frames")
        size = max(1, min(batch_size or DEFAULT_BATCH_SIZE, fit, 65535))
        n_batches = (len(x) + size - 1) // size
        result = StreamResult(mode, batches=n_batches, batch_size=size, last_bseq=n_batches,
                              payload_bytes=len(x) * row)
        # Totals at the last acknowledgement that carried them, and of streams before a reset.
        state = {"bseq": 0, "samples": 0, "correct": 0, "loss": 0}
        base = dict(state)
        before = self.counters.snapshot()
        start = time.monotonic()
        first = 1
        self.stream_begin(mode, xb, first, config)
        with tqdm(total=len(x), unit="sample", desc=desc, disable=not progress) as bar:
            def batches(first_bseq):
                for b in range(first_bseq, n_batches + 1):
                    i = (b - 1) * size
                    yield _Request(Cmd.BATCH, P.pack_batch(b, x[i:i + size], y[i:i + size], xb),
                                   needs_data=False, meta=b)

            def on_reply(req, frame, implicit):
                if implicit:
                    return  # a later acknowledgement carries the totals
                ack = P.BatchAck.parse(frame.payload[1:], frame.status == Status.DUPLICATE)
                # A resent batch the device had applied comes back DUPLICATE with the totals as
                # of its last applied batch, possibly a later one: batches apply in order, so
                # that proves this one too, and the totals are kept with their own bseq.
                if ack.last_bseq != req.meta and not (ack.duplicate and req.meta < ack.last_bseq <= n_batches):
                    raise ProtocolError(f"batch {req.meta} acknowledged as {ack.last_bseq}")
                if ack.last_bseq < state["bseq"]:
                    return  # older totals than those already held (a late reply)
                state.update(bseq=ack.last_bseq, samples=base["samples"] + ack.samples,
                             correct=base["correct"] + ack.correct, loss=base["loss"] + ack.loss)
                bar.update(state["samples"] - bar.n)
                if on_batch is not None:
                    on_batch(ack)

            while True:
                try:
                    self._exchange(batches(first), on_reply)
                    break
                except FxLinkError as e:
                    # Batches 1..last_bseq are applied for sure; the device's STATS last_bseq
                    # says exactly how many (later ones may be applied but unacknowledged).
                    e.last_bseq = state["bseq"]
                    if not isinstance(e, DeviceReset):
                        raise
                    if not resume or mode != P.STREAM_EVAL:
                        raise
                    # The device forgot its stream: start again after the last batch whose
                    # totals we hold, so every batch still counts exactly once.
                    result.resets += 1
                    base = dict(state)
                    first = state["bseq"] + 1
                    self.connect()
                    self.stream_begin(mode, xb, first, config)
            if state["bseq"] != n_batches:
                # The last batches were acknowledged only implicitly (their replies were lost,
                # then a NAK said they ran): the device's STATS hold this stream's totals.
                st = self.stats()
                if st.stream_mode == mode and st.last_bseq == n_batches:
                    state.update(bseq=n_batches, samples=base["samples"] + st.samples,
                                 correct=base["correct"] + st.correct, loss=base["loss"] + st.loss)
                    bar.update(state["samples"] - bar.n)
        result.samples, result.correct, result.loss = state["samples"], state["correct"], state["loss"]
        result.seconds = time.monotonic() - start
        result.link = self.counters.since(before)
        if state["bseq"] != n_batches or result.samples != len(x):
            raise ProtocolError(f"device acknowledged {result.samples} samples up to batch "
                                f"{state['bseq']}; {len(x)} samples in {n_batches} were sent")
        return result

    def evaluate(self, x, y, **kw) -> StreamResult:
        """Accuracy (and loss) of the active model on x, y, computed on the device."""
        kw.setdefault("desc", "evaluate")
        return self.stream(P.STREAM_EVAL, x, y, **kw)

    def train(self, x, y, config: bytes = b"", epochs: int = 1, **kw) -> StreamResult:
        """Stream x, y for on-device training (TRAIN); TRAIN_COMMIT makes it the model."""
        kw.setdefault("desc", "train")
        if epochs != 1:
            x = np.concatenate([np.asarray(x)] * epochs)
            y = np.concatenate([np.asarray(y)] * epochs)
        return self.stream(P.STREAM_TRAIN, x, y, config=config, **kw)

    def train_begin(self, config: bytes, x_bytes: int = 1, first: int = 1) -> P.StreamInfo:
        """Start a TRAIN stream over a copy of the active model (config: train_config)."""
        return self.stream_begin(P.STREAM_TRAIN, x_bytes, first, config)

    def batch(self, bseq: int, x, y, x_bytes: int = 1) -> P.BatchAck:
        """One BATCH (applied once by its batch sequence; a repeat is acknowledged DUPLICATE)."""
        frame = self.call(Cmd.BATCH, P.pack_batch(bseq, np.atleast_2d(x), np.asarray(y).reshape(-1), x_bytes))
        return P.BatchAck.parse(frame.payload[1:], frame.status == Status.DUPLICATE)

    def read_training(self) -> bytes:
        """The blob of the model being trained, with the weights of the last applied batch."""
        return self.read_model(P.MODEL_TRAINING)

    def train_commit(self) -> P.ModelInfo:
        return P.ModelInfo.parse(self.request(Cmd.TRAIN_COMMIT))
