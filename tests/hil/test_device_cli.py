"""The device commands of the fxlearn CLI against the board under test (--port)."""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from fxlearn import protocol as P
from fxlearn.cli import main
from fxlearn.nn import MLP


@pytest.fixture
def blob_file(tmp_path, models):
    path = tmp_path / "model.fxmb"
    path.write_bytes(models[0][1])
    return path


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.output


def test_info(board):
    code, out = run("info", "--port", board.port)
    assert code == 0
    assert "protocol 1.0" in out and f"board        {board.name}" in out


def test_upload_then_infer(board, blob_file, models):
    code, out = run("upload", blob_file, "--port", board.port)
    assert code == 0 and f"CRC 0x{__import__('zlib').crc32(models[0][1]):08x}" in out
    code, out = run("infer", "--port", board.port, "--limit", 20, "--show", 2)
    assert code == 0 and "accuracy" in out and "sample 1: predicted" in out


def test_validate_reports_bit_exact_agreement(board, blob_file):
    code, out = run("validate", blob_file, "--port", board.port, "--limit", 120)
    assert code == 0, out
    assert "bit-exact logits, board vs reference:  120/120" in out
    assert "identical" in out and "gap (integer - float)" in out


def test_validate_against_a_float_model(board, blob_file, tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "float.npz"
    MLP([rng.normal(size=(24, 64)), rng.normal(size=(10, 24))], [np.zeros(24), np.zeros(10)]).save(path)
    code, out = run("validate", blob_file, "--port", board.port, "--limit", 50, "--float", path)
    assert code == 0 and "float model" in out


def test_train_fine_tunes_the_last_layer_and_commits(board, board_info, tmp_path, make_model):
    from fxlearn import blob, train
    path = tmp_path / "trainable.fxmb"
    path.write_bytes(blob.write_blob(train.make_trainable(make_model(4), 1, 2.0 ** -6, 12)))
    code, out = run("train", "--model", path, "--port", board.port, "--limit", 64, "--out", tmp_path / "t.fxmb")
    if not board_info.has(P.FEATURE_TRAIN):          # e.g. qemu_f100: a clear refusal, exit 1
        assert code == 1 and "cannot train" in out, out
        return
    assert code == 0, out
    assert "steps 4:" in out and "committed the trained model" in out
    assert blob.read_blob((tmp_path / "t.fxmb").read_bytes()).layers[1].weight.shape == (10, 24)


def test_train_refuses_a_frozen_format_layer(board, board_info, blob_file):
    code, out = run("train", "--model", blob_file, "--port", board.port, "--limit", 32)
    reason = "not int16" if board_info.has(P.FEATURE_TRAIN) else "cannot train"
    assert code == 1 and reason in out, out


def test_a_bad_port_is_a_clean_error():
    code, out = run("info", "--port", "/dev/does-not-exist")
    assert code == 1 and "cannot open /dev/does-not-exist" in out
