"""Malformed input is refused with an error code, never accepted and never UB: every truncation
and every single-byte corruption of a reference model blob (C loader) and of a frame of each
type (C frame decoder), and the same through the firmware app's dispatcher running on the memory
board (tests/fuzz/fx_board_mem.c, built as build/fuzz/libfxapp_mem.so, 8 KiB profile): damaged
frames get link-level error replies and execute nothing; requests of the wrong length get
LENGTH/SHAPE/... replies; uploads of damaged blobs are refused and leave the last good model
active. The reference blob and the frames come from the host writer and codec."""
from __future__ import annotations

import ctypes as C
import fcntl
import struct
import subprocess
import sys

import numpy as np
import pytest

from fxlearn import blob
from fxlearn import protocol as P
from fxlearn.board import _build_native
from fxlearn.paths import source_root
from fxlearn.protocol import Cmd, Status

ROOT = source_root()
sys.path.insert(0, str(ROOT / "tests" / "fuzz"))
from gen_corpus import reference_blob, small_model  # noqa: E402

LINK_ERRORS = {Status.CRC, Status.FRAMING, Status.OVERSIZE}


def make(target: str) -> None:
    lock_path = ROOT / "build" / ".make.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        r = subprocess.run(["make", "-s", "-C", str(ROOT), target], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.fixture(scope="module")
def codec():
    _build_native()
    lib = C.CDLL(str(ROOT / "build" / "native-board" / "libfxproto.so"))
    lib.fx_frame_decode.restype = C.c_int
    lib.fx_frame_decode.argtypes = [C.c_char_p, C.c_size_t, C.c_void_p, C.c_size_t, C.c_void_p]
    return lib


class MemApp:
    """The firmware app on the memory board, through ctypes."""

    def __init__(self):
        make("fuzz-lib")
        lib = C.CDLL(str(ROOT / "build" / "fuzz" / "libfxapp_mem.so"))
        lib.fx_mem_app_start.restype = C.c_int
        lib.fx_mem_app_start.argtypes = [C.c_char_p, C.c_size_t]
        lib.fx_mem_app_feed.restype = C.c_long
        lib.fx_mem_app_feed.argtypes = [C.c_char_p, C.c_size_t, C.c_long]
        lib.fx_mem_app_take.restype = C.c_size_t
        lib.fx_mem_app_take.argtypes = [C.c_void_p, C.c_size_t]
        for name in ("fx_mem_app_rx_max", "fx_mem_app_tx_max", "fx_mem_app_model_max"):
            getattr(lib, name).restype = C.c_size_t
        self.lib = lib
        self.rx_max = lib.fx_mem_app_rx_max()
        self.out = C.create_string_buffer(1 << 16)
        self.seq = 0

    def start(self, model: bytes = b"") -> list[P.Frame]:
        """Boot (with `model` committed) and open a session; returns the HELLO reply."""
        assert self.lib.fx_mem_app_start(model, len(model)) == (1 if model else 0)
        self.take()
        self.seq = 100
        return self.request(Cmd.HELLO, bytes([P.PROTO_MAJOR, P.PROTO_MINOR]))

    def feed(self, wire: bytes) -> list[P.Frame]:
        assert self.lib.fx_mem_app_feed(wire, len(wire), 64 * len(wire) + 256) >= 0
        return self.take()

    def take(self) -> list[P.Frame]:
        n = self.lib.fx_mem_app_take(self.out, len(self.out))
        frames = P.Deframer().feed(self.out.raw[:n])
        assert all(isinstance(f, P.Frame) for f in frames), "the device sent a damaged frame"
        return frames

    def request(self, cmd: int, payload: bytes = b"") -> list[P.Frame]:
        wire = P.encode_frame(cmd, self.seq, payload)
        self.seq = (self.seq + 1) & 0xFFFF
        return self.feed(wire)

    def status(self, cmd: int, payload: bytes = b"") -> int:
        replies = self.request(cmd, payload)
        assert len(replies) == 1 and replies[0].type == P.TYPE_REPLY | cmd
        return replies[0].status

    def stats(self) -> P.Stats:
        (reply,) = self.request(Cmd.STATS)
        return P.Stats.parse(reply.payload[1:])

    def upload(self, data: bytes) -> int:
        """Status of UPLOAD_COMMIT after a complete upload of data."""
        assert self.status(Cmd.UPLOAD_BEGIN, struct.pack("<II", len(data), P.crc32(data))) == Status.OK
        step = self.rx_max - 4
        for off in range(0, len(data), step):
            assert self.status(Cmd.UPLOAD_CHUNK, struct.pack("<I", off) + data[off:off + step]) == Status.OK
        return self.status(Cmd.UPLOAD_COMMIT)


