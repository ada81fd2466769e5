"""ctypes access to the C kernel built as a native shared library.

Used by the bit-exactness tests and the benchmarks to run the very C code that goes on the
board. ``load()`` builds ``build/native/libfxkernel.so`` with make if needed (under a file
lock, so parallel test workers do not race) unless FXLEARN_KERNEL_LIB names a library, e.g.
the sanitizer build.
"""
from __future__ import annotations

import ctypes as C
import fcntl
import os
import subprocess
from pathlib import Path

import numpy as np

from .paths import source_root

_lib = None


def _build(root: Path, target: str = "lib") -> Path:
    """`make <target>` (lib: build/native, lib-<x>: build/native-<x>) under the lock."""
    lock_path = root / "build" / ".make.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        subprocess.run(["make", "-s", "-C", str(root), target], check=True)
    return root / "build" / target.replace("lib", "native", 1) / "libfxkernel.so"


def load() -> C.CDLL:
    """The kernel library, loaded once per process, with argument types declared."""
    global _lib
    if _lib is None:
        env = os.environ.get("FXLEARN_KERNEL_LIB")
        root = source_root()
        path = Path(env) if env else _build(root)
        if not path.is_absolute():
            path = root / path
        _lib = C.CDLL(str(path))
        _declare(_lib)
    return _lib


def load_variant(target: str) -> C.CDLL:
    """Another build of the kernel (`make <target>`, e.g. lib-small: build/native-small), loaded
    separately from load()'s, with the same declared signatures."""
    lib = C.CDLL(str(_build(source_root(), target)))
    _declare(lib)
    return lib


# Signatures: name -> (restype, argtypes). Modules that wrap further kernel routines call
# declare() at import time, so that one table describes the whole C API.
i8p, i16p, i32p, u8p = (C.POINTER(t) for t in (C.c_int8, C.c_int16, C.c_int32, C.c_uint8))
SIGNATURES: dict[str, tuple] = {
    "fx_sat32": (C.c_int32, [C.c_int64]),
    "fx_sat16": (C.c_int16, [C.c_int64]),
    "fx_sat16_32": (C.c_int16, [C.c_int32]),
    "fx_sat8": (C.c_int8, [C.c_int64]),
    "fx_rhu_shift64": (C.c_int64, [C.c_int64, C.c_int]),
    "fx_rhu_div": (C.c_int64, [C.c_int64, C.c_int64]),
    "fx_udiv64": (C.c_uint64, [C.c_uint64, C.c_uint64, C.POINTER(C.c_uint64)]),
    "fx_add_sat16": (C.c_int16, [C.c_int16, C.c_int16]),
    "fx_sub_sat16": (C.c_int16, [C.c_int16, C.c_int16]),
    "fx_mul_sat16": (C.c_int16, [C.c_int16, C.c_int16]),
    "fx_add_sat32": (C.c_int32, [C.c_int32, C.c_int32]),
    "fx_sub_sat32": (C.c_int32, [C.c_int32, C.c_int32]),
    "fx_q_from_int": (C.c_int32, [C.c_int32, C.c_int]),
    "fx_q_rescale": (C.c_int32, [C.c_int32, C.c_int, C.c_int]),
    "fx_requant_check": (C.c_int, [C.c_int32, C.c_int32]),
    "fx_requant": (C.c_int32, [C.c_int32, C.c_int32, C.c_int32]),
    "fx_requant_fast": (C.c_int32, [C.c_int32, C.c_int32, C.c_int32]),
    "fx_requant_hi_k": (C.c_uint32, [C.c_int32]),
    "fx_requant_s16": (C.c_int16, [C.c_int32, C.c_int32, C.c_int32, C.c_int16, C.c_int16]),
    "fx_requant_s8": (C.c_int8, [C.c_int32, C.c_int32, C.c_int32, C.c_int8, C.c_int8]),
}


def declare(name: str, restype, argtypes) -> None:
    """Record a kernel routine's C signature (applied now if the library is loaded)."""
    SIGNATURES[name] = (restype, list(argtypes))
    if _lib is not None:
        _declare(_lib)


def _declare(lib: C.CDLL) -> None:
    for name, (res, args) in SIGNATURES.items():
        fn = getattr(lib, name, None)
        if fn is not None:
            fn.restype, fn.argtypes = res, args


def ptr(array: np.ndarray, ctype):
    """A ctypes pointer to a C-contiguous numpy array (None for None)."""
    if array is None:
        return None
    if not array.flags["C_CONTIGUOUS"]:
        raise ValueError("array must be C-contiguous")
    return array.ctypes.data_as(C.POINTER(ctype))
