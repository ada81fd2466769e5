"""fxlearn.validate: the report `fxlearn validate` and `fxlearn mp validate` print. The board's
numbers here are made from the reference by hand, so every kind of disagreement must show."""
from __future__ import annotations

import numpy as np
import pytest

from fxlearn import blob, loss
from fxlearn.bench.soak import soak_model
from fxlearn.validate import BoardRun, compare


@pytest.fixture
def case():
    model = soak_model(4)
    data = blob.write_blob(model)
    rng = np.random.default_rng(0)
    x = rng.uniform(-8, 8, (60, model.layers[0].n_in))
    y = rng.integers(0, model.layers[-1].n_out, 60)
    z = model.forward(model.quantize_input(x))
    info = blob.blob_info(data)
    _, q12 = loss.softmax_xent(z, y, info.loss_mult, info.loss_shift)
    return data, x, y, BoardRun(z.copy(), int((z.argmax(1) == y).sum()), int(q12.sum()))


def test_a_board_that_agrees_is_bit_exact(case):
    data, x, y, run = case
    report = compare(data, x, y, run, title="t")
    assert report.ok
    assert report.lines[:2] == ["t", "bit-exact logits, board vs reference:  60/60"]
    assert report.lines[2].startswith("on-device evaluation vs reference:     identical")
    acc = run.correct / 60
    assert report.lines[4].split()[1:] == [f"{acc:.4f}", f"{run.loss / 4096 / 60:.4f}"]     # board row


def test_one_wrong_logit_fails(case):
    data, x, y, run = case
    run.logits[7, 2] += 1
    report = compare(data, x, y, run)
    assert not report.ok and report.lines[0] == "bit-exact logits, board vs reference:  59/60"


@pytest.mark.parametrize("field", ["correct", "loss"])
def test_wrong_evaluation_totals_fail(case, field):
    data, x, y, run = case
    setattr(run, field, getattr(run, field) + 1)
    report = compare(data, x, y, run)
    assert not report.ok and "DIFFERENT" in report.lines[1]


def test_missing_logits_fail_without_crashing(case):
    data, x, y, run = case
    run.logits = run.logits[:-1]
    assert not compare(data, x, y, run).ok

