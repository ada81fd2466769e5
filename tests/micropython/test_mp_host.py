"""On-device training through the host side (fxlearn.mp, `fxlearn mp`): the training library
(fxlearn_train.py) runs on the unix port and on the emulated board, and every run must give the
same integers as the host: the Python reference (train.Trainer + optim.Optimizer) and the C
kernel through ctypes, step by step and in the trained model."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

from fxlearn import blob, mp, native, train
from fxlearn.bench.soak import soak_model
from fxlearn.mp_cli import mp as mp_cli


def small_spec(**kw) -> mp.TrainSpec:
    return mp.TrainSpec(**{"hidden": (16,), "epochs": 2, "limit": 64, "batch": 16, **kw})


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "file"])
@pytest.mark.parametrize("first", [0, 1], ids=["all-layers", "last-layer"])
def test_unix_port_training_is_bit_exact(unix_builds, stream, first):
    spec = small_spec(stream=stream, first=first, rounding=2 if first else 0, ortho=1)
    prep = mp.prepare(spec)
    reference = mp.reference_run(prep, spec, kernel=native.load())
    for binary, path in ((unix_builds.unix, None), (unix_builds.unix_stock, str(unix_builds.dist("x64")))):
        run = mp.train_on_unix(binary, spec, prep, micropypath=path)
        v = mp.check_run(prep, run, reference)
        assert v.ok, v.report()
        assert v.steps_device == 2 * 4


def test_validate_reports_a_changed_model(unix_builds):
    spec = small_spec(epochs=1)
    prep = mp.prepare(spec)
    reference = mp.reference_run(prep, spec)
    run = mp.train_on_unix(unix_builds.unix, spec, prep)
    tampered = bytearray(run.blob)
    tampered[-40] ^= 1                  # a bias byte of the last layer (the CRC is not re-sealed)
    steps = [tuple(s) for s in run.steps]
    steps[1] = steps[1][:1] + (steps[1][1] + 1,) + steps[1][2:]
    v = mp.check_run(prep, mp.RunResult(steps, run.blob), reference)
    assert not v.ok and v.first_step_mismatch == 1 and v.blob_identical
    with pytest.raises(ValueError):     # a corrupted model does not load at all
        mp.check_run(prep, mp.RunResult(run.steps, bytes(tampered)), reference)


@pytest.mark.emulator
def test_cli_train_and_fetch_over_the_emulator_pty(qemu_builds, tmp_path):
    """`fxlearn mp --port <pty>` against MicroPython with the module compiled in: train (streamed
    samples), validate, then fetch the model from the board in a second session."""
    runner = CliRunner()
    out, record = tmp_path / "trained.fxb", tmp_path / "run.json"
    with mp.QemuBoard(qemu_builds.qemu) as port:
        r = runner.invoke(mp_cli, ["--port", port, "--ramfs", "train", "--hidden", "16", "--epochs", "2",
                                   "--limit", "64", "--out", str(out), "--run", str(record)])
        assert r.exit_code == 0, r.output
        assert "BIT-EXACT" in r.output and "module in firmware" in r.output
        assert re.search(r"bit-exact logits, board vs reference:  (\d+)/\1\n", r.output), r.output
        assert "on-device evaluation vs reference:     identical" in r.output
        fetched = tmp_path / "fetched.fxb"
        r = runner.invoke(mp_cli, ["--port", port, "--no-reset", "fetch", "/fxdata/trained.fxb", str(fetched)])
        assert r.exit_code == 0, r.output
        assert fetched.read_bytes() == out.read_bytes()
    assert len(json.loads(record.read_text())["steps"]) == 8
    r = runner.invoke(mp_cli, ["replay", str(record)])
    assert r.exit_code == 0 and "BIT-EXACT" in r.output, r.output
    changed = bytearray(out.read_bytes())
    changed[100:104] = b"\0\0\0\0"
    (tmp_path / "changed.fxb").write_bytes(changed)
    r = runner.invoke(mp_cli, ["replay", str(record), "--trained", str(tmp_path / "changed.fxb")])
    assert r.exit_code != 0


def report_lines(output: str) -> list[str]:
    """The validate report of a command's output: from its first line on, progress bars dropped."""
    lines = [line.rsplit("\r", 1)[-1] for line in output.splitlines()]
    start = next(i for i, line in enumerate(lines) if line.startswith("bit-exact logits"))
    return lines[start:start + 7]


@pytest.fixture
def user_model(tmp_path):
    """A user's model file: an int8 digits MLP (random weights) with its last layer made int16
    for fine-tuning (train.make_trainable), its hidden scales nowhere but in its requantization."""
    path = tmp_path / "user.fxmb"
    path.write_bytes(blob.write_blob(train.make_trainable(soak_model(3, (64, 24, 10)), 1, 2.0 ** -6, 12)))
    return path