@pytest.fixture(scope="module")
def app():
    return MemApp()


REF = reference_blob()
X8 = np.arange(-12, 12).reshape(3, 8)


def request_payloads() -> dict[int, bytes]:
    """A valid request of each command (for the reference model, no stream yet)."""
    return {Cmd.HELLO: bytes([1, 0]), Cmd.ECHO: b"echo\0me", Cmd.LINK_TEST: struct.pack("<I", 0),
            Cmd.STATS: b"", Cmd.RESET: b"", Cmd.UPLOAD_BEGIN: struct.pack("<II", 64, 0),
            Cmd.UPLOAD_CHUNK: struct.pack("<I", 0) + bytes(range(1, 30)),
            Cmd.UPLOAD_COMMIT: b"", Cmd.READ_MODEL: struct.pack("<BIH", 0, 0, 32),
            Cmd.INFER: P.pack_infer(X8, 1, True),
            Cmd.STREAM_BEGIN: struct.pack("<BBI", P.STREAM_EVAL, 1, 1),
            Cmd.BATCH: P.pack_batch(1, X8, np.array([0, 1, 3]), 1), Cmd.TRAIN_COMMIT: b""}


def all_frames() -> list[tuple[str, bytes]]:
    """One wire frame (without delimiter) of every request, reply and event type."""
    out = [(c.name, P.encode_frame(c, 0x1234, p)[:-1]) for c, p in request_payloads().items()]
    out += [("BATCH reply", P.encode_frame(P.TYPE_REPLY | Cmd.BATCH, 7, bytes(17))[:-1]),
            ("link error", P.encode_frame(P.TYPE_LINK_ERROR, 9, bytes([Status.CRC, 0, 9, 0, 0, 0]))[:-1]),
            ("BOOT", P.encode_frame(P.TYPE_BOOT, 0, struct.pack("<IBI", 2, 1, 0xCAFEF00D))[:-1])]
    return out


def corruptions(data: bytes):
    """Every single-byte corruption: each position, each of the 255 other values."""
    for i in range(len(data)):
        for v in range(256):
            if v != data[i]:
                yield i, data[:i] + bytes([v]) + data[i + 1:]


# ------------------------------------------------------------------ the C frame decoder

@pytest.mark.parametrize("name,wire", all_frames(), ids=[n for n, _ in all_frames()])
def test_every_truncation_and_byte_corruption_of_a_frame_is_rejected(codec, name, wire):
    body = C.create_string_buffer(8192)
    frame = C.create_string_buffer(64)
    assert codec.fx_frame_decode(wire, len(wire), body, len(body), frame) == 0
    for k in range(len(wire)):
        assert codec.fx_frame_decode(wire[:k], k, body, len(body), frame) in LINK_ERRORS, k
    n = 0
    for i, bad in corruptions(wire):
        assert codec.fx_frame_decode(bad, len(bad), body, len(body), frame) in LINK_ERRORS, i
        n += 1
    assert n == 255 * len(wire)


# ------------------------------------------------------------------ the C blob loader

def test_every_truncation_and_byte_corruption_of_the_blob_is_rejected(kernel):
    assert blob.CBlob(kernel, REF).status == 0
    for k in range(len(REF)):
        assert blob.CBlob(kernel, REF[:k]).status < 0, k
    rejected = 0
    for i, bad in corruptions(REF):
        assert blob.CBlob(kernel, bad).status < 0, i
        rejected += 1
    assert rejected == 255 * len(REF)


def test_python_reader_rejects_the_same(kernel):
    blob.read_blob(REF)
    for k in range(0, len(REF), 3):
        with pytest.raises(ValueError):
            blob.read_blob(REF[:k])
    for i in range(len(REF)):
        bad = REF[:i] + bytes([REF[i] ^ 0x41]) + REF[i + 1:]
        with pytest.raises(ValueError):
            blob.read_blob(bad)


# ------------------------------------------------------------------ through the dispatcher

