"""Where things are: the source tree (for the C kernel and firmware) and the results folder."""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def source_root() -> Path:
    """The fxlearn source tree (an editable install or a checkout); FXLEARN_ROOT overrides."""
    env = os.environ.get("FXLEARN_ROOT")
    if env:
        return Path(env).resolve()
    root = PACKAGE_DIR.parent.parent
    if (root / "firmware" / "kernel").is_dir():
        return root
    raise FileNotFoundError(
        "fxlearn source tree not found: set FXLEARN_ROOT to a checkout of fxlearn "
        "(the C kernel and firmware are built from it)")


def get_include() -> Path:
    """Directory of the C kernel headers (emlearn-style), for compiling a model into firmware."""
    return source_root() / "firmware" / "kernel"


def results_dir() -> Path:
    """Benchmark and demo output folder: FXLEARN_RESULTS, else <source root>/results."""
    env = os.environ.get("FXLEARN_RESULTS")
    path = Path(env) if env else source_root() / "results"
    path.mkdir(parents=True, exist_ok=True)
    return path
