"""Shared pytest fixtures. Tests that use the `kernel` fixture are marked `kernel`, so that
tools/run_tests.sh reruns exactly them against the sanitizer build of the C kernel."""
from __future__ import annotations

import numpy as np
import pytest

from fxlearn import native


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "kernel" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.kernel)


@pytest.fixture(scope="session")
def kernel():
    """The C kernel as a ctypes library (native build, or FXLEARN_KERNEL_LIB)."""
    return native.load()


@pytest.fixture
def rng(request):
    """A numpy Generator seeded from the test's name: reproducible, different per test."""
    seed = sum(map(ord, request.node.nodeid)) * 7919
    return np.random.default_rng(seed)