@pytest.mark.parametrize("cmd", list(request_payloads()), ids=lambda c: Cmd(c).name)
def test_damaged_frames_get_link_errors_and_execute_nothing(app, cmd):
    app.start(REF)
    before = app.stats()
    wire = P.encode_frame(cmd, app.seq, request_payloads()[cmd])[:-1]
    for k in range(1, len(wire)):
        replies = app.feed(wire[:k] + b"\0")
        assert replies and all(r.type == P.TYPE_LINK_ERROR and r.status in LINK_ERRORS
                               for r in replies), k
    for i in range(len(wire)):
        for v in (wire[i] ^ 0x01, wire[i] ^ 0xA5, 0):
            if v == wire[i]:
                continue
            replies = app.feed(wire[:i] + bytes([v]) + wire[i + 1:] + b"\0")
            assert replies and all(r.type == P.TYPE_LINK_ERROR and r.status in LINK_ERRORS
                                   for r in replies), (i, v)
    after = app.stats()
    # Nothing ran: the session's next seq is where it was, the model and stream untouched.
    assert (after.frames_ok, after.model_crc, after.stream_mode, after.upload_state) == \
        (before.frames_ok + 1, before.model_crc, before.stream_mode, before.upload_state)


FIXED_LENGTH = {Cmd.HELLO, Cmd.LINK_TEST, Cmd.STATS, Cmd.RESET, Cmd.UPLOAD_BEGIN,
                Cmd.UPLOAD_COMMIT, Cmd.READ_MODEL, Cmd.INFER, Cmd.STREAM_BEGIN, Cmd.BATCH,
                Cmd.TRAIN_COMMIT}


@pytest.mark.parametrize("cmd", sorted(FIXED_LENGTH), ids=lambda c: Cmd(c).name)
def test_requests_of_a_wrong_length_are_refused(app, cmd):
    good = request_payloads()[cmd]
    wrong = [good[:k] for k in range(len(good))] + [good + b"\0", good + bytes(5)]
    for payload in wrong:
        app.start(REF)
        if cmd == Cmd.BATCH:
            assert app.status(Cmd.STREAM_BEGIN, request_payloads()[Cmd.STREAM_BEGIN]) == Status.OK
        if cmd == Cmd.UPLOAD_COMMIT:
            assert app.status(Cmd.UPLOAD_BEGIN, struct.pack("<II", 4, 0)) == Status.OK
        st = app.status(cmd, payload)
        assert st not in (Status.OK, Status.DUPLICATE), (len(payload), st)


def test_reserved_and_reply_types_get_unknown_command_not_a_boot_event(app):
    """Fuzzer find (tests/fuzz/regressions/dispatch/reply_type_7f_looks_like_boot): a request
    of type 0x7F was answered with type 0xFF, the BOOT event's, so a client took it for a
    reset."""
    app.start(REF)
    for t in (0x00, 0x7F, 0x80, 0x85, 0xFE, 0xFF):
        replies = app.request(t)
        assert len(replies) == 1
        assert replies[0].type == P.TYPE_LINK_ERROR and replies[0].status == Status.UNKNOWN_CMD
        assert replies[0].error_fields()[1] == t
    assert P.TYPE_REQUEST_LAST == 0x7E


def test_truncated_or_corrupted_uploads_keep_the_last_good_model(app):
    app.start(REF)
    good_crc = app.stats().model_crc
    other = blob.write_blob(small_model(9))
    for k in range(1, len(other), 7):
        assert app.upload(other[:k]) == Status.MODEL, k
    for i in range(len(other)):
        st = app.upload(other[:i] + bytes([other[i] ^ 0x10]) + other[i + 1:])
        assert st in (Status.MODEL, Status.TOO_BIG), i
        assert app.stats().model_crc == good_crc
    assert app.upload(other) == Status.OK
    assert app.stats().model_crc == P.crc32(other)


def test_reset_mid_upload_keeps_the_last_good_model(app):
    app.start(REF)
    other = blob.write_blob(small_model(9))
    assert app.status(Cmd.UPLOAD_BEGIN, struct.pack("<II", len(other), P.crc32(other))) == Status.OK
    assert app.status(Cmd.UPLOAD_CHUNK, struct.pack("<I", 0) + other[:100]) == Status.OK
    replies = app.request(Cmd.RESET)      # the reply, then the board resets: a BOOT event
    assert [r.type for r in replies] == [P.TYPE_REPLY | Cmd.RESET, P.TYPE_BOOT]
    app.seq = 500
    app.request(Cmd.HELLO, bytes([1, 0]))
    st = app.stats()
    assert st.model_crc == P.crc32(REF) and st.upload_state == P.UPLOAD_NONE
    assert app.status(Cmd.UPLOAD_COMMIT) == Status.STATE
