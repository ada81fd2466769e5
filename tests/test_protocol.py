"""The frame codec: the host's protocol.py against the firmware's C (firmware/protocol, through
ctypes): the same bytes on the wire, the same verdicts on damaged input, the same constants."""
from __future__ import annotations

import ctypes as C
import os
import re
import struct
import zlib

import numpy as np
import pytest
from cobs import cobs
from hypothesis import given, settings, strategies as st

from fxlearn import protocol as P
from fxlearn.board import _build_native
from fxlearn.paths import source_root

u8p = C.POINTER(C.c_uint8)


class CFrame(C.Structure):
    _fields_ = [("type", C.c_uint8), ("seq", C.c_uint16), ("payload", u8p), ("len", C.c_size_t)]


class CDeframer(C.Structure):
    _fields_ = [("buf", u8p), ("cap", C.c_size_t), ("len", C.c_size_t), ("dropping", C.c_uint8),
                ("ready", C.c_uint8)]


@pytest.fixture(scope="module")
def proto_c():
    """The C codec; FXLEARN_PROTO_LIB names another build (the sanitizer one)."""
    override = os.environ.get("FXLEARN_PROTO_LIB")
    if not override:
        _build_native()
    lib = C.CDLL(str(source_root() / (override or "build/native-board/libfxproto.so")))
    lib.fx_crc32.restype, lib.fx_crc32.argtypes = C.c_uint32, [C.c_uint32, C.c_char_p, C.c_size_t]
    lib.fx_cobs_encode.restype = C.c_size_t
    lib.fx_cobs_encode.argtypes = [C.c_char_p, C.c_size_t, u8p, C.c_size_t]
    lib.fx_cobs_decode.restype = C.c_int
    lib.fx_cobs_decode.argtypes = [C.c_char_p, C.c_size_t, u8p, C.c_size_t, C.POINTER(C.c_size_t)]
    lib.fx_frame_encode.restype = C.c_size_t
    lib.fx_frame_encode.argtypes = [C.c_uint8, C.c_uint16, u8p, C.c_size_t, u8p, C.c_size_t]
    lib.fx_frame_decode.restype = C.c_int
    lib.fx_frame_decode.argtypes = [u8p, C.c_size_t, u8p, C.c_size_t, C.POINTER(CFrame)]
    lib.fx_deframer_init.argtypes = [C.POINTER(CDeframer), u8p, C.c_size_t]
    lib.fx_deframer_push.restype = C.c_int
    lib.fx_deframer_push.argtypes = [C.POINTER(CDeframer), C.c_uint8]
    lib.fx_seq_diff.restype, lib.fx_seq_diff.argtypes = C.c_int32, [C.c_uint16, C.c_uint16]
    return lib


def buf(data: bytes, size: int | None = None):
    size = len(data) if size is None else size
    b = (C.c_uint8 * max(1, size))()
    C.memmove(b, data, len(data))
    return b


def c_encode_frame(lib, type_, seq, payload: bytes, cap=None) -> bytes:
    cap = P.wire_max(len(payload)) if cap is None else cap
    out = (C.c_uint8 * cap)()
    n = lib.fx_frame_encode(type_, seq, buf(payload) if payload else None, len(payload), out, cap)
    return bytes(out[:n])


GUARD = 0xA5


def c_decode_frame(lib, wire: bytes, cap: int):
    """(status, frame or None); fails the test if the decoder writes past cap."""
    body = (C.c_uint8 * (cap + 16))(*([GUARD] * (cap + 16)))
    f = CFrame()
    st = lib.fx_frame_decode(buf(wire), len(wire), body, cap, C.byref(f))
    assert bytes(body[cap:]) == bytes([GUARD] * 16), "decoder wrote outside its buffer"
    if st != 0:
        return st, None
    return st, P.Frame(f.type, f.seq, C.string_at(f.payload, f.len))


# ------------------------------------------------------------------ constants

def header_constants() -> dict[str, int]:
    text = (source_root() / "firmware" / "protocol" / "fx_proto.h").read_text()
    found = {m[0]: int(m[1], 0) for m in re.findall(r"\b(FX_\w+)\s*=\s*(0x[0-9A-Fa-f]+|\d+)", text)}
    found.update({m[0]: int(m[1], 0) for m in
                  re.findall(r"#define\s+(FX_\w+)\s+\(?(0x[0-9A-Fa-f]+|\d+)u?\)?\s*(?:/\*|$)", text, re.M)})
    return found


