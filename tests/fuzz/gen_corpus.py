"""Writes the fuzzers' seed corpus (tests/fuzz/corpus/<target>/) and the dispatcher's reference
model (fuzz_ref_blob.h) from the host codec and blob writer, so every seed is a valid input the
fuzzer mutates from. Deterministic: rerunning it rewrites the same files.

    .venv/bin/python tests/fuzz/gen_corpus.py
"""
from __future__ import annotations

import struct
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "host"))

from fxlearn import blob, fixed, mlp, quant  # noqa: E402
from fxlearn import protocol as P  # noqa: E402
from fxlearn.protocol import Cmd  # noqa: E402


def small_model(seed: int, sizes=(8, 6, 4), fmt=quant.FMT_INT8, bits=8, per_channel=True,
                levels=False) -> mlp.IntModel:
    """A valid random MLP small enough for the 8 KiB profile's model slot."""
    rng = np.random.default_rng(seed)
    layers = []
    lim = 100 if fmt == quant.FMT_INT8 else 3000
    for k, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        last = k == len(sizes) - 2
        n_scale = n_out if per_channel else 1
        pairs = [fixed.quantize_multiplier(float(s)) for s in rng.uniform(0.002, 0.02, n_scale)]
        act_levels = None
        if levels and not last:
            act_levels = np.array([0, 16, 64, 255])
        layers.append(mlp.IntLayer(fmt, bits, rng.integers(-lim, lim + 1, (n_out, n_in)),
                                   rng.integers(-3000, 3000, n_out),
                                   np.array([m for m, _ in pairs]), np.array([s for _, s in pairs]),
                                   fixed.INT16_MIN if last else 0, fixed.INT16_MAX if last else 255,
                                   act_levels))
    return mlp.IntModel(layers, input_scale=1 / 16, output_scale=0.05)


def reference_blob() -> bytes:
    """The dispatcher fuzzer's preloaded model (8 inputs, 4 classes) and the malformed-input
    tests' reference blob."""
    return blob.write_blob(small_model(1))


def blob_seeds() -> list[bytes]:
    return [reference_blob(),
            blob.write_blob(small_model(2, (5, 3), per_channel=False)),
            blob.write_blob(small_model(3, (8, 6, 4), levels=True)),
            blob.write_blob(small_model(4, (6, 5, 4, 3), fmt=quant.FMT_INT16, bits=16)),
            blob.write_blob(small_model(5, (16, 8, 10)))]


def frame_seeds() -> list[bytes]:
    """cap selector byte + one wire frame (without its delimiter)."""
    frames = [P.encode_frame(Cmd.HELLO, 7, bytes([1, 0])),
              P.encode_frame(Cmd.ECHO, 65535, bytes(range(256)) * 2),
              P.encode_frame(Cmd.STATS, 0),
              P.encode_frame(P.TYPE_REPLY | Cmd.BATCH, 300, bytes(17)),
              P.encode_frame(P.TYPE_BOOT, 0, struct.pack("<IBI", 3, 1, 0xDEADBEEF)),
              P.encode_frame(Cmd.UPLOAD_CHUNK, 9, struct.pack("<I", 0) + reference_blob()[:200])]
    return [bytes([cap]) + f[:-1] for cap, f in zip((255, 200, 8, 40, 16, 60), frames)]


# ---- dispatcher scripts (format: fuzz_dispatch.c) ----

def rec_frame(cmd: int, payload: bytes = b"", delta: int = 0) -> bytes:
    return bytes([0, cmd & 0xFF, delta & 0xFF]) + struct.pack("<H", len(payload)) + payload


def rec_raw(data: bytes) -> bytes:
    return bytes([1, len(data)]) + data


def rec_upload(data: bytes) -> bytes:
    return bytes([2]) + struct.pack("<H", len(data)) + data


def rec_idle(steps: int) -> bytes:
    return bytes([3, steps])


HELLO = rec_frame(Cmd.HELLO, bytes([P.PROTO_MAJOR, P.PROTO_MINOR]))


def batch(bseq: int, count: int, x_bytes: int = 1, n_in: int = 8, n_out: int = 4) -> bytes:
    rng = np.random.default_rng(bseq)
    x = rng.integers(-100, 100, (count, n_in))
    y = rng.integers(0, n_out, count)
    return P.pack_batch(bseq, x, y, x_bytes)


