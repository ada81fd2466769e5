"""The client through the fault-injecting proxy (fxlearn.faultproxy) on the virtual board: it
recovers where the protocol allows (every batch applied exactly once, totals bit-exact with the
integer reference), and otherwise raises a clear exception that says which batches were
applied; a board reset mid-stream is resumed; a board that disappears is an error, not a hang."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest

from fxlearn import blob
from fxlearn.bench.soak import (reference_totals, reference_training, run_soak, same_trained_params,
                                soak_model, soak_training)
from fxlearn.board import NativeBoard
from fxlearn.device import Device
from fxlearn.faultproxy import FaultProxy, Faults, _Pump, DirectionStats
from fxlearn.protocol import DeviceTimeout, FxLinkError

LINK_FAULTS = Faults(corrupt=0.01, drop=0.001)


@pytest.fixture
def board():
    with NativeBoard() as b:
        yield b


@pytest.fixture
def model_blob():
    m = soak_model()
    return m, blob.write_blob(m)


def batches(model, n_batches, size=4, seed=5):
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, (n_batches * size, model.layers[0].n_in))
    y = rng.integers(0, model.layers[-1].n_out, n_batches * size)
    return x, y


def test_pump_faults_follow_their_rates_and_seed():
    data = bytes(range(256)) * 400
    pump = _Pump(Faults(corrupt=0.01, drop=0.001, duplicate=0.002), 7, DirectionStats())
    out, stall = pump.mangle(data)
    st = pump.stats
    n = len(data)
    # Binomial counts within 5 sigma of their means.
    for count, p in ((st.corrupted, 0.01), (st.dropped, 0.001), (st.duplicated, 0.002)):
        assert abs(count - n * p) < 5 * (n * p) ** 0.5 + 1
    assert len(out) == n - st.dropped + st.duplicated and stall == 0
    again, _ = _Pump(pump.faults, 7, DirectionStats()).mangle(data)
    assert again == out
    clean, _ = _Pump(Faults(), 7, DirectionStats()).mangle(data)
    assert clean == data


def test_faults_reject_rates_outside_0_1():
    with pytest.raises(ValueError, match="corrupt"):
        Faults(corrupt=1.5)


def test_clean_proxy_is_transparent(board):
    with FaultProxy(board.port) as px, Device(px.port) as dev:
        payload = bytes(range(256)) * 3
        assert dev.echo(payload) == payload
    assert px.stats.to_board.bytes_in == px.stats.to_board.bytes_out > len(payload)


def test_eval_stream_through_link_faults_is_exactly_once(board, model_blob):
    model, data = model_blob
    x, y = batches(model, 80)
    with Device(board.port) as dev:
        dev.upload(data)
    with FaultProxy(board.port, LINK_FAULTS, seed=11) as px:
        with Device(px.port, timeout=0.1, retries=40) as dev:
            r = dev.evaluate(x, y, batch_size=4)
    assert px.stats.to_board.corrupted > 0 and px.stats.to_client.corrupted > 0
    assert r.link.resent > 0
    assert (r.samples, r.correct, r.loss) == (len(x), *reference_totals(model, x, y, 4))
    with Device(board.port) as dev:
        st = dev.stats()
    assert (st.last_bseq, st.batches, st.samples) == (80, 80, len(x))


def test_upload_through_faults_commits_exactly_the_blob(board, model_blob):
    _, data = model_blob
    with FaultProxy(board.port, Faults(corrupt=0.005, drop=0.0005), seed=3) as px:
        with Device(px.port, timeout=0.1, retries=40) as dev:
            info = dev.upload(data)
    assert info.length == len(data)
    with Device(board.port) as dev:
        assert dev.read_model() == data


def test_board_reset_mid_stream_is_resumed_exactly_once(board, model_blob):
    model, data = model_blob
    x, y = batches(model, 80, seed=6)
    with Device(board.port) as dev:
        dev.upload(data)
    with FaultProxy(board.port, LINK_FAULTS, seed=12) as px:
        with Device(px.port, board=board, timeout=0.1, retries=40) as dev:
            pressed = []

            def press_reset(ack):
                if ack.last_bseq >= 30 and not pressed:
                    pressed.append(ack.last_bseq)
                    board.reset()
            r = dev.evaluate(x, y, batch_size=4, resume=True, on_batch=press_reset)
    assert pressed and r.resets >= 1
    assert (r.samples, r.correct, r.loss) == (len(x), *reference_totals(model, x, y, 4))


def test_cut_link_raises_and_says_which_batches_were_applied(board, model_blob):
    model, data = model_blob
    x, y = batches(model, 200, seed=7)
    with Device(board.port) as dev:
        dev.upload(data)
    with FaultProxy(board.port, seed=13) as px:
        with Device(px.port, timeout=0.05, retries=2) as dev:
            def cut(ack):
                if ack.last_bseq == 30:
                    px.set_faults(to_board=Faults(drop=1.0))
            with pytest.raises(DeviceTimeout) as exc:
                dev.evaluate(x, y, batch_size=4, on_batch=cut)
    acked = exc.value.last_bseq
    assert acked >= 30
    with Device(board.port) as dev:
        st = dev.stats()
    # The device applied exactly batches 1..last_bseq, each once; the host holds an
    # acknowledgement for all but those still in flight when the link went down.
    assert acked <= st.last_bseq <= acked + dev.window
    assert st.batches == st.last_bseq and st.samples == 4 * st.last_bseq


@pytest.mark.parametrize("through_proxy", [False, True])
def test_killed_board_is_a_clear_error(model_blob, through_proxy):
    board = NativeBoard().start()
    px = FaultProxy(board.port).start() if through_proxy else None
    try:
        with Device(px.port if px else board.port, timeout=0.2, retries=1) as dev:
            assert dev.echo(b"alive") == b"alive"
            board.process.kill()
            board.process.wait()
            start = time.monotonic()
            with pytest.raises(FxLinkError) as exc:
                dev.stats()
            assert time.monotonic() - start < 5
            assert "failed" in str(exc.value) or "no reply" in str(exc.value)
    finally:
        if px:
            px.stop()
        board.stop()


@pytest.mark.parametrize("mode,rounding", [("train", 0), ("train", 2), ("eval", 0)],
                         ids=["train-rhu-swap", "train-error-feedback", "eval"])
def test_soak_run_reports_exact(mode, rounding):
    r = run_soak("native", batches=50, faults=LINK_FAULTS, seed=2, mode=mode, rounding=rounding)
    assert r.exact, r.error
    assert r.proxy.to_board.corrupted > 0 and r.link.resent > 0
    if mode == "train":
        assert r.steps == r.steps_reference and r.steps[0] == 50 and r.steps[1] > 0


def test_training_soak_reference_tells_a_batch_applied_twice():
    """The TRAIN soak's bit-for-bit check can fail: the same batches with one applied twice
    give other final parameters than the reference (so exactly-once is what it measures)."""
    setup = soak_training(4)
    model = setup[0]
    x, y = batches(model, 40)
    once = reference_training(setup, x, y, 4)
    twice = reference_training(soak_training(4), np.concatenate([x[:80], x[76:]]),
                               np.concatenate([y[:80], y[76:]]), 4)
    assert once.accepted > 0
    assert not same_trained_params(blob.write_blob(twice.model), once.model, setup[1].first)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_soak_1000_batches_at_one_percent_corruption(mode):
    r = run_soak("native", batches=1000, faults=LINK_FAULTS, seed=1, mode=mode)
    assert r.exact, r.error
    assert r.device == r.reference and r.device_batches == 1000


def test_a_board_that_stops_reading_for_seconds_loses_nothing(model_blob):
    """Found by the emulated-STM32 soak on a loaded host: a board (or the host's own proxy)
    that does not read for a few seconds fills the pty, and the client's write timed out,
    which ended the stream. A write timeout now counts as a lost frame (resent, like a damaged
    one) until `retries` of them in a row. The board is frozen (SIGSTOP) for 6 s mid-stream:
    writes stall, and every batch is still applied exactly once."""
    import os
    import signal
    import threading

    from fxlearn import protocol as P

    model, data = model_blob
    x, y = batches(model, 2000, size=48)
    z = model.forward(x)
    with NativeBoard() as board:
        with Device(board.port, board=board, timeout=0.2, retries=60) as dev:
            dev.upload(data)

            def freeze():
                os.kill(board.pid, signal.SIGSTOP)
                time.sleep(6)
                os.kill(board.pid, signal.SIGCONT)

            freezer = threading.Thread(target=freeze)

            def on_batch(ack):
                if ack.last_bseq == 100:
                    freezer.start()

            try:
                r = dev.stream(P.STREAM_EVAL, x, y, batch_size=48, on_batch=on_batch)
            finally:
                freezer.join()
            assert r.samples == len(x) and r.correct == int((z.argmax(1) == y).sum())
            assert r.link.resent > 0 and dev.counters.extra.get("write_stalls", 0) > 0
            st = dev.stats()
            assert (st.batches, st.last_bseq) == (2000, 2000)


def test_lost_last_reply_then_damaged_resend_still_gives_the_totals(board, model_blob):
    """Found by the soak under load: the last BATCH's reply is lost, its resend arrives
    damaged, the device's NAK (expected = last + 1) says it ran, so the client marks it done
    without data; the stream's totals then come from STATS instead of being missing."""
    sys.path.insert(0, str(Path(__file__).parent / "hil"))
    from hil_faults import inject

    model, data = model_blob
    x, y = batches(model, 3, seed=8)
    with Device(board.port, timeout=0.3) as dev:
        dev.upload(data)

        def damage_resend(index, frame):
            if index == 4:  # STREAM_BEGIN, BATCH 1..3, then the resend of BATCH 3
                return frame[:5] + bytes([frame[5] ^ 0x20]) + frame[6:]
            return frame
        inject(dev, outgoing=damage_resend, incoming_drop={3})
        r = dev.evaluate(x, y, batch_size=4)
    assert (r.samples, r.correct, r.loss) == (len(x), *reference_totals(model, x, y, 4))


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_resent_batch_acknowledged_with_later_totals(board, mode):
    """Found by the training soak under load: the replies to batches 1..3 are lost, the client
    resends batch 1, and the device, which has applied 3, answers DUPLICATE with its current
    totals (last_bseq 3). That proves batch 1 (and 2) applied: the client takes the totals and
    goes on (it raised "batch 1 acknowledged as 3")."""
    sys.path.insert(0, str(Path(__file__).parent / "hil"))
    from hil_faults import inject

    from fxlearn import protocol as P
    from fxlearn.device import train_config

    setup = soak_training(4) if mode == "train" else None
    model = setup[0] if setup else soak_model()
    x, y = batches(model, 3, seed=8)
    with Device(board.port, timeout=0.3) as dev:
        dev.upload(blob.write_blob(model))
        faulty = inject(dev, incoming_drop={1, 2, 3})      # STREAM_BEGIN's reply, then BATCH 1..3's
        r = dev.stream(P.STREAM_TRAIN if setup else P.STREAM_EVAL, x, y, batch_size=4,
                       config=train_config(*setup) if setup else b"")
        assert faulty.in_index > 4                         # the resends were answered
        st = dev.stats()
    if setup:
        ref = reference_training(setup, x, y, 4)
        assert (r.samples, r.correct, r.loss) == ref.totals and (st.steps, st.accepted) == (3, ref.accepted)
    else:
        assert (r.samples, r.correct, r.loss) == (len(x), *reference_totals(model, x, y, 4))
    assert (st.batches, st.last_bseq) == (3, 3)


def test_damaged_hello_after_another_session_is_resent(board, monkeypatch):
    """Found by the soak: a new client's HELLO arrives damaged while the device still holds an
    earlier client's session; its NAK carries that session's expected seq, which the new
    client must not take for its own (it raised 'another client took it over')."""
    sys.path.insert(0, str(Path(__file__).parent / "hil"))
    from hil_faults import inject
    import fxlearn.device as device_module

    with Device(board.port) as first:
        first.echo(b"x")
        expected = first._seq
    dev = Device(board.port, connect=False, timeout=0.3)
    try:
        inject(dev, outgoing=lambda i, f: f[:4] + bytes([f[4] ^ 0x40]) + f[5:] if i == 0 else f)
        # A start seq ahead of the old session's: the old expected seq then looks "completed".
        monkeypatch.setattr(device_module.random, "randrange", lambda n: (expected + 100) % n)
        info = dev.connect()
        assert info.proto[0] == 1 and dev.echo(b"ok") == b"ok"
    finally:
        dev.close()