def test_constants_match_the_c_header():
    c = header_constants()
    assert {k[len("FX_CMD_"):]: v for k, v in c.items() if k.startswith("FX_CMD_")} == \
        {m.name: m.value for m in P.Cmd}
    assert {k[len("FX_ST_"):]: v for k, v in c.items() if k.startswith("FX_ST_")} == \
        {m.name: m.value for m in P.Status}
    pairs = {"FX_PROTO_MAJOR": P.PROTO_MAJOR, "FX_PROTO_MINOR": P.PROTO_MINOR,
             "FX_FRAME_HEADER": P.FRAME_HEADER, "FX_FRAME_CRC": P.FRAME_CRC,
             "FX_TYPE_BOOT": P.TYPE_BOOT, "FX_ERROR_PAYLOAD": P.ERROR_PAYLOAD,
             "FX_FEATURE_INFER": P.FEATURE_INFER, "FX_FEATURE_EVAL": P.FEATURE_EVAL,
             "FX_FEATURE_TRAIN": P.FEATURE_TRAIN, "FX_FEATURE_KEEPS_MODEL": P.FEATURE_KEEPS_MODEL,
             "FX_INFER_OUTPUTS": P.INFER_OUTPUTS, "FX_INFER_X16": P.INFER_X16,
             "FX_STREAM_EVAL": P.STREAM_EVAL, "FX_STREAM_TRAIN": P.STREAM_TRAIN,
             "FX_MODEL_TRAINING": P.MODEL_TRAINING, "FX_UPLOAD_COMPLETE": P.UPLOAD_COMPLETE,
             "FX_HELLO_REPLY_FIXED": P.HELLO_REPLY_FIXED, "FX_STATS_REPLY": P.STATS_REPLY,
             "FX_MODEL_INFO": P.MODEL_INFO, "FX_BATCH_HEADER": P.BATCH_HEADER,
             "FX_BATCH_REPLY": P.BATCH_REPLY, "FX_INFER_HEADER": P.INFER_HEADER,
             "FX_STREAM_BEGIN_FIXED": P.STREAM_BEGIN_FIXED}
    assert {k: c[k] for k in pairs} == pairs


# ------------------------------------------------------------------ CRC and COBS

@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600), st.integers(0, 2**32 - 1))
def test_crc32_is_zlibs(proto_c, data, start):
    assert proto_c.fx_crc32(start, data, len(data)) == zlib.crc32(data, start)


# Long non-zero runs hit COBS's 254-byte block boundary; zeros hit the short blocks.
payloads = st.one_of(
    st.binary(max_size=700),
    st.builds(lambda n, b, tail: bytes([b]) * n + tail, st.integers(0, 800), st.integers(1, 255),
              st.binary(max_size=3)),
    st.lists(st.sampled_from([0, 1, 255]), max_size=600).map(bytes))


@settings(max_examples=300, deadline=None)
@given(payloads)
def test_cobs_c_encoding_is_byte_identical_and_decodes_back(proto_c, data):
    cap = len(data) + len(data) // 254 + 1
    out = (C.c_uint8 * cap)()
    n = proto_c.fx_cobs_encode(data, len(data), out, cap)
    assert bytes(out[:n]) == cobs.encode(data)
    assert 0 not in bytes(out[:n])
    dec = (C.c_uint8 * max(1, len(data)))()
    got = C.c_size_t()
    assert proto_c.fx_cobs_decode(bytes(out[:n]), n, dec, len(data), C.byref(got)) == 0
    assert bytes(dec[:got.value]) == data


def test_cobs_encode_reports_a_short_buffer(proto_c):
    data = b"\x01" * 300                      # needs 302 bytes
    out = (C.c_uint8 * 302)()
    assert proto_c.fx_cobs_encode(data, len(data), out, 301) == 0
    assert proto_c.fx_cobs_encode(data, len(data), out, 302) == 302
    assert bytes(out) == cobs.encode(data)


@pytest.mark.parametrize("wire, verdict", [
    (b"\x05\x01\x02", -1),                    # block runs past the end
    (b"\x03\x01\x00\x04", -1),                # a zero inside
    (b"\x00", -1),
    (b"\x02\x01\x02\x01", 0),
])
def test_cobs_decode_verdicts(proto_c, wire, verdict):
    out = (C.c_uint8 * 16)()
    n = C.c_size_t()
    assert proto_c.fx_cobs_decode(wire, len(wire), out, 16, C.byref(n)) == verdict
    if verdict == 0:
        assert bytes(out[:n.value]) == cobs.decode(wire)


