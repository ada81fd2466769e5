"""The serial protocol end to end: a Device talking to the board under test (the virtual board
by default) over a real port: handshake, upload, inference, streams, read-back, statistics and
every error path of docs/protocol.md. Golden values come from the Python integer reference."""
from __future__ import annotations

import struct
import time

import numpy as np
import pytest

from fxlearn import loss as loss_ref
from fxlearn import protocol as P
from fxlearn.device import DEFAULT_BATCH_SIZE, Device
from fxlearn.protocol import Cmd, DeviceError, DeviceReset, Status

from hil_faults import inject, remove


def expect_error(code: Status, fn, *args, **kw) -> DeviceError:
    with pytest.raises(DeviceError) as e:
        fn(*args, **kw)
    assert e.value.name == code.name, str(e.value)
    return e.value


def raw_request(dev: Device, cmd: int, payload: bytes = b"", seq: int | None = None) -> P.Frame:
    """Send one hand-made frame and return the device's answer as it is."""
    seq = dev.next_seq() if seq is None else seq
    dev.send_raw(P.encode_frame(cmd, seq, payload))
    frame = dev.recv_frame()
    assert frame is not None, "no answer"
    return frame


def reference_stream(model, x, y):
    """(correct, loss sum in Q12) from the bit-exact integer reference."""
    z = model.forward(x)
    from fxlearn.blob import loss_scale
    mult, shift = loss_scale(model.output_scale)
    _, losses = loss_ref.softmax_xent(z, y, mult, shift)
    return int((z.argmax(1) == y).sum()), int(losses.sum())


@pytest.fixture
def loaded(device, models):
    """The device with model 0 committed."""
    device.upload(models[0][1])
    return device


# ------------------------------------------------------------------ handshake and basics

def test_handshake_reports_versions_features_and_sizes(device, board):
    info = device.info
    assert info.proto == (P.PROTO_MAJOR, P.PROTO_MINOR)
    assert info.board == board.name or board.name.startswith("port:")
    assert info.rx_max >= 64 and info.tx_max >= 128 and info.window >= 1
    assert info.model_max > 0 and info.work_max > 0 and info.max_layers >= 1
    assert info.max_fan_in == 65535
    assert info.counter_kind in (0, 1, 2, 3)
    assert info.has(P.FEATURE_INFER) and info.has(P.FEATURE_EVAL)


def test_a_new_session_continues_where_the_board_is(device, board, hil_timeout):
    boot = device.info.boot_count
    again = Device(board.port, timeout=hil_timeout)
    try:
        assert again.info.boot_count == boot
        assert again.echo(b"second session") == b"second session"
    finally:
        again.close()
    # the first session was replaced: its frames now look out of sequence or unsessioned
    device.connect()
    assert device.echo(b"x") == b"x"


def test_hello_twice_is_a_duplicate_but_a_reused_seq_later_is_a_new_session(device):
    hello = bytes([P.PROTO_MAJOR, P.PROTO_MINOR])
    dups = device.stats().duplicates
    s0 = (device._seq + 1000) & 0xFFFF
    assert raw_request(device, Cmd.HELLO, hello, s0).status == Status.OK    # a new session
    assert raw_request(device, Cmd.HELLO, hello, s0).status == Status.OK    # its duplicate
    device._seq = (s0 + 1) & 0xFFFF
    assert device.stats().duplicates == dups + 1
    # after other frames, the same seq is another client's HELLO: a new session
    assert raw_request(device, Cmd.HELLO, hello, s0).status == Status.OK
    with pytest.raises(P.ProtocolError, match="took it over"):
        device.echo(b"old session")
    device._seq = (s0 + 1) & 0xFFFF
    assert device.echo(b"new session") == b"new session"


@pytest.mark.parametrize("size", [0, 1, 253, 254, 255, 600])
def test_echo_round_trips_bytes_with_and_without_zeros(device, size):
    for pattern in (bytes(size), bytes((i * 7 + 1) % 256 for i in range(size))):
        data = pattern[:min(size, device.info.tx_max - 1)]
        assert device.echo(data) == data


