"""Every input the fuzzers ever crashed on (tests/fuzz/regressions/<target>/) and every seed is
replayed through the sanitizer-instrumented fuzz targets (tools/fuzz.sh builds the same
binaries): a fixed bug stays fixed. Each regression file is named after the bug it found."""
from __future__ import annotations

import fcntl
import subprocess
from pathlib import Path

import pytest

from fxlearn.paths import source_root

ROOT = source_root()
FUZZ = ROOT / "tests" / "fuzz"
TARGETS = ("frame", "blob", "dispatch")


@pytest.fixture(scope="module")
def fuzzers() -> Path:
    lock_path = ROOT / "build" / ".make.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        r = subprocess.run(["make", "-s", "-C", str(ROOT), "fuzz"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return ROOT / "build" / "fuzz"


def inputs(kind: str) -> list[tuple[str, Path]]:
    return [(t, f) for t in TARGETS for f in sorted((FUZZ / kind / t).glob("*"))]


def replay(fuzzers: Path, target: str, files: list[Path]) -> None:
    r = subprocess.run([str(fuzzers / f"fuzz_{target}"), *map(str, files)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]


def test_there_are_regression_inputs():
    assert inputs("regressions"), "tests/fuzz/regressions is empty"


@pytest.mark.parametrize("target,path", inputs("regressions"), ids=lambda v: getattr(v, "name", v))
def test_regression_input_no_longer_crashes(fuzzers, target, path):
    replay(fuzzers, target, [path])


@pytest.mark.parametrize("target", TARGETS)
def test_seed_corpus_runs_clean(fuzzers, target):
    seeds = sorted((FUZZ / "corpus" / target).glob("*"))
    assert seeds
    replay(fuzzers, target, seeds)