# ------------------------------------------------------------------ frames

@settings(max_examples=300, deadline=None)
@given(st.integers(0, 255), st.integers(0, 0xFFFF), payloads)
def test_c_and_host_frames_are_identical(proto_c, type_, seq, payload):
    wire = P.encode_frame(type_, seq, payload)
    assert c_encode_frame(proto_c, type_, seq, payload) == wire
    assert len(wire) <= P.wire_max(len(payload))
    assert wire.count(0) == 1 and wire[-1] == 0
    assert P.decode_frame(wire[:-1]) == P.Frame(type_, seq, payload)
    assert c_decode_frame(proto_c, wire[:-1], len(payload) + 7) == (0, P.Frame(type_, seq, payload))


def test_encoder_refuses_a_buffer_one_byte_short(proto_c):
    payload = bytes(range(1, 200))
    need = len(P.encode_frame(1, 2, payload))
    assert c_encode_frame(proto_c, 1, 2, payload, cap=need - 1) == b""
    assert len(c_encode_frame(proto_c, 1, 2, payload, cap=need)) == need


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 1200), st.integers(1, 255), st.integers(0, 2**32 - 1))
def test_in_place_encoding_matches(proto_c, n, fill, seed):
    """A reply built inside the output buffer at FX_FRAME_INPLACE_OFFSET(pmax) encodes to the
    same bytes as from a separate buffer, even for the worst case (no zero bytes)."""
    pmax = 1200
    rng = np.random.default_rng(seed)
    payload = bytes(rng.integers(1, 256, n, dtype=np.uint8)) if seed % 2 else bytes([fill]) * n
    offset = P.FRAME_HEADER + 1 + (pmax + P.FRAME_OVERHEAD) // 254
    cap = P.wire_max(pmax)
    out = (C.c_uint8 * cap)()
    C.memmove(C.byref(out, offset), payload, n)
    got = proto_c.fx_frame_encode(0x82, 7, C.cast(C.byref(out, offset), u8p), n, out, cap)
    assert bytes(out[:got]) == P.encode_frame(0x82, 7, payload)


def damaged(wire: bytes, rng) -> bytes:
    w = bytearray(wire)
    kind = rng.integers(4)
    i = int(rng.integers(len(w)))
    if kind == 0:
        w[i] ^= 1 << int(rng.integers(8))
    elif kind == 1:
        del w[i]
    elif kind == 2:
        w.insert(i, int(rng.integers(256)))
    else:
        w = w[:i]
    return bytes(w)


@settings(max_examples=400, deadline=None)
@given(payloads, st.integers(0, 2**32 - 1))
def test_damaged_frames_get_the_same_verdict_from_c_and_host(proto_c, payload, seed):
    rng = np.random.default_rng(seed)
    wire = damaged(P.encode_frame(0x31, 1234, payload)[:-1], rng)
    try:
        host = (0, P.decode_frame(wire))
    except P.FrameError as e:
        host = (int(e.status), None)
    if 0 in wire:
        return                               # never handed to a decoder: the deframer splits it
    # A body is never longer than its encoding: with this cap OVERSIZE cannot happen.
    assert c_decode_frame(proto_c, wire, len(wire) + 1) == host


def test_decode_verdicts(proto_c):
    good = P.encode_frame(0x02, 9, b"abc")[:-1]
    body = cobs.decode(good)
    bad_crc = cobs.encode(body[:-1] + bytes([body[-1] ^ 0x80]))
    short = cobs.encode(b"\x01\x02\x03\x04\x05\x06")
    assert c_decode_frame(proto_c, bad_crc, 64)[0] == P.Status.CRC
    assert c_decode_frame(proto_c, short, 64)[0] == P.Status.FRAMING
    assert c_decode_frame(proto_c, b"\x09\x01", 64)[0] == P.Status.FRAMING
    assert c_decode_frame(proto_c, good, len(body) - 1)[0] == P.Status.OVERSIZE
    with pytest.raises(P.FrameError) as e:
        P.decode_frame(bad_crc)
    assert e.value.status == P.Status.CRC


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_c_decoder_on_garbage_stays_inside_its_buffer(proto_c, garbage):
    garbage = garbage.replace(b"\0", b"\1")
    st_, frame = c_decode_frame(proto_c, garbage, 64)
    assert st_ in (0, P.Status.CRC, P.Status.FRAMING, P.Status.OVERSIZE)


