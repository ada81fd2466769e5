"""Hardware-in-the-loop fixtures: every test here talks to a board over a real serial port
(the virtual board's pseudo-terminal by default) through the same client a real board uses.

The board comes from a --board option if one is registered, else FXLEARN_BOARD
(fxlearn.board.open_board spec): "native" (default),
"native:baud=115200", a name another module registered (e.g. a QEMU board), or
"port:/dev/ttyACM0" for a board someone else runs. Tests use only `board` (port, reset()) and
`device`, so a new board kind needs a registered factory, not new tests. FXLEARN_HIL_TIMEOUT
sets the client's reply timeout (slow emulators)."""
from __future__ import annotations

import os

import numpy as np
import pytest
from sklearn.datasets import load_digits

from fxlearn import blob, fixed, mlp, quant
from fxlearn.board import open_board
from fxlearn.device import Device

HIL_TIMEOUT = float(os.environ.get("FXLEARN_HIL_TIMEOUT", "1.0"))


def board_spec(config) -> str | None:
    """A --board option (if some conftest registers one), else FXLEARN_BOARD, else native."""
    return config.getoption("--board", None) or os.environ.get("FXLEARN_BOARD")


@pytest.fixture(scope="session")
def board(pytestconfig):
    """The board under test, started once for the session and stopped at its end."""
    with open_board(board_spec(pytestconfig)) as b:
        yield b


@pytest.fixture
def fresh_board(pytestconfig):
    """A board of its own for a test that needs a just-booted one (no model yet)."""
    with open_board(board_spec(pytestconfig)) as b:
        yield b


@pytest.fixture(scope="session")
def hil_timeout() -> float:
    return HIL_TIMEOUT


@pytest.fixture(scope="session")
def board_info(board):
    """The board's HELLO reply (features, sizes), read once: tests of optional features ask it."""
    with Device(board.port, board=board, timeout=HIL_TIMEOUT) as dev:
        return dev.info


@pytest.fixture
def device(board):
    """A connected Device (new session) on the session's board, closed after the test."""
    with Device(board.port, board=board, timeout=HIL_TIMEOUT) as dev:
        yield dev


def random_model(seed: int, sizes=(64, 24, 10), fmt=quant.FMT_INT8, bits=8) -> mlp.IntModel:
    """A valid integer MLP with random weights: bit-exactness does not need a trained one."""
    rng = np.random.default_rng(seed)
    layers = []
    for k, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        last = k == len(sizes) - 2
        w = rng.integers(-40, 41, (n_out, n_in))
        b = rng.integers(-2000, 2000, n_out)
        pairs = [fixed.quantize_multiplier(float(s)) for s in rng.uniform(0.001, 0.01, n_out)]
        layers.append(mlp.IntLayer(fmt, bits, w, b, np.array([m for m, _ in pairs]),
                                   np.array([s for _, s in pairs]),
                                   fixed.INT16_MIN if last else 0, fixed.INT16_MAX if last else 255))
    return mlp.IntModel(layers, input_scale=1 / 16, output_scale=0.02)


@pytest.fixture(scope="session")
def models():
    """Two different digit-shaped models and their blobs."""
    out = []
    for seed in (1, 2):
        m = random_model(seed)
        out.append((m, blob.write_blob(m)))
    return out


@pytest.fixture(scope="session")
def digits():
    d = load_digits()
    return d.data.astype(np.int64), d.target.astype(np.int64)


@pytest.fixture(scope="session")
def make_model():
    """random_model, for tests that need models of their own (a test module cannot import
    this conftest by name: tests/conftest.py shadows it in a whole-suite run)."""
    return random_model
