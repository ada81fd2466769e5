"""Host side of the serial protocol (docs/protocol.md): frame codec, byte-stream deframer,
message layouts and the exceptions the client raises.

A mirror of ``firmware/protocol``: the constants must equal ``fx_proto.h`` (checked by
tests/test_protocol.py) and frames must be byte-identical to the C encoder's.
"""
from __future__ import annotations

import enum
import struct
import zlib
from dataclasses import dataclass, field

import numpy as np
from cobs import cobs

PROTO_MAJOR, PROTO_MINOR = 1, 0
FRAME_HEADER, FRAME_CRC = 3, 4
FRAME_OVERHEAD = FRAME_HEADER + FRAME_CRC
TYPE_REPLY = 0x80
TYPE_LINK_ERROR = 0x80
TYPE_BOOT = 0xFF
TYPE_REQUEST_LAST = 0x7E   # 0x7F is reserved: its reply type would be BOOT's
ERROR_PAYLOAD = 6
MAX_SEQ = 1 << 16


class Cmd(enum.IntEnum):
    HELLO = 0x01
    ECHO = 0x02
    LINK_TEST = 0x03
    STATS = 0x04
    RESET = 0x05
    UPLOAD_BEGIN = 0x10
    UPLOAD_CHUNK = 0x11
    UPLOAD_COMMIT = 0x12
    READ_MODEL = 0x13
    INFER = 0x20
    STREAM_BEGIN = 0x30
    BATCH = 0x31
    TRAIN_COMMIT = 0x32


class Status(enum.IntEnum):
    OK = 0x00
    DUPLICATE = 0x01
    CRC = 0x10
    FRAMING = 0x11
    OVERSIZE = 0x12
    SEQUENCE = 0x13
    NO_SESSION = 0x14
    TIMEOUT = 0x15
    UNKNOWN_CMD = 0x20
    LENGTH = 0x21
    VERSION = 0x22
    SHAPE = 0x23
    PARAM = 0x24
    STATE = 0x25
    NO_MODEL = 0x26
    TOO_BIG = 0x27
    BOUNDS = 0x28
    CHECKSUM = 0x29
    MODEL = 0x2A
    BATCH_SEQ = 0x2B
    UNSUPPORTED = 0x2C
    KERNEL = 0x2D


# Link-level statuses: a frame was lost or damaged; the client resends instead of failing.
LINK_STATUSES = frozenset({Status.CRC, Status.FRAMING, Status.OVERSIZE, Status.SEQUENCE,
                           Status.TIMEOUT})

FEATURE_INFER, FEATURE_EVAL, FEATURE_TRAIN, FEATURE_KEEPS_MODEL = 0x1, 0x2, 0x4, 0x8
INFER_OUTPUTS, INFER_X16 = 0x1, 0x2
STREAM_NONE, STREAM_EVAL, STREAM_TRAIN = 0, 1, 2
MODEL_ACTIVE, MODEL_TRAINING = 0, 1
UPLOAD_NONE, UPLOAD_RECEIVING, UPLOAD_COMPLETE = 0, 1, 2
HELLO_REPLY_FIXED = 33
STATS_REPLY = 120
MODEL_INFO = 17
BATCH_HEADER = 6
BATCH_REPLY = 16
INFER_HEADER = 3
STREAM_BEGIN_FIXED = 6

# Commands that are safe to run again on a duplicate frame (docs/protocol.md section 2).
REPLAYABLE = frozenset({Cmd.ECHO, Cmd.STATS, Cmd.READ_MODEL, Cmd.INFER, Cmd.BATCH})

# Kernel fx_status names (firmware/kernel/fx_status.h), for error messages.
KERNEL_STATUS = {0: "FX_OK", -1: "FX_ERR_NULL", -2: "FX_ERR_SHAPE", -3: "FX_ERR_BITS",
                 -4: "FX_ERR_FORMAT", -5: "FX_ERR_PARAM", -6: "FX_ERR_BUFFER",
                 -7: "FX_ERR_CORRUPT", -8: "FX_ERR_VERSION", -9: "FX_ERR_STATE"}


def wire_max(payload: int) -> int:
    """Largest encoded frame, delimiter included, for a payload of this many bytes."""
    body = payload + FRAME_OVERHEAD
    return body + body // 254 + 2