# ------------------------------------------------------------------ deframing

def c_deframe(lib, stream: bytes, cap: int) -> list:
    store = (C.c_uint8 * cap)()
    d = CDeframer()
    lib.fx_deframer_init(C.byref(d), store, cap)
    out = []
    for b in stream:
        ev = lib.fx_deframer_push(C.byref(d), b)
        if ev == 1:
            wire = bytes(store[:d.len])
            try:
                out.append(P.decode_frame(wire))
            except P.FrameError as e:
                out.append(e.status)
        elif ev == 2:
            out.append(P.Status.OVERSIZE)
    return out


def host_deframe(stream: bytes, cap: int) -> list:
    out = []
    for item in P.Deframer(max_frame=cap).feed(stream):
        out.append(item.status if isinstance(item, P.FrameError) else item)
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.binary(max_size=120), st.binary(max_size=8)), max_size=8))
def test_deframers_resynchronise_after_garbage(proto_c, parts):
    """Frames separated by garbage: every intact frame comes out of both deframers."""
    stream = b""
    frames = []
    for k, (payload, garbage) in enumerate(parts):
        stream += garbage.replace(b"\0", b"") + b"\0"     # garbage always ends at a delimiter
        frames.append(P.Frame(0x31, k, payload))
        stream += P.encode_frame(0x31, k, payload)
    c_out, h_out = c_deframe(proto_c, stream, 4096), host_deframe(stream, 4096)
    assert c_out == h_out
    assert [f for f in c_out if isinstance(f, P.Frame)] == frames


def test_host_deframer_does_not_care_how_bytes_are_split():
    stream = b"\x07junk\0" + P.encode_frame(0x02, 1, bytes(300)) + P.encode_frame(0x82, 2, b"\0x")
    whole = host_deframe(stream, 4096)
    d = P.Deframer()
    pieces = [item for b in stream for item in d.feed(bytes([b]))]
    assert [p.status if isinstance(p, P.FrameError) else p for p in pieces] == whole
    assert whole[1:] == [P.Frame(0x02, 1, bytes(300)), P.Frame(0x82, 2, b"\0x")]


def test_deframer_drops_an_oversize_frame_and_keeps_the_next(proto_c):
    big = P.encode_frame(0x02, 1, bytes(range(1, 256)) * 2)
    small = P.encode_frame(0x02, 2, b"ok")
    out = c_deframe(proto_c, big + small, 128)
    assert out == [P.Status.OVERSIZE, P.Frame(0x02, 2, b"ok")]
    assert host_deframe(big + small, 128) == out


def test_empty_frames_are_ignored(proto_c):
    assert c_deframe(proto_c, b"\0\0" + P.encode_frame(1, 5, b"") + b"\0", 64) == [P.Frame(1, 5, b"")]


@given(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF))
def test_seq_diff(proto_c, a, b):
    d = P.seq_diff(a, b)
    assert -32768 <= d < 32768 and (b + d) % 65536 == a
    assert proto_c.fx_seq_diff(a, b) == d


# ------------------------------------------------------------------ messages

def test_message_layouts():
    assert P.wire_max(0) == 9
    assert len(P.pack_batch(3, np.array([[1, -2], [3, 4]]), np.array([1, 0]), 1)) == 6 + 4 + 2
    assert P.pack_samples(np.array([[-1, 256]]), 2) == struct.pack("<hh", -1, 256)
    assert P.x_bytes_for(np.array([[127, -128]])) == 1
    assert P.x_bytes_for(np.array([[128]])) == 2
    with pytest.raises(ValueError):
        P.pack_samples(np.array([[200]]), 1)
    with pytest.raises(TypeError):
        P.pack_samples(np.array([[0.5]]), 1)
    ack = P.BatchAck.parse(struct.pack("<IIIi", 7, 112, 100, -5))
    assert (ack.last_bseq, ack.samples, ack.correct, ack.loss) == (7, 112, 100, -5)
    r = P.parse_infer(struct.pack("<H", 2) + bytes([3, 9]) + struct.pack("<4h", 1, -1, 7, 8)
                      + struct.pack("<I", 42), 2, 2)
    assert r.classes.tolist() == [3, 9] and r.outputs.tolist() == [[1, -1], [7, 8]] and r.counter == 42
    with pytest.raises(P.ProtocolError):
        P.Stats.parse(bytes(P.STATS_REPLY - 1))
