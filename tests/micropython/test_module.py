"""The fxlearn MicroPython module against the integer reference, on every build: the tests in
firmware/micropython/tests print results; the .exp files hold what the Python reference prints
for the same script (checked here too), and every build must print exactly that."""
from __future__ import annotations

import os
import subprocess

import pytest

from conftest import SCRIPTS, expected
import fxlearn_ref

ids = [s.stem for s in SCRIPTS]


@pytest.mark.parametrize("script", SCRIPTS, ids=ids)
def test_exp_files_are_the_reference(test_data, script):
    assert fxlearn_ref.run_test(script, test_data) == expected(script), \
        f"{script.name}.exp is stale: rerun python tests/micropython/fxlearn_ref.py and review"


def run_unix(binary, script, data, path=None) -> str:
    """micropython <script> in the data folder (the script's own folder is on sys.path)."""
    env = dict(os.environ)
    if path is not None:
        env["MICROPYPATH"] = str(path)
    result = subprocess.run([str(binary), str(script)], cwd=data, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.parametrize("script", SCRIPTS, ids=ids)
def test_unix_port_module(unix_builds, test_data, script):
    assert run_unix(unix_builds.unix, script, test_data) == expected(script)


@pytest.mark.parametrize("script", SCRIPTS, ids=ids)
def test_unix_port_native_mpy_x64(unix_builds, test_data, script):
    out = run_unix(unix_builds.unix_stock, script, test_data, path=unix_builds.dist("x64"))
    assert out == expected(script)


def test_stock_unix_port_has_no_module(unix_builds):
    """The native-module runs above really load the .mpy: the stock binary has no fxlearn."""
    result = subprocess.run([str(unix_builds.unix_stock), "-c", "import fxlearn"],
                            capture_output=True, text=True, env={**os.environ, "MICROPYPATH": ""})
    assert "ImportError" in result.stderr


@pytest.mark.emulator
@pytest.mark.parametrize("script", SCRIPTS, ids=ids)
def test_qemu_module(qemu_module_board, script):
    assert qemu_module_board.exec(script.read_text(), timeout=120) == expected(script)


@pytest.mark.emulator
@pytest.mark.parametrize("script", SCRIPTS, ids=ids)
def test_qemu_native_mpy_armv7m(qemu_natmod_board, script):
    assert qemu_natmod_board.exec(script.read_text(), timeout=120) == expected(script)


@pytest.mark.emulator
def test_qemu_native_mpy_is_loaded_from_lib(qemu_natmod_board):
    where = qemu_natmod_board.exec("import fxlearn\nprint(fxlearn.__file__)").strip()
    assert where == "/lib/fxlearn.mpy"