def crc32(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def seq_diff(seq: int, ref: int) -> int:
    """seq - ref as a signed distance in [-2^15, 2^15)."""
    d = (seq - ref) & 0xFFFF
    return d - MAX_SEQ if d >= 0x8000 else d


# ---------------------------------------------------------------- exceptions

class FxLinkError(Exception):
    """Base of every error the client raises about the device or the link."""


class ProtocolError(FxLinkError):
    """The device said something the protocol does not allow (or an incompatible version)."""


class DeviceError(FxLinkError):
    """The device refused a command: ``code`` is the reply status (a :class:`Status`)."""

    def __init__(self, code: int, kstatus: int = 0, info: int = 0, command: str = ""):
        self.code = code
        self.kstatus = kstatus
        self.info = info
        self.command = command
        try:
            self.name = Status(code).name
        except ValueError:
            self.name = f"0x{code:02x}"
        detail = f" ({KERNEL_STATUS.get(kstatus, kstatus)})" if kstatus else ""
        super().__init__(f"{command or 'device'}: {self.name}{detail}, info={info}")


class DeviceTimeout(FxLinkError, TimeoutError):
    """No answer after every retry."""


class DeviceReset(FxLinkError):
    """The device restarted (BOOT event or NO_SESSION): its session and stream are gone."""

    def __init__(self, message: str, boot_count: int | None = None, last_bseq: int | None = None):
        super().__init__(message)
        self.boot_count = boot_count
        self.last_bseq = last_bseq


# ---------------------------------------------------------------- frames

@dataclass(frozen=True)
class Frame:
    type: int
    seq: int
    payload: bytes

    @property
    def is_reply(self) -> bool:
        return self.type & TYPE_REPLY and self.type != TYPE_BOOT

    @property
    def command(self) -> int:
        return self.type & 0x7F

    @property
    def status(self) -> int:
        return self.payload[0] if self.payload else -1

    def error_fields(self) -> tuple[int, int]:
        """(kstatus, info) of an error reply."""
        if len(self.payload) != ERROR_PAYLOAD:
            raise ProtocolError(f"error reply of {len(self.payload)} bytes, expected {ERROR_PAYLOAD}")
        kstatus, info = struct.unpack("<bI", self.payload[1:])
        return kstatus, info


class FrameError(ValueError):
    """A received frame failed to decode; ``status`` is FRAMING or CRC."""

    def __init__(self, status: Status, message: str):
        super().__init__(message)
        self.status = status


def encode_frame(type_: int, seq: int, payload: bytes = b"") -> bytes:
    """The wire bytes of one frame, 0x00 delimiter included."""
    body = struct.pack("<BH", type_, seq & 0xFFFF) + bytes(payload)
    body += struct.pack("<I", crc32(body))
    return cobs.encode(body) + b"\0"


def decode_frame(wire: bytes) -> Frame:
    """Decode one frame's COBS bytes (without the delimiter). Raises FrameError."""
    try:
        body = cobs.decode(wire)
    except cobs.DecodeError as e:
        raise FrameError(Status.FRAMING, f"bad COBS: {e}") from None
    if len(body) < FRAME_OVERHEAD:
        raise FrameError(Status.FRAMING, f"frame body of {len(body)} bytes")
    if crc32(body[:-FRAME_CRC]) != struct.unpack("<I", body[-FRAME_CRC:])[0]:
        raise FrameError(Status.CRC, "CRC mismatch")
    type_, seq = struct.unpack("<BH", body[:FRAME_HEADER])
    return Frame(type_, seq, bytes(body[FRAME_HEADER:-FRAME_CRC]))


class Deframer:
    """Splits received bytes into frames at 0x00; garbage costs at most one bad frame. A frame
    longer than max_frame is dropped and reported OVERSIZE when it ends (like the C one)."""

    def __init__(self, max_frame: int = 1 << 20):
        self._buf = bytearray()
        self._max = max_frame
        self._dropping = False
        self.errors = 0

    def feed(self, data: bytes) -> list[Frame | FrameError]:
        out: list[Frame | FrameError] = []
        self._buf += data
        while True:
            end = self._buf.find(0)
            if end < 0:
                if len(self._buf) > self._max:
                    self._buf.clear()
                    self._dropping = True
                return out
            chunk = bytes(self._buf[:end])
            del self._buf[:end + 1]
            if self._dropping or len(chunk) > self._max:
                self._dropping = False
                self.errors += 1
                out.append(FrameError(Status.OVERSIZE, "frame too long"))
                continue
            if not chunk:
                continue
            try:
                out.append(decode_frame(chunk))
            except FrameError as e:
                self.errors += 1
                out.append(e)

    def clear(self) -> None:
        self._buf.clear()
        self._dropping = False


# ---------------------------------------------------------------- messages

@dataclass(frozen=True)
class DeviceInfo:
    """The HELLO reply (docs/protocol.md 3.1)."""
    proto: tuple[int, int]
    firmware: tuple[int, int, int]
    kernel: tuple[int, int]
    counter_kind: int
    features: int
    window: int
    max_layers: int
    rx_max: int
    tx_max: int
    model_max: int
    work_max: int
    boot_count: int
    max_fan_in: int
    board: str

    COUNTER_KINDS = ("none", "instructions", "cycles", "microseconds")

    @classmethod
    def parse(cls, data: bytes) -> "DeviceInfo":
        if len(data) < HELLO_REPLY_FIXED or len(data) != HELLO_REPLY_FIXED + data[32]:
            raise ProtocolError(f"HELLO reply of {len(data)} bytes")
        f = struct.unpack("<BBBBBBBBHBBHHIIII", data[:32])
        return cls(proto=f[0:2], firmware=f[2:5], kernel=f[5:7], counter_kind=f[7],
                   features=f[8], window=f[9], max_layers=f[10], rx_max=f[11], tx_max=f[12],
                   model_max=f[13], work_max=f[14], boot_count=f[15], max_fan_in=f[16],
                   board=data[HELLO_REPLY_FIXED:].decode("utf-8", "replace"))

    @property
    def counter_name(self) -> str:
        k = self.counter_kind
        return self.COUNTER_KINDS[k] if k < len(self.COUNTER_KINDS) else str(k)

    def has(self, feature: int) -> bool:
        return bool(self.features & feature)


@dataclass(frozen=True)
class Stats:
    """The STATS reply (docs/protocol.md 3.2)."""
    model_present: bool
    upload_state: int
    stream_mode: int
    counter_kind: int
    model_len: int
    model_crc: int
    upload_received: int
    last_bseq: int
    batches: int
    samples: int
    correct: int
    loss: int
    steps: int
    accepted: int
    idle: int
    compensations: int
    train_loss: int
    counter_last: int
    counter_total: int
    frames_ok: int
    crc_errors: int
    framing_errors: int
    oversize: int
    seq_gaps: int
    duplicates: int
    timeouts: int
    ram_static: int
    model_slots: int
    work_bytes: int
    train_bytes: int
    uptime_ms: int
    boot_count: int
    model_inputs: int
    model_outputs: int

    _FORMAT = "<BBBB7Ii4Ii15IHH"

    @classmethod
    def parse(cls, data: bytes) -> "Stats":
        if len(data) != STATS_REPLY:
            raise ProtocolError(f"STATS reply of {len(data)} bytes, expected {STATS_REPLY}")
        f = list(struct.unpack(cls._FORMAT, data))
        f[0] = bool(f[0])
        return cls(*f)


assert struct.calcsize(Stats._FORMAT) == STATS_REPLY


@dataclass(frozen=True)
class ModelInfo:
    """A committed model (UPLOAD_COMMIT, TRAIN_COMMIT reply)."""
    length: int
    crc: int
    inputs: int
    outputs: int
    layers: int
    work: int

    @classmethod
    def parse(cls, data: bytes) -> "ModelInfo":
        if len(data) != MODEL_INFO:
            raise ProtocolError(f"model info of {len(data)} bytes, expected {MODEL_INFO}")
        return cls(*struct.unpack("<IIHHBI", data))


@dataclass(frozen=True)
class StreamInfo:
    inputs: int
    outputs: int
    batch_max: int

    @classmethod
    def parse(cls, data: bytes) -> "StreamInfo":
        if len(data) != 6:
            raise ProtocolError(f"STREAM_BEGIN reply of {len(data)} bytes")
        return cls(*struct.unpack("<HHH", data))


@dataclass(frozen=True)
class BatchAck:
    """A BATCH reply: the stream's cumulative state after the last applied batch."""
    last_bseq: int
    samples: int
    correct: int
    loss: int
    duplicate: bool = False

    @classmethod
    def parse(cls, data: bytes, duplicate: bool = False) -> "BatchAck":
        if len(data) != BATCH_REPLY:
            raise ProtocolError(f"BATCH reply of {len(data)} bytes, expected {BATCH_REPLY}")
        return cls(*struct.unpack("<IIIi", data), duplicate=duplicate)


def x_bytes_for(x: np.ndarray) -> int:
    """1 if every value fits int8, else 2 (values must fit int16)."""
    x = np.asarray(x)
    if x.size and (x.min() < -32768 or x.max() > 32767):
        raise ValueError("sample values must fit int16")
    return 1 if x.size == 0 or (x.min() >= -128 and x.max() <= 127) else 2


def pack_samples(x: np.ndarray, x_bytes: int) -> bytes:
    """Rows of int8 or little-endian int16, as the device unpacks them."""
    if not np.issubdtype(np.asarray(x).dtype, np.integer):
        raise TypeError("samples must be integers (quantize them first)")
    dtype = np.int8 if x_bytes == 1 else np.dtype("<i2")
    lo, hi = (-128, 127) if x_bytes == 1 else (-32768, 32767)
    x = np.asarray(x)
    if x.size and (x.min() < lo or x.max() > hi):
        raise ValueError(f"sample values outside the int{8 * x_bytes} range")
    return np.ascontiguousarray(x, dtype=dtype).tobytes()


def pack_batch(bseq: int, x: np.ndarray, labels: np.ndarray, x_bytes: int) -> bytes:
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() > 255):
        raise ValueError("labels must be 0..255")
    return (struct.pack("<IH", bseq, len(x)) + pack_samples(x, x_bytes)
            + np.asarray(labels, dtype=np.uint8).tobytes())


