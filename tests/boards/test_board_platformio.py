"""platformio.ini builds every offline-capable environment through `pio run` with the local
stand-in platforms (tools/pio_offline_setup.sh), and `-t upload` boots a qemu board."""
from __future__ import annotations

import configparser
import os
import shlex
import signal
import subprocess
import sys
import time

import pytest

from fxlearn.emulator import Emulator

from conftest import ROOT, session_processes

OFFLINE_ENVS = ["native", "qemu_f405", "qemu_f100", "qemu_rv32", "nucleo_f446re", "bluepill_f103c8"]


@pytest.fixture(scope="module")
def pio_env():
    """Environment variables for pio from the setup script (which provisions build/pio-core)."""
    out = subprocess.run(["bash", "tools/pio_offline_setup.sh"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.strip().splitlines()[-1]
    words = shlex.split(out)
    assert words[0] == "export"
    env = dict(os.environ)
    env.update(word.split("=", 1) for word in words[1:])
    return env


def pio(env, *args, **kwargs):
    return subprocess.run([sys.executable, "-m", "platformio", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, **kwargs)


def test_default_envs_are_every_env_that_builds_offline():
    ini = configparser.ConfigParser()
    ini.read(ROOT / "platformio.ini")
    envs = {s[4:] for s in ini.sections() if s.startswith("env:")}
    default = [e.strip() for e in ini["platformio"]["default_envs"].split(",")]
    assert default == OFFLINE_ENVS
    assert envs - set(default) == {"esp32dev", "esp32-c3-devkitm-1"}  # need the registry


def test_setup_is_idempotent_and_self_contained(pio_env):
    core = ROOT / "build" / "pio-core"
    assert pio_env["PLATFORMIO_CORE_DIR"] == str(core)
    again = subprocess.run(["bash", "tools/pio_offline_setup.sh"], cwd=ROOT, capture_output=True,
                           text=True, check=True)
    assert "Installing" not in again.stderr  # nothing left to do
    assert (core / "packages" / "tool-scons" / "SCons" / "Script" / "Main.py").is_file()
    assert {p.name for p in (core / "platforms").iterdir()} >= {"ststm32.pio-link",
                                                               "native.pio-link"}


@pytest.mark.slow
def test_pio_run_builds_every_offline_env(pio_env):
    result = pio(pio_env, "run", timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for env in OFFLINE_ENVS:
        assert f"{env}" in result.stdout and "FAILED" not in result.stdout
        program = "program" if env == "native" else "firmware.elf"
        assert (ROOT / "build" / "pio" / env / program).is_file()
    # the Cortex-M4F builds really are hard-float (the flag reached the linker's multilib)
    attributes = subprocess.run(["arm-none-eabi-readelf", "-A",
                                 ROOT / "build/pio/qemu_f405/firmware.elf"],
                                capture_output=True, text=True, check=True).stdout
    assert "Tag_ABI_VFP_args: VFP registers" in attributes


def first_frame(data: bytes) -> bytes:
    return data[:data.index(b"\0") + 1]


@pytest.mark.emulator
@pytest.mark.slow
def test_upload_boots_the_firmware_in_qemu(pio_env):
    build = pio(pio_env, "run", "-e", "qemu_f405", timeout=600)
    assert build.returncode == 0, build.stdout[-2000:]
    # What the firmware sends first (its BOOT frame), seen through the emulator module.
    with Emulator("qemu_f405", firmware=ROOT / "build/pio/qemu_f405/firmware.elf") as emu:
        ser = emu.open_serial(timeout=3)
        boot = first_frame(ser.read_until(b"\0"))
        ser.close()
    proc = subprocess.Popen([sys.executable, "-m", "platformio", "run", "-e", "qemu_f405", "-t",
                             "upload"], cwd=ROOT, env=pio_env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not session_processes(proc.pid, "qemu-system") and time.monotonic() < deadline:
            time.sleep(0.1)
        qemu = session_processes(proc.pid, "qemu-system")
        assert qemu, "pio did not start QEMU"
        time.sleep(1.0)
        for pid in qemu:
            os.kill(pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    # pio prints bytes that are not UTF-8 as \xNN text
    assert boot.decode("utf-8", "backslashreplace").encode() in out
    assert not session_processes(proc.pid, "qemu-system")
