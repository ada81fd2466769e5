"""On-device training over serial (docs/protocol.md 3, firmware/app/fx_trainer.c): every
BATCH of a TRAIN stream is one step of the kernel's trainer, which must be bit-exact with the
Python reference (train.Trainer): parameters after every batch, losses, accepted/idle counts."""
from __future__ import annotations

import zlib

import numpy as np
import pytest

from fxlearn import blob, optim, protocol as P, train
from fxlearn.device import DeviceReset, train_config
from fxlearn.protocol import Status

from test_device import expect_error

BATCH = 16
HIL_BLOB = b""   # set by the autouse fixture below: a random int8 digits model


@pytest.fixture
def trainer(device):
    """The device, on boards that can train; boards without the TRAIN feature (no RAM for a
    trainer, e.g. qemu_f100's 8 KiB) are checked by test_a_board_without_a_trainer_refuses."""
    if not device.info.has(P.FEATURE_TRAIN):
        pytest.skip(f"{device.info.board} has no trainer (TRAIN feature off): refusal tested instead")
    return device


@pytest.fixture(autouse=True)
def _base_model(make_model):
    global HIL_BLOB
    HIL_BLOB = blob.write_blob(make_model(3))


def last_layer_setup(rounding=optim.RHU, ortho=0):
    """A digits-shaped int8 model whose last layer is made int16 Q12 for fine-tuning."""
    model = train.make_trainable(blob.read_blob(HIL_BLOB), 1, 2.0 ** -6, 12)
    p, theta = train.plan(model, [1 / 16, 1 / 64, 0.02], 1, BATCH, x_max=16)
    cfg = train.optimizer_config(0.1, rounding=rounding, ortho=ortho)
    return model, p, theta, cfg


def all_layers_setup():
    """An all-int16 model from random float weights (inputs: pixels, Q4)."""
    rng = np.random.default_rng(5)
    design = train.FixedPointDesign(in_frac=4)
    w = [rng.normal(0, 0.2, (24, 64)), rng.normal(0, 0.3, (10, 24))]
    b = [np.zeros(24), np.zeros(10)]
    model = train.from_float(w, b, design)
    p, theta = train.plan(model, design.act_scales(2), 0, BATCH, x_max=16)
    return model, p, theta, train.optimizer_config(0.1, rounding=optim.ERROR_FEEDBACK)


def trained_params(data: bytes, model, first: int):
    """Weights and int32 biases of the trained layers of a blob read back from the device."""
    got = blob.read_blob(data)
    return [(got.layers[k].weight, got.layers[k].bias) for k in range(first, len(model.layers))]


@pytest.mark.parametrize("setup", [last_layer_setup, lambda: last_layer_setup(optim.STOCHASTIC, 2),
                                   all_layers_setup], ids=["last", "last-stochastic-ortho", "all"])
def test_training_steps_are_bit_exact_with_the_reference(trainer, digits, setup):
    device = trainer
    model, p, theta, cfg = setup()
    device.upload(blob.write_blob(model))
    ref = train.Trainer(blob.read_blob(blob.write_blob(model)), p, theta, optim.Optimizer(cfg, len(theta)))
    x, y = digits
    device.train_begin(train_config(model, p, theta, cfg))
    loss = correct = accepted = idle = 0
    for b in range(1, 7):
        xb, yb = x[(b - 1) * BATCH:b * BATCH], y[(b - 1) * BATCH:b * BATCH]
        st = ref.step(xb, yb)
        ack = device.batch(b, xb, yb)
        loss = int(np.clip(loss + min(st.loss, 2 ** 31 - 1), -2 ** 31, 2 ** 31 - 1))
        correct += st.correct
        accepted += st.accepted
        idle += st.changed > 0 and not st.accepted
        assert (ack.last_bseq, ack.samples, ack.correct, ack.loss) == (b, b * BATCH, correct, loss)
        for (w, bias), layer in zip(trained_params(device.read_training(), model, p.first),
                                    ref.model.layers[p.first:]):
            assert np.array_equal(w, layer.weight) and np.array_equal(bias, layer.bias)
        s = device.stats()
        assert (s.steps, s.accepted, s.idle, s.train_loss) == (b, accepted, idle, min(st.loss, 2 ** 31 - 1))
        assert s.compensations == ref.opt.stats.ortho
    assert accepted > 0                       # the steps moved the model
    info = device.train_commit()
    assert info.crc == zlib.crc32(device.read_model())        # the committed, resealed blob
    assert np.array_equal(device.infer(x[:40], outputs=True).outputs, ref.model.forward(x[:40]))


def test_a_duplicate_batch_is_not_applied_again(trainer, digits):
    device = trainer
    model, p, theta, cfg = last_layer_setup()
    device.upload(blob.write_blob(model))
    x, y = digits
    device.train_begin(train_config(model, p, theta, cfg))
    first = device.batch(1, x[:BATCH], y[:BATCH])
    after_one = device.read_training()
    again = device.batch(1, x[BATCH:2 * BATCH], y[BATCH:2 * BATCH])
    assert again.duplicate and (again.last_bseq, again.samples) == (first.last_bseq, first.samples)
    assert device.read_training() == after_one and device.stats().steps == 1
    expect_error(Status.BATCH_SEQ, device.batch, 3, x[:BATCH], y[:BATCH])


def test_a_reset_mid_training_is_reported_and_the_last_good_model_kept(board, trainer, digits):
    device = trainer
    model, p, theta, cfg = last_layer_setup()
    info = device.upload(blob.write_blob(model))
    x, y = digits
    device.train_begin(train_config(model, p, theta, cfg))
    device.batch(1, x[:BATCH], y[:BATCH])
    board.reset()
    with pytest.raises(DeviceReset):
        device.batch(2, x[BATCH:2 * BATCH], y[BATCH:2 * BATCH])
    device.connect()
    s = device.stats()
    assert s.stream_mode == P.STREAM_NONE and s.model_crc == info.crc
    expect_error(Status.STATE, device.train_commit)
    assert np.array_equal(device.infer(x[:20], outputs=True).outputs, model.forward(x[:20]))


def test_training_refuses_bad_configurations(trainer, digits):
    device = trainer
    model, p, theta, cfg = last_layer_setup()
    device.upload(blob.write_blob(model))
    good = train_config(model, p, theta, cfg)
    expect_error(Status.PARAM, device.train_begin, good[:-2])             # biases missing
    expect_error(Status.PARAM, device.train_begin, b"\x02" + good[1:])    # unknown version
    bad = bytearray(good)
    bad[1], bad[3] = 0, 2                                                  # layer 0 is int8
    expect_error(Status.MODEL, device.train_begin, bytes(bad))
    expect_error(Status.STATE, device.train_commit)                       # no stream left


def test_a_board_without_a_trainer_refuses(device):
    """A board that does not advertise TRAIN answers a TRAIN stream with UNSUPPORTED, a clear
    error, and keeps serving inference (on boards that train, the tests above run instead)."""
    if device.info.has(P.FEATURE_TRAIN):
        pytest.skip(f"{device.info.board} has a trainer: the training tests above cover it")
    model, p, theta, cfg = last_layer_setup()
    before = device.stats()
    expect_error(Status.UNSUPPORTED, device.train_begin, train_config(model, p, theta, cfg))
    after = device.stats()
    assert (after.stream_mode, after.model_crc, after.steps) == (before.stream_mode, before.model_crc, before.steps)