def dispatch_seeds() -> list[bytes]:
    rng = np.random.default_rng(0)
    x8 = rng.integers(-100, 100, (3, 8))
    eval_begin = struct.pack("<BBI", P.STREAM_EVAL, 1, 1)
    return [
        b"\0" + HELLO + rec_frame(Cmd.STATS) + rec_frame(Cmd.ECHO, b"hello\0world"),
        b"\1" + HELLO + rec_frame(Cmd.STREAM_BEGIN, eval_begin)
        + b"".join(rec_frame(Cmd.BATCH, batch(b, 4)) for b in (1, 2, 3))
        + rec_frame(Cmd.BATCH, batch(2, 4), delta=-2) + rec_frame(Cmd.STATS, delta=1),
        b"\1" + HELLO + rec_frame(Cmd.INFER, P.pack_infer(x8, 1, True))
        + rec_frame(Cmd.INFER, P.pack_infer(x8, 2, False))
        + rec_frame(Cmd.READ_MODEL, struct.pack("<BIH", P.MODEL_ACTIVE, 0, 64))
        + rec_frame(Cmd.READ_MODEL, struct.pack("<BIH", P.MODEL_ACTIVE, 100, 200)),
        b"\0" + HELLO + rec_upload(reference_blob()) + rec_frame(Cmd.INFER, P.pack_infer(x8, 1, False)),
        b"\0" + HELLO + rec_frame(Cmd.LINK_TEST, struct.pack("<I", 12)) + rec_raw(bytes(range(1, 13)))
        + rec_frame(Cmd.LINK_TEST, struct.pack("<I", 1000)) + rec_idle(200) + rec_frame(Cmd.STATS),
        b"\1" + HELLO + rec_frame(Cmd.RESET) + HELLO + rec_frame(Cmd.STATS),
        b"\1" + HELLO + rec_frame(Cmd.STREAM_BEGIN, struct.pack("<BBI", P.STREAM_TRAIN, 1, 1))
        + rec_frame(Cmd.BATCH, batch(1, 2)) + rec_frame(Cmd.TRAIN_COMMIT)
        + rec_frame(Cmd.READ_MODEL, struct.pack("<BIH", P.MODEL_TRAINING, 0, 32)),
        b"\0" + rec_raw(b"\x05garbage\0\0\x03ab") + rec_idle(150) + HELLO
        + rec_frame(Cmd.UPLOAD_BEGIN, struct.pack("<II", 64, 0))
        + rec_frame(Cmd.UPLOAD_CHUNK, struct.pack("<I", 0) + bytes(64))
        + rec_frame(Cmd.UPLOAD_COMMIT) + rec_frame(Cmd.UPLOAD_COMMIT, delta=-1),
        b"\1" + HELLO + rec_frame(Cmd.STREAM_BEGIN, struct.pack("<BBI", P.STREAM_EVAL, 2, 5))
        + rec_frame(Cmd.BATCH, batch(5, 3, 2)) + rec_frame(Cmd.BATCH, batch(7, 3, 2))
        + rec_frame(Cmd.STATS, delta=3) + rec_frame(0x7F) + rec_frame(0x85),
    ]


def write_header(path: Path, data: bytes) -> None:
    rows = [", ".join(f"0x{b:02x}" for b in data[i:i + 12]) for i in range(0, len(data), 12)]
    path.write_text("/* Generated by tests/fuzz/gen_corpus.py: the reference model blob. */\n"
                    "#ifndef FUZZ_REF_BLOB_H\n#define FUZZ_REF_BLOB_H\n#include <stdint.h>\n"
                    "static const uint8_t fuzz_ref_blob[] = {\n    " + ",\n    ".join(rows)
                    + "\n};\n#endif\n")


def main() -> None:
    write_header(HERE / "fuzz_ref_blob.h", reference_blob())
    for target, seeds in (("frame", frame_seeds()), ("blob", [b"\3" + b for b in blob_seeds()]),
                          ("dispatch", dispatch_seeds())):
        out = HERE / "corpus" / target
        out.mkdir(parents=True, exist_ok=True)
        for old in out.glob("seed_*"):
            old.unlink()
        for k, data in enumerate(seeds):
            (out / f"seed_{k:02d}").write_bytes(data)
        print(f"{target}: {len(seeds)} seeds")


if __name__ == "__main__":
    main()