def test_echo_larger_than_a_reply_is_refused(device):
    e = expect_error(Status.TOO_BIG, device.echo, bytes(device.info.tx_max))
    assert e.info == device.info.tx_max - 1


def test_stats_count_frames_and_memory(device):
    s1 = device.stats()
    s2 = device.stats()
    assert s2.frames_ok == s1.frames_ok + 1
    assert s2.model_slots == 2 * device.info.model_max
    assert s2.ram_static > s2.model_slots
    assert s2.work_bytes == device.info.work_max
    assert s2.boot_count == device.info.boot_count


def test_link_test_echoes_raw_bytes(device):
    result = device.link_test(3000)
    assert result.nbytes == 3000 and result.seconds > 0
    assert device.echo(b"framed again") == b"framed again"


# ------------------------------------------------------------------ models

def test_upload_read_back_and_bit_exact_inference(device, models, digits):
    model, data = models[0]
    info = device.upload(data, progress=False)
    assert (info.length, info.crc) == (len(data), P.crc32(data))
    assert (info.inputs, info.outputs, info.layers) == (64, 10, 2)
    assert device.read_model() == data
    stats = device.stats()
    assert stats.model_present and (stats.model_crc, stats.model_len) == (info.crc, len(data))
    assert (stats.model_inputs, stats.model_outputs) == (64, 10)
    x, _ = digits
    ref = model.forward(x)
    r = device.infer(x, outputs=True)
    assert np.array_equal(r.outputs, ref)
    assert np.array_equal(r.classes, ref.argmax(1))
    assert np.array_equal(device.infer(x[:7]).classes, ref[:7].argmax(1))


def test_inference_with_int16_samples(loaded, models, digits):
    model = models[0][0]
    x = digits[0][:40] * 37 - 300            # needs int16
    r = loaded.infer(x, outputs=True)
    assert np.array_equal(r.outputs, model.forward(x))


