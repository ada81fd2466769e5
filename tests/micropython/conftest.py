"""Fixtures for the MicroPython suites: cached builds (tools/mpy_build.sh) and emulator sessions.

The first run builds MicroPython 1.25 (unix port twice, the qemu port twice, four .mpy archs:
about 1.5 min on 2 cores); later runs reuse build/micropython/ and only rebuild what changed."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from fxlearn import mp

sys.path.insert(0, str(Path(__file__).parent))
import fxlearn_ref  # noqa: E402  (the reference shim, for the .exp files)

TESTS_DIR = fxlearn_ref.TESTS_DIR
SCRIPTS = fxlearn_ref.test_scripts()
DATA_FILES = ("model.fxb", "scales.bin", "theta.bin", "slope.bin", "x.bin", "labels.bin")


def expected(script: Path) -> str:
    return script.with_name(script.name + ".exp").read_text()


@pytest.fixture(scope="session")
def test_data() -> Path:
    """The model, scales and samples the Model/Trainer tests read (deterministic, from the
    host reference), in build/micropython/testdata."""
    return fxlearn_ref.make_test_data()


@pytest.fixture(scope="session")
def unix_builds() -> mp.Builds:
    return mp.build("unix", "unix-stock", "mpy-x64")


@pytest.fixture(scope="session")
def qemu_builds() -> mp.Builds:
    return mp.build("qemu", "qemu-stock", "mpy-armv7m")


def _board_with_tests(firmware: Path, arch: str | None, data: Path):
    """A qemu board with a RAM filesystem holding the tests' helper module and data files (and
    fxlearn.mpy), the data in the current directory."""
    emulator = mp.QemuBoard(firmware)
    port = emulator.start()
    board = mp.Board(port, ramfs=True)
    try:
        board.open()
        if arch is not None:
            board.install(arch)
        board.write_file("/lib/fxtest.py", (TESTS_DIR / "fxtest.py").read_bytes())
        for name in DATA_FILES:
            board.write_file(name, (data / name).read_bytes())
    except BaseException:
        board.close()
        emulator.stop()
        raise
    return emulator, board


@pytest.fixture(scope="module")
def qemu_module_board(qemu_builds, test_data):
    """MicroPython with fxlearn compiled in, on the emulated MPS2_AN385."""
    emulator, board = _board_with_tests(qemu_builds.qemu, None, test_data)
    yield board
    board.close()
    emulator.stop()


@pytest.fixture(scope="module")
def qemu_natmod_board(qemu_builds, test_data):
    """Stock MicroPython on the emulated MPS2_AN385 with fxlearn.mpy (armv7m) in /lib."""
    emulator, board = _board_with_tests(qemu_builds.qemu_stock, "armv7m", test_data)
    yield board
    board.close()
    emulator.stop()