def pack_infer(x: np.ndarray, x_bytes: int, outputs: bool) -> bytes:
    flags = (INFER_OUTPUTS if outputs else 0) | (INFER_X16 if x_bytes == 2 else 0)
    return struct.pack("<BH", flags, len(x)) + pack_samples(x, x_bytes)


@dataclass
class InferReply:
    classes: np.ndarray
    outputs: np.ndarray | None
    counter: int


def parse_infer(data: bytes, count: int, n_out: int | None) -> InferReply:
    """n_out: outputs per sample when they were requested, else None."""
    per = 1 + (2 * n_out if n_out else 0)
    if len(data) != 2 + count * per + 4 or struct.unpack_from("<H", data)[0] != count:
        raise ProtocolError(f"INFER reply of {len(data)} bytes for {count} samples")
    classes = np.frombuffer(data, np.uint8, count, 2).astype(np.int64)
    outputs = None
    if n_out:
        outputs = np.frombuffer(data, "<i2", count * n_out, 2 + count).reshape(count, n_out)
        outputs = outputs.astype(np.int16)
    counter = struct.unpack_from("<I", data, 2 + count * per)[0]
    return InferReply(classes, outputs, counter)


@dataclass
class LinkCounters:
    """Bytes and frames the client moved: the numerator and denominator of link efficiency."""
    wire_tx: int = 0
    wire_rx: int = 0
    frames_tx: int = 0
    frames_rx: int = 0
    resent: int = 0
    bad_frames: int = 0
    extra: dict = field(default_factory=dict)

    def snapshot(self) -> "LinkCounters":
        return LinkCounters(self.wire_tx, self.wire_rx, self.frames_tx, self.frames_rx,
                            self.resent, self.bad_frames)

    def since(self, before: "LinkCounters") -> "LinkCounters":
        return LinkCounters(self.wire_tx - before.wire_tx, self.wire_rx - before.wire_rx,
                            self.frames_tx - before.frames_tx, self.frames_rx - before.frames_rx,
                            self.resent - before.resent, self.bad_frames - before.bad_frames)

    @property
    def wire(self) -> int:
        return self.wire_tx + self.wire_rx
