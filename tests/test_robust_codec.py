"""Property-based robustness of the host frame codec and blob reader (hypothesis): arbitrary
bytes never raise anything but the documented error, the deframer resynchronises after any
garbage and does not depend on how reads split the stream, and for mutated blobs the Python
reader and the C loader agree on accept/reject (and an accepted blob is the canonical image of
the model read from it)."""
from __future__ import annotations

import struct
import sys
import zlib

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from fxlearn import blob
from fxlearn import protocol as P
from fxlearn.paths import source_root

sys.path.insert(0, str(source_root() / "tests" / "fuzz"))
from gen_corpus import blob_seeds  # noqa: E402

SEEDS = blob_seeds()
frames = st.tuples(st.integers(0, 255), st.integers(0, 0xFFFF), st.binary(max_size=600))


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0] + points, points + [len(data)])]


@given(st.binary(max_size=2000))
def test_decode_frame_raises_only_frame_error(data):
    try:
        f = P.decode_frame(data)
    except P.FrameError as e:
        assert e.status in (P.Status.FRAMING, P.Status.CRC)
    else:
        assert P.encode_frame(f.type, f.seq, f.payload)[:-1] == data


@given(st.binary(max_size=3000), st.lists(st.integers(0, 10_000), max_size=12))
def test_deframer_result_does_not_depend_on_read_boundaries(data, cuts):
    whole = P.Deframer(max_frame=512).feed(data)
    d = P.Deframer(max_frame=512)
    pieces = [item for part in split(data, cuts) for item in d.feed(part)]
    key = lambda items: [(type(i).__name__, getattr(i, "status", None), repr(i) if isinstance(i, P.Frame) else "")
                         for i in items]
    assert key(pieces) == key(whole)
    assert all(isinstance(i, (P.Frame, P.FrameError)) for i in whole)


@given(st.binary(max_size=1500), frames, st.lists(st.integers(0, 5000), max_size=6))
def test_deframer_resynchronises_after_any_garbage(garbage, frame, cuts):
    type_, seq, payload = frame
    wire = P.encode_frame(type_, seq, payload)
    d = P.Deframer()
    out = [item for part in split(garbage + b"\0" + wire, cuts) for item in d.feed(part)]
    assert out and out[-1] == P.Frame(type_, seq, payload)


@given(st.lists(frames, min_size=1, max_size=8), st.lists(st.integers(0, 10_000), max_size=10))
def test_frame_sequences_round_trip_through_any_split(items, cuts):
    wire = b"".join(P.encode_frame(*f) for f in items)
    d = P.Deframer()
    out = [item for part in split(wire, cuts) for item in d.feed(part)]
    assert out == [P.Frame(*f) for f in items]


@given(st.binary(max_size=800))
def test_blob_reader_raises_only_value_error(data):
    with pytest.raises(ValueError):
        blob.read_blob(data)


def patch_crc(data: bytearray) -> bytes:
    total = struct.unpack_from("<I", data, 8)[0] if len(data) >= 12 else 0
    if 16 <= total <= len(data):
        struct.pack_into("<I", data, 12, zlib.crc32(bytes(data[16:total])))
    return bytes(data)


mutations = st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=4)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(SEEDS), mutations, st.booleans(), st.integers(0, 10_000))
def test_python_and_c_loaders_agree_on_mutated_blobs(kernel, seed, changes, fix_crc, cut):
    data = bytearray(seed)
    for pos, value in changes:
        data[pos % len(data)] = value
    if cut % 5 == 0:
        data = data[:cut % len(data)]
    data = patch_crc(data) if fix_crc else bytes(data)
    c_ok = blob.CBlob(kernel, data).status == 0
    try:
        model = blob.read_blob(data)
    except ValueError:
        py_ok = False
    else:
        py_ok = True
        # Canonical: the writer gives the same bytes, except the loss scale (the writer derives
        # it from output_scale, a reader accepts any valid one) and so the CRC.
        total = blob.blob_info(data).total_size
        try:
            blob.loss_scale(model.output_scale)
        except ValueError:   # an output_scale whose loss scale (x 4096) is beyond shift 30:
            with pytest.raises(ValueError, match="too large for the requantization shift range"):
                blob.write_blob(model)   # the writer refuses it, there is no canonical form
        else:
            again = blob.write_blob(model)
            mask = lambda b: b[:12] + b[16:40] + b[48:]
            assert mask(again) == mask(data[:total])
    assert c_ok == py_ok