@pytest.mark.emulator
def test_mp_validate_prints_the_bare_metal_report(qemu_builds, user_model):
    """`fxlearn mp validate` on the emulated MicroPython board and `fxlearn validate` on the
    bare-metal virtual board print the same report, number for number (both are bit-exact)."""
    from fxlearn.board import NativeBoard
    from fxlearn.cli import main

    r = CliRunner().invoke(mp_cli, ["--qemu", "validate", str(user_model), "--limit", "100"])
    assert r.exit_code == 0, r.output
    with NativeBoard() as board:
        bare = CliRunner().invoke(main, ["validate", str(user_model), "--port", board.port, "--limit", "100"])
    assert bare.exit_code == 0, bare.output
    assert report_lines(r.output) == report_lines(bare.output)
    assert report_lines(r.output)[0] == "bit-exact logits, board vs reference:  100/100"


@pytest.mark.emulator
def test_cli_fine_tunes_a_users_model(qemu_builds, user_model, tmp_path):
    """`mp train --model` trains a user's blob (scales from its requantization, as the
    bare-metal `fxlearn train` does), last layer only: bit-exact, and the untrained layer kept."""
    out = tmp_path / "t.fxb"
    r = CliRunner().invoke(mp_cli, ["--qemu", "train", "--model", str(user_model), "--first", "last", "--limit", "64",
                                    "--test-limit", "100", "--out", str(out), "--run", str(tmp_path / "run.json")])
    assert r.exit_code == 0, r.output
    assert "BIT-EXACT" in r.output and report_lines(r.output)[0] == "bit-exact logits, board vs reference:  100/100"
    before, after = blob.read_blob(user_model.read_bytes()), blob.read_blob(out.read_bytes())
    assert np.array_equal(before.layers[0].weight, after.layers[0].weight)
    assert not np.array_equal(before.layers[1].weight, after.layers[1].weight)


def test_prepare_refuses_a_model_it_cannot_train(tmp_path):
    path = tmp_path / "int8.fxmb"
    path.write_bytes(blob.write_blob(soak_model(3, (64, 24, 10))))
    with pytest.raises(ValueError, match="layer 1 is not int16"):
        mp.prepare(small_spec(model=str(path), first=-1))
    path.write_bytes(blob.write_blob(train.make_trainable(soak_model(3, (8, 6, 4)), 1, 2.0 ** -6, 12)))
    with pytest.raises(ValueError, match="8 inputs to 4 outputs"):
        mp.prepare(small_spec(model=str(path), first=-1))


@pytest.mark.emulator
def test_cli_installs_the_native_module_on_stock_firmware(qemu_builds, tmp_path):
    """Stock MicroPython on qemu: `train` finds no fxlearn, installs the armv7m .mpy (the board's
    architecture, detected), trains from a dataset file on the board, last layer only."""
    r = CliRunner().invoke(mp_cli, ["--qemu-stock", "train", "--file", "--first", "1", "--hidden", "16",
                                    "--limit", "48", "--out", str(tmp_path / "t.fxb"),
                                    "--run", str(tmp_path / "run.json")])
    assert r.exit_code == 0, r.output
    assert "/lib/fxlearn.mpy" in r.output and "(armv7m)" in r.output and "BIT-EXACT" in r.output


def test_mip_package_lists_the_library():
    """firmware/micropython/package.json (mip, for firmware with the module built in) installs
    exactly the training library, at the package's version."""
    import re

    from fxlearn.paths import source_root

    root = source_root()
    package = json.loads((root / "firmware" / "micropython" / "package.json").read_text())
    assert [u[0] for u in package["urls"]] == list(mp.LIBRARY)
    assert all((root / "firmware" / "micropython" / u[1]).is_file() for u in package["urls"])
    assert package["version"] == re.search(r'^version = "(.*)"', (root / "pyproject.toml").read_text(), re.M)[1]


@pytest.mark.emulator
def test_mpremote_mip_installs_the_native_module_package(qemu_builds):
    """What a user does with stock firmware: `mpremote mip install <dist>/package.json`, then
    `import fxlearn` (the emulator needs the RAM filesystem first, mounted in the same session)."""
    import subprocess
    import sys

    from fxlearn.paths import source_root

    ramfs = (source_root() / "firmware" / "micropython" / "ramfs.py").read_text() + "\nmount()\n"
    package = qemu_builds.dist("armv7m") / "package.json"
    with mp.QemuBoard(qemu_builds.qemu_stock) as port:
        r = subprocess.run([sys.executable, "-m", "mpremote", "connect", port, "exec", ramfs,
                            "+", "mip", "install", "--target", "/lib", str(package),
                            "+", "exec", "import fxlearn, fxlearn_train; print(fxlearn.__file__, fxlearn.sat16(70000))"],
                           capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "/lib/fxlearn.mpy 32767" in r.stdout