def test_evaluate_stream_matches_the_reference_exactly(loaded, models, digits):
    model = models[0][0]
    x, y = digits
    res = loaded.evaluate(x, y)
    correct, loss_sum = reference_stream(model, x, y)
    assert (res.samples, res.correct, res.loss) == (len(x), correct, loss_sum)
    assert res.batches == -(-len(x) // DEFAULT_BATCH_SIZE)
    stats = loaded.stats()
    assert (stats.last_bseq, stats.batches, stats.samples, stats.correct, stats.loss) == \
        (res.batches, res.batches, len(x), correct, loss_sum)
    assert stats.stream_mode == P.STREAM_EVAL


def test_link_efficiency_at_the_default_batch_size(loaded, digits):
    """Sample and label bytes / all bytes on the wire, both directions (a byte count)."""
    x, y = digits
    res = loaded.evaluate(x, y)
    assert res.link.resent == 0
    assert res.efficiency >= 0.9, res.efficiency


def test_training_needs_a_configuration_and_a_stream(loaded, digits):
    if not loaded.info.has(P.FEATURE_TRAIN):
        pytest.skip(f"{loaded.info.board} has no trainer: test_training.py checks its refusal")
    x, y = digits
    expect_error(Status.PARAM, loaded.train, x[:32], y[:32])      # no trainer configuration
    expect_error(Status.STATE, loaded.train_commit)
    expect_error(Status.STATE, loaded.read_model, P.MODEL_TRAINING)


def test_commit_replaces_the_model_and_ends_the_stream(loaded, models, digits):
    x, y = digits
    loaded.evaluate(x[:64], y[:64])
    model1, data1 = models[1]
    loaded.upload(data1)
    assert loaded.stats().stream_mode == P.STREAM_NONE
    expect_error(Status.STATE, loaded.request, Cmd.BATCH, P.pack_batch(1, x[:2], y[:2], 1))
    assert np.array_equal(loaded.infer(x[:50], outputs=True).outputs, model1.forward(x[:50]))


# ------------------------------------------------------------------ error paths

def test_bad_crc_is_answered_and_the_link_recovers(device):
    seq = device.next_seq()
    wire = bytearray(P.encode_frame(Cmd.ECHO, seq, b"payload"))
    wire[4] ^= 0x40                            # a data byte: the CRC no longer matches
    device.send_raw(bytes(wire))
    frame = device.recv_frame()
    assert frame.type == P.TYPE_LINK_ERROR and frame.status == Status.CRC
    assert frame.error_fields()[1] == seq        # the seq to resend from
    device._seq = seq
    assert device.echo(b"after") == b"after"
    assert device.stats().crc_errors >= 1


def test_garbage_between_frames_costs_one_error_reply(device):
    device.send_raw(b"\x13\x37garbage\xff\x00")
    frame = device.recv_frame()
    assert frame.type == P.TYPE_LINK_ERROR and frame.status in (Status.CRC, Status.FRAMING)
    assert device.echo(b"in sync") == b"in sync"


def test_unknown_commands_are_answered(device):
    expect_error(Status.UNKNOWN_CMD, device.request, 0x7E)
    expect_error(Status.UNKNOWN_CMD, device.request, 0x06, b"abc")
    frame = raw_request(device, 0x85)          # a reply type sent to the device
    assert frame.status == Status.UNKNOWN_CMD
    device._seq = frame.seq + 1
    assert device.echo(b"ok") == b"ok"


def test_wrong_lengths_and_fields(device):
    expect_error(Status.LENGTH, device.request, Cmd.STATS, b"x")
    expect_error(Status.LENGTH, device.request, Cmd.UPLOAD_BEGIN, b"1234")
    expect_error(Status.LENGTH, device.request, Cmd.READ_MODEL, b"")
    expect_error(Status.PARAM, device.request, Cmd.READ_MODEL, struct.pack("<BIH", 9, 0, 4))
    expect_error(Status.PARAM, device.request, Cmd.STREAM_BEGIN, struct.pack("<BBI", 7, 1, 1))
    expect_error(Status.PARAM, device.request, Cmd.STREAM_BEGIN, struct.pack("<BBI", 1, 3, 1))
    expect_error(Status.PARAM, device.request, Cmd.STREAM_BEGIN, struct.pack("<BBI", 1, 1, 0))
    expect_error(Status.PARAM, device.request, Cmd.INFER, struct.pack("<BH", 0x80, 1))
    expect_error(Status.PARAM, device.request, Cmd.UPLOAD_BEGIN, struct.pack("<II", 0, 0))


def test_wrong_shapes_are_refused(loaded, digits):
    x, y = digits
    e = expect_error(Status.SHAPE, loaded.infer, x[:3, :63])
    assert e.info == 64
    expect_error(Status.SHAPE, loaded.evaluate, x[:20, :60], y[:20])
    expect_error(Status.SHAPE, loaded.request, Cmd.INFER, struct.pack("<BH", 0, 0))
    bad = y[:20].copy()
    bad[5] = 10
    e = expect_error(Status.PARAM, loaded.evaluate, x[:20], bad)
    assert e.info == 5
    loaded.stream_begin(P.STREAM_EVAL, 1)
    expect_error(Status.SHAPE, loaded.request, Cmd.BATCH, P.pack_batch(1, x[:2], y[:2], 1)[:-1])
    count = (loaded.info.tx_max - 7) // 21 + 1      # their outputs do not fit a reply
    assert P.INFER_HEADER + 64 * count <= loaded.info.rx_max
    expect_error(Status.TOO_BIG, loaded.request, Cmd.INFER, P.pack_infer(x[:count], 1, True))
    with pytest.raises(ValueError, match="does not fit"):
        loaded.request(Cmd.ECHO, bytes(loaded.info.rx_max + 1))
    assert loaded.stats().last_bseq == 0        # nothing was applied


def test_no_model_yet(fresh_board, digits, hil_timeout):
    with Device(fresh_board.port, board=fresh_board, timeout=hil_timeout) as dev:
        assert not dev.stats().model_present
        x, y = digits
        expect_error(Status.NO_MODEL, dev.infer, x[:2])
        expect_error(Status.NO_MODEL, dev.evaluate, x[:2], y[:2])
        expect_error(Status.NO_MODEL, dev.read_model)


def test_oversize_frame_is_answered_and_dropped(device):
    big = P.encode_frame(Cmd.ECHO, device.next_seq(), bytes(range(1, 256)) * (device.info.rx_max // 255 + 2))
    device.send_raw(big)
    frame = device.recv_frame()
    assert frame.type == P.TYPE_LINK_ERROR and frame.status == Status.OVERSIZE
    device._seq = frame.error_fields()[1]
    assert device.echo(b"small") == b"small"
    assert device.stats().oversize >= 1


def test_a_stalled_partial_frame_times_out(device):
    device.send_raw(P.encode_frame(Cmd.ECHO, device.next_seq(), b"never finished")[:8])
    frame = device.recv_frame(timeout=3.0)
    assert frame.type == P.TYPE_LINK_ERROR and frame.status == Status.TIMEOUT
    device._seq = frame.error_fields()[1]
    assert device.echo(b"fine") == b"fine"


def test_a_stalled_raw_echo_times_out(device):
    device.request(Cmd.LINK_TEST, struct.pack("<I", 1000))
    device.send_raw(b"only ten..")
    deadline = time.monotonic() + 3
    got = b""
    while len(got) < 10 and time.monotonic() < deadline:
        got += device._read_some(0.1)
    assert got[:10] == b"only ten.."
    frame = device.recv_frame(timeout=3.0)
    assert frame.command == Cmd.LINK_TEST and frame.status == Status.TIMEOUT
    assert device.echo(b"framed") == b"framed"


def send_chunks(dev: Device, data: bytes, start: int = 0, end: int | None = None) -> None:
    """UPLOAD_CHUNKs of data[start:end] in frames the device accepts."""
    step = dev.info.rx_max - 4
    end = len(data) if end is None else end
    for off in range(start, end, step):
        dev.request(Cmd.UPLOAD_CHUNK, struct.pack("<I", off) + data[off:min(off + step, end)])


def test_upload_interrupted_half_way_keeps_the_old_model(loaded, board, models, digits, hil_timeout):
    (model0, data0), (_, data1) = models
    half = len(data1) // 2
    loaded.request(Cmd.UPLOAD_BEGIN, struct.pack("<II", len(data1), P.crc32(data1)))
    send_chunks(loaded, data1, 0, half)
    loaded.close()                             # the host goes away mid-upload
    with Device(board.port, timeout=hil_timeout) as dev:
        stats = dev.stats()
        assert (stats.model_crc, stats.model_len) == (P.crc32(data0), len(data0))
        assert (stats.upload_state, stats.upload_received) == (P.UPLOAD_RECEIVING, half)
        e = expect_error(Status.STATE, dev.request, Cmd.UPLOAD_COMMIT)
        assert e.info == half
        x = digits[0][:30]
        assert np.array_equal(dev.infer(x, outputs=True).outputs, model0.forward(x))
        assert dev.read_model() == data0


def test_failed_uploads_leave_the_old_model_in_place(loaded, models, digits):
    (model0, data0), (_, data1) = models
    x = digits[0][:20]

    def still_model0():
        s = loaded.stats()
        assert (s.model_crc, s.model_len, s.upload_state) == (P.crc32(data0), len(data0), P.UPLOAD_NONE)
        assert np.array_equal(loaded.infer(x, outputs=True).outputs, model0.forward(x))

    # bytes damaged in transfer (announced CRC differs)
    begin = struct.pack("<II", len(data1), P.crc32(data1) ^ 1)
    loaded.request(Cmd.UPLOAD_BEGIN, begin)
    send_chunks(loaded, data1)
    e = expect_error(Status.CHECKSUM, loaded.request, Cmd.UPLOAD_COMMIT)
    assert e.info == P.crc32(data1)
    still_model0()
    # transferred intact, but not a valid blob: the loader refuses it
    broken = bytearray(data1)
    broken[60] ^= 0xFF                          # inside the layer table: the blob CRC fails
    e = expect_error(Status.MODEL, loaded.upload, bytes(broken))
    assert P.KERNEL_STATUS[e.kstatus] == "FX_ERR_CORRUPT"
    still_model0()
    # too big for a slot; chunks out of order; commit with nothing uploaded
    e = expect_error(Status.TOO_BIG, loaded.upload, bytes(loaded.info.model_max + 4))
    assert e.info == loaded.info.model_max
    loaded.request(Cmd.UPLOAD_BEGIN, struct.pack("<II", len(data1), P.crc32(data1)))
    e = expect_error(Status.BOUNDS, loaded.request, Cmd.UPLOAD_CHUNK, struct.pack("<I", 8) + data1[8:40])
    assert e.info == 0
    send_chunks(loaded, data1, 0, len(data1) - 8)
    e = expect_error(Status.BOUNDS, loaded.request, Cmd.UPLOAD_CHUNK,
                     struct.pack("<I", len(data1) - 8) + data1[-8:] + b"\1\2\3\4")
    assert e.info == len(data1)
    expect_error(Status.STATE, loaded.request, Cmd.UPLOAD_COMMIT)      # incomplete
    send_chunks(loaded, data1, len(data1) - 8)
    loaded.request(Cmd.UPLOAD_COMMIT)
    expect_error(Status.STATE, loaded.request, Cmd.UPLOAD_COMMIT)      # nothing left to commit
    expect_error(Status.STATE, loaded.request, Cmd.UPLOAD_CHUNK, struct.pack("<I", 0) + b"x")


# ------------------------------------------------------------------ exactly once

def test_duplicate_batches_are_acknowledged_but_not_applied(loaded, digits):
    x, y = digits
    loaded.stream_begin(P.STREAM_EVAL, 1)
    batch1 = P.pack_batch(1, x[:3], y[:3], 1)       # fits even 256-byte frames
    seq = loaded.next_seq()
    first = raw_request(loaded, Cmd.BATCH, batch1, seq)
    again = raw_request(loaded, Cmd.BATCH, batch1, seq)          # the same frame twice
    assert first.status == Status.OK and again.status == Status.DUPLICATE
    assert P.BatchAck.parse(first.payload[1:]) == P.BatchAck.parse(again.payload[1:])
    loaded._seq = seq + 1
    # a new frame carrying an old batch: acknowledged, not applied
    reply = loaded.call(Cmd.BATCH, batch1)
    assert reply.status == Status.DUPLICATE
    ack = P.BatchAck.parse(reply.payload[1:])
    assert (ack.last_bseq, ack.samples) == (1, 3)
    e = expect_error(Status.BATCH_SEQ, loaded.request, Cmd.BATCH, P.pack_batch(3, x[:3], y[:3], 1))
    assert e.info == 1
    loaded.request(Cmd.BATCH, P.pack_batch(2, x[3:5], y[3:5], 1))
    s = loaded.stats()
    assert (s.last_bseq, s.batches, s.samples) == (2, 2, 5)
    assert s.duplicates >= 1


def test_a_repeated_non_replayable_frame_gets_the_cached_reply(loaded, models):
    data1 = models[1][1]
    seq = loaded.next_seq()
    begin = struct.pack("<II", len(data1), P.crc32(data1))
    first = raw_request(loaded, Cmd.UPLOAD_BEGIN, begin, seq)
    chunk = raw_request(loaded, Cmd.UPLOAD_CHUNK, struct.pack("<I", 0) + data1[:100], seq + 1)
    assert first.status == chunk.status == Status.OK
    assert raw_request(loaded, Cmd.UPLOAD_CHUNK, struct.pack("<I", 0) + data1[:100], seq + 1) == chunk
    older = raw_request(loaded, Cmd.UPLOAD_BEGIN, begin, seq)    # not the last one: no data
    assert older.status == Status.DUPLICATE and older.payload == bytes([Status.DUPLICATE])
    loaded._seq = seq + 2
    assert loaded.stats().upload_received == 100    # BEGIN was not run again


def test_a_frame_ahead_of_sequence_is_not_applied(loaded, digits):
    x, y = digits
    loaded.stream_begin(P.STREAM_EVAL, 1)
    expected = loaded.next_seq()
    frame = raw_request(loaded, Cmd.BATCH, P.pack_batch(1, x[:4], y[:4], 1), expected + 3)
    assert frame.status == Status.SEQUENCE and frame.error_fields()[1] == expected
    loaded._seq = expected
    assert loaded.stats().last_bseq == 0


def test_lost_and_damaged_frames_are_resent_and_applied_once(loaded, models, digits):
    x, y = digits

    def outgoing(i, frame):
        if i == 3:
            return b""                                           # lost
        if i == 7:
            bad = bytearray(frame)
            bad[len(bad) // 2] ^= 0x01                          # damaged
            return bytes(bad)
        return frame

    faulty = inject(loaded, outgoing=outgoing)
    before = loaded.stats()
    res = loaded.evaluate(x, y)
    remove(loaded)
    correct, loss_sum = reference_stream(models[0][0], x, y)
    assert (res.samples, res.correct, res.loss) == (len(x), correct, loss_sum)
    assert res.link.resent >= 2 and faulty.out_index > res.batches
    after = loaded.stats()
    assert after.seq_gaps > before.seq_gaps and after.crc_errors > before.crc_errors
    assert (after.samples, after.last_bseq) == (len(x), res.batches)


def test_lost_replies_lose_nothing(device, models, digits):
    device.timeout = 0.2                       # the last lost reply is found by a timeout
    device.upload(models[0][1])
    x, y = digits
    n_batches = -(-len(x) // DEFAULT_BATCH_SIZE)
    # replies are counted from here: 0 = STREAM_BEGIN, then one per BATCH
    inject(device, incoming_drop={2, 5, 6, n_batches})
    res = device.evaluate(x, y)
    remove(device)
    correct, loss_sum = reference_stream(models[0][0], x, y)
    assert (res.samples, res.correct, res.loss) == (len(x), correct, loss_sum)
    assert device.stats().samples == len(x)


def test_a_lost_inference_reply_is_fetched_again(loaded, models, digits):
    x = digits[0][:300]
    inject(loaded, incoming_drop={1})
    r = loaded.infer(x, outputs=True)
    remove(loaded)
    assert np.array_equal(r.outputs, models[0][0].forward(x))
    assert loaded.counters.resent >= 1


# ------------------------------------------------------------------ resets

def test_board_reset_mid_stream_is_reported_and_the_model_kept(loaded, board, models, digits):
    x, y = digits
    data0 = models[0][1]
    boot = loaded.info.boot_count

    def press_reset(ack):
        if ack.last_bseq == 5:
            board.reset()

    with pytest.raises(DeviceReset) as e:
        loaded.evaluate(x, y, on_batch=press_reset)
    assert e.value.last_bseq >= 5
    info = loaded.connect()
    assert info.boot_count == boot + 1
    stats = loaded.stats()
    assert stats.stream_mode == P.STREAM_NONE and stats.last_bseq == 0
    if info.has(P.FEATURE_KEEPS_MODEL):
        assert (stats.model_crc, stats.model_len) == (P.crc32(data0), len(data0))
        assert loaded.read_model() == data0
    else:
        assert not stats.model_present


def test_board_reset_mid_stream_resumes_without_double_counting(loaded, board, models, digits):
    x, y = digits

    def press_reset(ack):
        if ack.last_bseq == 9 and ack.samples == 9 * DEFAULT_BATCH_SIZE:
            board.reset()

    if not loaded.info.has(P.FEATURE_KEEPS_MODEL):
        # Nothing to resume on: the client says so instead of counting anything twice.
        expect_error(Status.NO_MODEL, loaded.evaluate, x, y, on_batch=press_reset, resume=True)
        return
    res = loaded.evaluate(x, y, on_batch=press_reset, resume=True)
    correct, loss_sum = reference_stream(models[0][0], x, y)
    assert res.resets == 1
    assert (res.samples, res.correct, res.loss) == (len(x), correct, loss_sum)


def test_reset_command(loaded, models):
    boot = loaded.info.boot_count
    info = loaded.reset()
    assert info.boot_count == boot + 1
    assert loaded.stats().model_present == info.has(P.FEATURE_KEEPS_MODEL)


def test_requests_after_an_unseen_reset_raise_device_reset(loaded, board):
    board.reset()
    with pytest.raises(DeviceReset):
        for _ in range(50):
            loaded.stats()
            time.sleep(0.01)
    loaded.connect()
    assert loaded.echo(b"back") == b"back"
