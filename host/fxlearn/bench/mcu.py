"""Benchmark: the kernel on Cortex-M4 and Cortex-M3, in executed instructions (the unicorn
engine, host/fxlearn/mcu_run.py; deterministic counts, no cycles):

* every dense kernel, instructions per multiply-accumulate of one whole fx_dense_* call (64 -> 32,
  validation and requantization included), the reference path (-DFX_DENSE_REFERENCE) against the
  optimized one (Cortex-M4: the DSP path), each output checked against the Python reference;
* one on-device training step (fx_train_step) of the digits MLP 64-32-10 with int16 weights,
  instructions per sample, checked bit for bit against the Python reference Trainer, next to the
  same step compiled in float32 (firmware/bench/fx_bench_train_f32.c; Cortex-M4F hardware float,
  Cortex-M3 soft float);
* RAM of that training, flash of the kernel (arm-none-eabi-size, -Os), and of each STM32 board's
  firmware (`make board`, fxlearn.fwsize).

Writes results/mcu.md, results/mcu.json and results/mcu.png.

    fxlearn bench mcu [--batch 32] [--boards/--no-boards]
"""
from __future__ import annotations

import copy
import hashlib
import json
import re
import struct
import subprocess
from dataclasses import dataclass

import click
import numpy as np
from tqdm import tqdm

from .. import data, dense, fwsize, mcu_run, nn, optim, paths, quant, train

TARGETS = ("cm4", "cm3")
TARGET_NAMES = {"cm4": "Cortex-M4F", "cm3": "Cortex-M3"}
VARIANTS = {"reference": ("FX_DENSE_REFERENCE",), "optimized": (), "no-codes": ("FX_DENSE_FAST_CODES=0",),
            # the small-flash profile (Makefile SMALL_FLAGS, bluepill's firmware), with and without
            # the packed-code dense kernels
            "small": ("FX_OPTIM_LATTICE=0",), "small-no-codes": ("FX_OPTIM_LATTICE=0", "FX_DENSE_FAST_CODES=0")}
DENSE_VARIANTS = ("reference", "optimized")
N_IN, N_OUT = 64, 32                 # the digits MLP's hidden layer
MACS = N_IN * N_OUT


@dataclass(frozen=True)
class DenseCase:
    name: str
    fmt: int
    bits: int
    in_bits: int = 16
    out_bits: int = 16


DENSE_CASES = (
    DenseCase("int16", quant.FMT_INT16, 16),
    DenseCase("int8, int8 in/out", quant.FMT_INT8, 8, 8, 8),
    DenseCase("int8", quant.FMT_INT8, 8),
    DenseCase("uniform 8-bit", quant.FMT_UNIFORM, 8),
    DenseCase("uniform 4-bit", quant.FMT_UNIFORM, 4),
    DenseCase("PoT 2-bit", quant.FMT_POT, 2),
    DenseCase("PoT 4-bit", quant.FMT_POT, 4),
    DenseCase("APoT 2-bit", quant.FMT_APOT, 2),
    DenseCase("APoT 4-bit", quant.FMT_APOT, 4),
)
# The goals, Cortex-M4 instructions per MAC of the optimized path.
DENSE_GOALS = {"int16": 1.5, "PoT 4-bit": 3.0, "APoT 4-bit": 4.0}
TRAIN_RATIO_GOALS = {"cm4": 0.4, "cm3": 0.1}
RAM_GOAL = FLASH_GOAL = 16 * 1024
BOARDS = ("qemu_f405", "nucleo_f446re", "qemu_f100", "bluepill_f103c8")


def bench_sources(*names: str):
    root = paths.source_root()
    return [root / "firmware" / "bench" / n for n in names]


# ---- dense kernels -------------------------------------------------------------------------------

def dense_layer(rng, case: DenseCase, n_in: int):
    """A 32 x n_in layer of random codes, one scale (the common requantization), full output
    range; inputs like the digits MLP's (Q12 in [0, 1]) or random int8."""
    top = 1 << (case.bits - 1)
    if case.fmt in quant.PACKED_FORMATS:
        w = quant.codes_to_levels(rng.integers(0, 1 << case.bits, size=(N_OUT, n_in)), case.fmt, case.bits)
    else:
        w = rng.integers(-top, top, size=(N_OUT, n_in))
    bias = rng.integers(-(1 << 16), 1 << 16, size=N_OUT)
    lo, hi = dense.OUT_RANGE[case.out_bits]
    x = rng.integers(0, 4097, size=n_in) if case.in_bits == 16 else rng.integers(-128, 128, size=n_in)
    return (w, bias, [1 << 30], [-12], lo, hi), x


def run_dense(mcu, case: DenseCase, rng, n_in: int = N_IN) -> int:
    """Instructions of one fx_dense call of the case, its output checked against dense.dense."""
    layer, x = dense_layer(rng, case, n_in)
    run = mcu_run.dense_forward(mcu, case.fmt, case.bits, *layer, x, case.in_bits, case.out_bits)
    if run.status != 0 or not np.array_equal(run.y, dense.dense(x, *layer, in_bits=case.in_bits)):
        raise AssertionError(f"{case.name}: the emulated kernel differs from the reference (status {run.status})")
    return run.instructions


def bench_dense(opt: str, seed: int, progress) -> dict:
    """{target: {variant: {case: {"per_mac", "marginal"}}}}; marginal: the cost of one more MAC
    (from a 128-input layer), i.e. the inner loop without the per-call and per-row work."""
    out: dict = {}
    for target in TARGETS:
        for variant in DENSE_VARIANTS:
            elf = mcu_run.build_elf(target, f"{variant}{opt}", bench_sources("fx_bench.c"), VARIANTS[variant], opt)
            mcu = mcu_run.Mcu(elf, target)
            for case in DENSE_CASES:
                rng = np.random.default_rng(seed)
                n64 = run_dense(mcu, case, rng)
                n128 = run_dense(mcu, case, rng, 2 * N_IN)
                out.setdefault(target, {}).setdefault(variant, {})[case.name] = {
                    "instructions": n64, "per_mac": n64 / MACS, "marginal": (n128 - n64) / MACS}
            progress.update(1)
    return out


# ---- the training step ---------------------------------------------------------------------------

@dataclass
class TrainSetup:
    model: object            # train.IntModel (before the step)
    params: train.TrainParams
    theta: np.ndarray
    cfg: optim.OptimConfig
    x: np.ndarray            # int16 batch [batch, 64]
    labels: np.ndarray
    x_float: np.ndarray      # the same inputs as reals (x / 4096)
    lr: float


def train_setup(batch: int, seed: int, lr: float) -> TrainSetup:
    """The digits MLP and plan of the training benchmark (bench/training.py's all-layers mode):
    He initialisation (seed), the first batch of its epoch order."""
    ds = data.load("digits")
    init = nn.MLP.init((64, 32, 10), seed=seed)
    design = train.FixedPointDesign()
    model = train.from_float(init.weights, init.biases, design)
    p, theta = train.plan(model, design.act_scales(len(model.layers)), 0, batch, q=design.q,
                          dir_q=design.dir_q, x_max=4096)
    idx = next(train.epochs(len(ds.x_train), 1, batch, seed))[0]
    x = train.quantize_input(ds.x_train[idx], model.input_scale)
    return TrainSetup(model, p, theta, train.optimizer_config(lr, q=design.q, dir_q=design.dir_q), x,
                      np.asarray(ds.y_train[idx]), x * model.input_scale, lr)


def reference_step(s: TrainSetup):
    """(theta after the step, StepStats) of the Python reference Trainer."""
    trainer = train.Trainer(copy.deepcopy(s.model), s.params, s.theta.copy(), optim.Optimizer(s.cfg, len(s.theta)))
    stats = trainer.step(s.x, s.labels)
    return trainer.theta.astype(np.int64), stats


def float_reference(s: TrainSetup) -> tuple[float, float, bool]:
    """The float step of fx_bench_train_f32.c in numpy float64: (loss, loss at the trial, kept)."""
    theta = s.theta.astype(np.float64) / (1 << 12)
    n0, n1 = s.model.layers[0].n_out, s.model.layers[1].n_out

    def unpack(t):
        w0 = t[:n0 * 64].reshape(n0, 64)
        b0 = t[n0 * 64:n0 * 65]
        w1 = t[n0 * 65:n0 * 65 + n1 * n0].reshape(n1, n0)
        return w0, b0, w1, t[n0 * 65 + n1 * n0:]

    def losses(t):
        w0, b0, w1, b1 = unpack(t)
        h = np.maximum(s.x_float @ w0.T + b0, 0)
        z = h @ w1.T + b1
        zs = z - z.max(axis=1, keepdims=True)
        lse = np.log(np.exp(zs).sum(axis=1))
        return h, z, lse - zs[np.arange(len(z)), s.labels]

    h, z, l0 = losses(theta)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    g = p / p.sum(axis=1, keepdims=True)
    g[np.arange(len(g)), s.labels] -= 1
    w0, b0, w1, b1 = unpack(theta)
    gh = (g @ w1) * (h > 0)
    grad = np.concatenate([(gh.T @ s.x_float).ravel(), gh.sum(0), (g.T @ h).ravel(), g.sum(0)])
    l1 = losses(theta - s.lr / len(s.x) * grad)[2]
    return float(l0.sum()), float(l1.sum()), bool(l1.sum() < l0.sum())


def _c_array(values, real: bool = False) -> str:
    """A C initializer: integers, or float32 constants (repr of the float, suffix f)."""
    items = (f"{float(v)!r}f" for v in values) if real else (str(int(v)) for v in values)
    return "{ " + ", ".join(items) + " }"


def train_header(s: TrainSetup) -> str:
    """fx_bench_train_data.h: the FXB_* macros of fx_bench_train.c and fx_bench_train_f32.c."""
    m0, m1 = s.model.layers
    sc = s.params.layers
    cfg = s.cfg.resolved()
    c_fields = [name for name, _ in optim.FxOptimConfig._fields_ if not name.startswith("_")]
    cfg_init = "{ " + ", ".join(f".{f} = {int(getattr(cfg, f))}" for f in c_fields) + " }"
    scales = lambda l: ", ".join(str(int(v)) for v in (l.bias_mult, l.bias_shift, l.grad_shift, l.back_mult,
                                                        l.back_shift, l.dir_w_mult, l.dir_w_shift,
                                                        l.dir_b_mult, l.dir_b_shift))
    lines = [
        "/* Generated by host/fxlearn/bench/mcu.py: the training benchmark's model, plan and batch. */",
        "#ifndef FX_BENCH_TRAIN_DATA_H", "#define FX_BENCH_TRAIN_DATA_H", "",
        f"#define FXB_BATCH {len(s.x)}", f"#define FXB_IN {m0.n_in}", f"#define FXB_OUT0 {m0.n_out}",
        f"#define FXB_OUT1 {m1.n_out}", f"#define FXB_N_PARAMS {len(s.theta)}",
        f"#define FXB_MULT0 {int(m0.mult[0])}", f"#define FXB_SHIFT0 {int(m0.shift[0])}",
        f"#define FXB_MULT1 {int(m1.mult[0])}", f"#define FXB_SHIFT1 {int(m1.shift[0])}",
        f"#define FXB_ACT0 {m0.act_min}, {m0.act_max}", f"#define FXB_ACT1 {m1.act_min}, {m1.act_max}",
        f"#define FXB_SCALES0 {scales(sc[0])}", f"#define FXB_SCALES1 {scales(sc[1])}",
        f"#define FXB_LOSS_SCALE {s.params.loss_mult}, {s.params.loss_shift}",
        f"#define FXB_SLOPE_SHIFT {s.params.slope_shift}",
        f"#define FXB_OPTIM_CONFIG {cfg_init}",
        f"#define FXB_OPTIM_WORK {cfg.work_len(len(s.theta))}",
        f"#define FXB_WORKSPACE {train.workspace_bytes(s.model, s.params, s.cfg)}",
        f"#define FXB_THETA {_c_array(s.theta)}",
        f"#define FXB_X {_c_array(s.x.ravel())}",
        f"#define FXB_LABELS {_c_array(s.labels)}",
        f"#define FXB_THETA_F {_c_array(s.theta / 4096.0, real=True)}",
        f"#define FXB_X_F {_c_array(s.x_float.ravel(), real=True)}",
        f"#define FXB_LR_F {s.lr!r}f",
        "", "#endif", "",
    ]
    return "\n".join(lines)


def build_train(s: TrainSetup, target: str, variant: str, opt: str, gc_sections: bool = False):
    """The training benchmark image of the setup (its generated header in a folder of its own)."""
    header = train_header(s)
    tag = f"b{len(s.x)}-{hashlib.sha256(header.encode()).hexdigest()[:8]}"
    gen = paths.source_root() / "build" / "mcu" / f"gen-{tag}"
    gen.mkdir(parents=True, exist_ok=True)
    path = gen / "fx_bench_train_data.h"
    if not path.exists() or path.read_text() != header:
        path.write_text(header)
    # -ffp-contract=fast: the float step may use VFMA (GCC's ISO C mode forbids contraction)
    return mcu_run.build_elf(target, f"train-{tag}-{variant}{opt}{'-gc' if gc_sections else ''}",
                             bench_sources("fx_bench.c", "fx_bench_train.c", "fx_bench_train_f32.c"),
                             VARIANTS[variant], opt, include_dirs=[gen], gc_sections=gc_sections,
                             cflags=["-ffp-contract=fast"], roots=["fx_bench_train_init", "fx_bench_train_step"])


STATS = struct.Struct("<qqIIII")     # fx_train_stats on ARM


def bench_train(s: TrainSetup, opt: str, progress) -> dict:
    """Per target: the integer step (reference and optimized dense path) and the float step."""
    want_theta, want = reference_step(s)
    f_loss, f_trial, f_kept = float_reference(s)
    out: dict = {}
    for target in TARGETS:
        res = out.setdefault(target, {})
        for variant in DENSE_VARIANTS:
            mcu = mcu_run.Mcu(build_train(s, target, variant, opt), target)
            if mcu.call("fx_bench_train_init").i32 != 0:
                raise RuntimeError("fx_bench_train_init failed")
            call = mcu.call("fx_bench_train_step", profile=True)
            theta = mcu.get(mcu.addr("fxb_theta"), "<i2", len(s.theta)).astype(np.int64)
            loss, loss_trial, n, correct, changed, accepted = STATS.unpack(mcu.read(mcu.addr("fxb_stats"), STATS.size))
            got = train.StepStats(loss, loss_trial, n, correct, changed, bool(accepted))
            if call.i32 != 0 or got != want or not np.array_equal(theta, want_theta):
                raise AssertionError(f"{target} {variant}: the emulated training step differs from the "
                                     f"reference: status {call.i32}, {got} != {want}")
            res[variant] = {"instructions": call.instructions, "per_sample": call.instructions / len(s.x),
                            "stack": call.stack, "stats": want.__dict__ | {"accepted": bool(want.accepted)},
                            "profile": dict(sorted(call.profile.items(), key=lambda kv: -kv[1]))}
            if variant == "optimized":
                mcu.call("fx_bench_train_f32_init")
                fcall = mcu.call("fx_bench_train_f32_step", profile=True)
                fl = struct.unpack("<f", mcu.read(mcu.addr("fxb_f_loss"), 4))[0]
                ft = struct.unpack("<f", mcu.read(mcu.addr("fxb_f_loss_trial"), 4))[0]
                if not (np.isclose(fl, f_loss, rtol=1e-4) and np.isclose(ft, f_trial, rtol=1e-4)
                        and bool(fcall.r0) == f_kept):
                    raise AssertionError(f"{target}: float step ({fl}, {ft}, {fcall.r0}) != numpy "
                                         f"({f_loss}, {f_trial}, {f_kept})")
                res["float32"] = {"instructions": fcall.instructions, "per_sample": fcall.instructions / len(s.x),
                                  "stack": fcall.stack, "loss": fl, "loss_trial": ft, "accepted": bool(fcall.r0),
                                  "profile": dict(sorted(fcall.profile.items(), key=lambda kv: -kv[1]))}
                res["ram"] = train_ram(mcu, call.stack, s)
            progress.update(1)
        res["ratio"] = res["optimized"]["instructions"] / res["float32"]["instructions"]
    return out


def train_ram(mcu, stack: int, s: TrainSetup) -> dict:
    """Bytes of RAM the integer training needs (symbol sizes of fx_bench_train.c's RAM objects
    and the peak stack of fx_train_step); the batch: one sample (the streaming API) or all."""
    size = lambda name: mcu.syms[name][1]
    ram = {
        "theta (int16 weights + biases)": size("fxb_theta"),
        "workspace (fx_train_workspace_size)": size("fxb_workspace"),
        "optimizer state (fx_optim + work)": size("fxb_optim") + size("fxb_optim_work"),
        "model, trainer structs, derived biases": sum(size(n) for n in ("fxb_layers", "fxb_train_layers",
                                                                           "fxb_params", "fxb_stats",
                                                                           "fxb_bias0", "fxb_bias1")),
        "stack (peak of fx_train_step)": stack,
        "one sample + label (streaming API)": 2 * s.x.shape[1] + 2,
    }
    ram["total"] = sum(ram.values())
    ram["whole batch instead (fx_train_step)"] = s.x.size * 2 + len(s.x) * 2
    ram["float32 step: parameters, trial copy, gradients"] = sum(size(n) for n in ("fxb_f_theta", "fxb_f_current",
                                                                                     "fxb_f_grad"))
    return ram


# ---- flash ---------------------------------------------------------------------------------------

def kernel_flash() -> dict:
    """arm-none-eabi-size of every kernel object at -Os, per target, with and without the
    optimized dense path: {target: {variant: {"objects": {file: text + data}, "total", "dense"}}}."""
    root = paths.source_root()
    out: dict = {}
    for target in TARGETS:
        for variant in DENSE_VARIANTS:
            defines = VARIANTS[variant]
            objs = mcu_run.compile_objects(target, root / "build" / "mcu" / f"{target}-size-{variant}",
                                           mcu_run.kernel_sources(root), defines, "-Os")
            sizes = {o.stem: (lambda z: z["text"] + z["data"])(mcu_run.elf_size(o)) for o in objs}
            out.setdefault(target, {})[variant] = {
                "objects": sizes, "total": sum(sizes.values()),
                "dense": sum(v for k, v in sizes.items() if k.startswith("fx_dense"))}
    return out


_MAP_INPUT = re.compile(r"^\s+(?:\.\S+)?\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+(\S+\.o\)?)$")
_ARCHIVE_MEMBER = re.compile(r"([^/]+\.a)\((\S+)\.o\)$")


def linked_kernel_flash(s: TrainSetup) -> dict:
    """Flash of the kernel as linked (-Os, --gc-sections, from the integer step's entry points)
    into the training benchmark image: the flash bytes from kernel objects plus those of the C
    runtime routines pulled from libgcc / libc (memcpy, memset, ...: only the kernel needs them
    beyond a memset the harness shares), {target: {variant: {"kernel", "runtime", "total",
    "runtime_members": {member: bytes}}}}."""
    out: dict = {}
    for target in TARGETS:
        for variant in VARIANTS:
            elf = build_train(s, target, variant, "-Os", gc_sections=True)
            text = elf.with_name("bench.map").read_text().split("Linker script and memory map", 1)[1]
            kernel, members, section, pending = 0, {}, None, None
            for line in text.splitlines():
                if re.match(r"^\.\S+", line):
                    section = line.split()[0]
                    continue
                if pending is not None:
                    line, pending = pending + line, None
                elif re.fullmatch(r"\s+\.\S+", line):
                    pending = line
                    continue
                m = _MAP_INPUT.match(line)
                if not m or section not in (".text", ".data"):
                    continue
                size, obj = int(m.group(1), 16), m.group(2)
                if "/firmware/kernel/" in obj:
                    kernel += size
                elif (lib := _ARCHIVE_MEMBER.search(obj)) and size:
                    name = f"{lib.group(1)}:{lib.group(2)}"
                    members[name] = members.get(name, 0) + size
            runtime = sum(members.values())
            out.setdefault(target, {})[variant] = {"kernel": kernel, "runtime": runtime,
                                                   "total": kernel + runtime, "runtime_members": members}
    return out


def board_sizes() -> dict:
    """`make board` for each STM32 board (the fxlearn firmware), then fwsize's flash/RAM split;
    {"error": ...} for a board that does not build here."""
    root = paths.source_root()
    out = {}
    for board in BOARDS:
        made = subprocess.run(["make", "-s", "-C", str(root), "board", f"BOARD={board}"], capture_output=True,
                              text=True)
        if made.returncode != 0:
            out[board] = {"error": (made.stderr or made.stdout).strip().splitlines()[-1:]}
            continue
        sizes = fwsize.map_sizes(root / "build" / "boards" / board / "fxlearn.map")
        out[board] = {kind: dict(v) | {"total": sum(v.values())} for kind, v in sizes.items()}
    return out


# ---- report --------------------------------------------------------------------------------------

def runtime_note(linked: dict) -> str:
    """'cm4: memcpy 308 + memset 164; cm3: ...' for the full training build's runtime members."""
    parts = []
    for t in TARGETS:
        members = linked[t]["optimized"]["runtime_members"]
        names = " + ".join(f"{k.split(':', 1)[1].removeprefix('lib_a-')} {v:,}" for k, v in members.items())
        parts.append(f"{TARGET_NAMES[t]}: {names or 'none'}")
    return "; ".join(parts)


def plot(res: dict, path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [3, 1.2]})
    names = [c.name for c in DENSE_CASES]
    xs = np.arange(len(names))
    bars = [("cm4", "reference"), ("cm4", "optimized"), ("cm3", "reference"), ("cm3", "optimized")]
    for k, (t, v) in enumerate(bars):
        vals = [res["dense"][t][v][n]["per_mac"] for n in names]
        ax.bar(xs + (k - 1.5) * 0.2, vals, 0.2, label=f"{TARGET_NAMES[t]} {v}")
    for n, goal in DENSE_GOALS.items():
        i = names.index(n)
        ax.plot([i - 0.45, i + 0.45], [goal, goal], "k--", lw=1)
    ax.set_xticks(xs, names, rotation=30, ha="right")
    ax.set_yscale("log")
    ax.set_ylabel("instructions per MAC (64 -> 32 layer, whole call)")
    ax.set_title("dense kernels (dashed: Cortex-M4 goals)")
    ax.legend(fontsize=8)
    tr = res["train"]
    kinds = [("optimized", "integer"), ("float32", "float32")]
    for k, (key, label) in enumerate(kinds):
        bx.bar(np.arange(2) + (k - 0.5) * 0.35, [tr[t][key]["per_sample"] / 1000 for t in TARGETS], 0.35,
               label=label)
    bx.set_xticks(np.arange(2), [TARGET_NAMES[t] for t in TARGETS])
    bx.set_ylabel("thousand instructions per training sample")
    bx.set_title("digits MLP training step")
    bx.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def goal_mark(ok: bool) -> str:
    return "met" if ok else "**missed**"


def markdown(res: dict, args: dict) -> str:
    d, tr, fl = res["dense"], res["train"], res["flash"]
    lines = [
        "# Cortex-M benchmark: instructions per MAC, per training sample, flash and RAM", "",
        f"Written by `fxlearn bench mcu --batch {args['batch']} --seed {args['seed']} --lr {args['lr']} --opt "
        f"{args['opt']}` (host/fxlearn/bench/mcu.py). The kernel is cross-compiled with arm-none-eabi-gcc "
        f"({args['gcc']}) for Cortex-M4F (`-mcpu=cortex-m4 -mfloat-abi=hard -mfpu=fpv4-sp-d16`) and "
        "Cortex-M3 (`-mcpu=cortex-m3 -mfloat-abi=soft`), the Makefile's flags, and each function runs in the "
        f"unicorn engine ({args['unicorn']}, Cortex-M4 / M3 CPU model, host/fxlearn/mcu_run.py). "
        "**Counts are executed instructions**, exact and deterministic (every Thumb instruction from the "
        "call to the return, callees and libgcc included, IT-skipped ones too: the counts of QEMU `-icount` "
        "firmware reading TIM2, exactly - tests/test_mcu.py checks it), "
        "not cycles: no wait states, no pipeline, a 64-bit multiply-accumulate counts 1 like an add. "
        "Every output below was checked against the Python reference (dense) or is bit-identical to it "
        "(training step); the float step against numpy.", "",
        f"## Dense kernels: instructions per MAC ({args['opt']})", "",
        f"One whole `fx_dense_s16` call (`fx_dense_s8` for int8 in/out) of a {N_IN} -> {N_OUT} layer "
        f"({MACS} MACs): validation, dot products, requantization, clamp. Inputs as in the digits MLP "
        "(Q12, 0..4096; the int16 layer then needs 64-bit accumulation), random codes, one scale. "
        "*reference*: `-DFX_DENSE_REFERENCE` (fx_dense_dot.h, the readable definition); *optimized*: "
        "fx_dense_fast.c (Cortex-M4: the DSP path; Cortex-M3: portable C). *marginal*: one more MAC "
        "(the inner loop alone, from a 128-input layer).", "",
        "| kernel | M4 reference | M4 optimized | M4 marginal | goal (M4) | M3 reference | M3 optimized | "
        "M3 marginal |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in DENSE_CASES:
        m4, m3 = d["cm4"], d["cm3"]
        goal = DENSE_GOALS.get(c.name)
        g = f"<= {goal}: {goal_mark(m4['optimized'][c.name]['per_mac'] <= goal)}" if goal else ""
        lines.append(f"| {c.name} | {m4['reference'][c.name]['per_mac']:.2f} | {m4['optimized'][c.name]['per_mac']:.2f} | "
                     f"{m4['optimized'][c.name]['marginal']:.2f} | {g} | {m3['reference'][c.name]['per_mac']:.2f} | "
                     f"{m3['optimized'][c.name]['per_mac']:.2f} | {m3['optimized'][c.name]['marginal']:.2f} |")
    if "dense_os" in res:
        lines += ["", "The same at `-Os` (the board builds' level), optimized path:", "",
                  "| kernel | M4 -Os | M3 -Os |", "|---|---|---|"]
        for c in DENSE_CASES:
            lines.append(f"| {c.name} | {res['dense_os']['cm4']['optimized'][c.name]['per_mac']:.2f} | "
                         f"{res['dense_os']['cm3']['optimized'][c.name]['per_mac']:.2f} |")
    b = args["batch"]
    lines += [
        "", "## On-device training step: integer vs float32", "",
        f"One `fx_train_step` of the digits MLP 64-32-10 (all layers, int16 Q12 weights, batch {b}, "
        "softmax cross-entropy, the quantized optimizer: the trial is evaluated on the same batch, Idle and "
        "Go) - theta and the step's statistics equal the Python reference's on both cores. Against it the "
        "same algorithm in float32 (firmware/bench/fx_bench_train_f32.c: forward, softmax gradient, "
        "backward, accumulation, trial step, the batch loss at the trial, keep or undo; newlib's `expf`/"
        "`logf`; VFMA allowed on the M4F; libgcc soft float on the M3). Ratio = integer / float32.", "",
        "| core | integer, reference dense | integer, optimized dense | float32 | ratio | goal |",
        "|---|---|---|---|---|---|",
    ]
    for t in TARGETS:
        r = tr[t]
        goal = TRAIN_RATIO_GOALS[t]
        lines.append(f"| {TARGET_NAMES[t]} | {r['reference']['per_sample']:,.0f} /sample | "
                     f"{r['optimized']['per_sample']:,.0f} /sample | {r['float32']['per_sample']:,.0f} /sample | "
                     f"{r['ratio']:.3f} | <= {goal}: {goal_mark(r['ratio'] <= goal)} |")
    st = tr["cm4"]["optimized"]["stats"]
    lines += ["", f"The benchmarked step: batch loss {st['loss'] / 4096 / b:.4f} nats/sample before, "
              f"{st['loss_trial'] / 4096 / b:.4f} at the trial, trial {'kept' if st['accepted'] else 'undone'}, "
              f"{st['changed']} of {res['n_params']} parameters changed (float32: "
              f"{tr['cm4']['float32']['loss'] / b:.4f} -> {tr['cm4']['float32']['loss_trial'] / b:.4f}, "
              f"{'kept' if tr['cm4']['float32']['accepted'] else 'undone'}).", ""]
    top = list(dict.fromkeys(list(tr["cm4"]["optimized"]["profile"])[:10] + list(tr["cm3"]["optimized"]["profile"])[:10]))
    lines += ["Where the integer step's instructions go (per sample, the functions executed; per-batch work "
              "such as the optimizer's is divided by the batch):", "",
              "| function | Cortex-M4F | Cortex-M3 |", "|---|---|---|"]
    for name in top:
        cells = [f"{tr[t]['optimized']['profile'].get(name, 0) / b:,.0f}" for t in TARGETS]
        lines.append(f"| `{name}` | {cells[0]} | {cells[1]} |")
    ftop = list(tr["cm4"]["float32"]["profile"])[:6]
    lines += ["", "The float32 step (Cortex-M4F): " + ", ".join(
        f"`{n}` {tr['cm4']['float32']['profile'][n] / b:,.0f}" for n in ftop) + " per sample.", ""]
    ram = tr["cm4"]["ram"]
    lines += ["## RAM of on-device training (Cortex-M4 build)", "", "| item | bytes |", "|---|---|"]
    for k, v in ram.items():
        if k == "total":
            lines.append(f"| **total** | **{v:,}** ({goal_mark(v <= RAM_GOAL)}: 16 KiB = 16,384) |")
        else:
            lines.append(f"| {k} | {v:,} |")
    n = res["n_params"]
    lines += ["", f"Cortex-M3 build: total {tr['cm3']['ram']['total']:,} bytes (stack "
              f"{tr['cm3']['optimized']['stack']:,}). Per trained parameter the integer step holds 6 bytes: "
              f"theta (2) and its int32 gradient accumulator (4), which becomes the direction and then, while "
              f"theta holds the trial, keeps the current point (swap mode: the default RHU configuration, "
              f"fx_optim_swap_ok), {6 * n:,} bytes for the {n:,} parameters of 64-32-10; the rest is a few "
              "hundred bytes (activations, gradients, optimizer, stack). Error feedback, stochastic rounding, "
              f"the compensation or the lattice search keep a copy of theta instead: 2 bytes more per "
              f"parameter ({2 * n:,} here).", "",
              "## Flash", "",
              "Kernel objects (all of firmware/kernel, `-Os`, text + data, arm-none-eabi-size); *linked*: the "
              "bytes of the training benchmark image linked with `--gc-sections` (what a training firmware "
              "carries) that come from kernel objects **plus the C runtime routines the kernel calls** "
              f"({runtime_note(res['flash_linked'])}).", "",
              "| core | all objects, optimized | of which fx_dense* | all objects, reference only | "
              "linked for training: full | no packed-code kernels | small profile (no lattice search) | "
              "small, no packed-code kernels | reference dense only |",
              "|---|---|---|---|---|---|---|---|---|"]
    for t in TARGETS:
        linked = {k: v["total"] for k, v in res["flash_linked"][t].items()}
        mark = lambda v: f"{v:,} ({'met' if v <= FLASH_GOAL else '**over**'})"
        lines.append(f"| {TARGET_NAMES[t]} | {fl[t]['optimized']['total']:,} | {fl[t]['optimized']['dense']:,} | "
                     f"{fl[t]['reference']['total']:,} | {mark(linked['optimized'])} | {mark(linked['no-codes'])} | "
                     f"{mark(linked['small'])} | {mark(linked['small-no-codes'])} | {mark(linked['reference'])} |")
    lines += ["", "Goal: the kernel in 16 KiB (16,384 B). *small profile*: `-DFX_OPTIM_LATTICE=0` (the "
              "optimizer's lattice search left out; mini-batch training does not use it), as bluepill_f103c8 "
              "builds; *no packed-code kernels*: `-DFX_DENSE_FAST_CODES=0` (PoT/APoT/uniform layers take the "
              "reference dense path; int16 keeps its fast one)."]
    if res.get("boards"):
        lines += ["", "Board firmware (`make board BOARD=...`, the fxlearn app; fxlearn.fwsize), bytes:", "",
                  "| board | flash total | kernel | RAM total |", "|---|---|---|---|"]
        for bname, v in res["boards"].items():
            if "error" in v:
                lines.append(f"| {bname} | does not build here: `{' '.join(v['error'])}` | | |")
            else:
                lines.append(f"| {bname} | {v['flash']['total']:,} | {v['flash'].get('kernel', 0):,} | "
                             f"{v['ram']['total']:,} |")
    lines += ["", "![instructions](mcu.png)", ""]
    return "\n".join(lines)


@click.command("mcu")
@click.option("--batch", default=32, show_default=True, help="training batch size")
@click.option("--seed", default=0, show_default=True, help="initialisation, batch and random layers")
@click.option("--lr", default=0.1, show_default=True, help="learning rate (both arithmetics)")
@click.option("--opt", default="-O2", show_default=True, help="optimization level of the benchmark builds")
@click.option("--boards/--no-boards", default=True, show_default=True, help="also `make board` each STM32 board")
def main(batch, seed, lr, opt, boards):
    """Cortex-M4 / M3 instruction counts, RAM and flash: results/mcu.md + .json + .png."""
    import unicorn
    gcc = subprocess.run(["arm-none-eabi-gcc", "-dumpversion"], capture_output=True, text=True).stdout.strip()
    args = {"batch": batch, "seed": seed, "lr": lr, "opt": opt, "gcc": gcc, "unicorn": unicorn.__version__}
    setup = train_setup(batch, seed, lr)
    with tqdm(total=16, desc="builds and runs", unit="step") as progress:
        res = {"args": args, "n_params": len(setup.theta), "dense": bench_dense(opt, seed, progress)}
        res["dense_os"] = bench_dense("-Os", seed, progress) if opt != "-Os" else res["dense"]
        res["train"] = bench_train(setup, opt, progress)
        res["flash"] = kernel_flash()
        res["flash_linked"] = linked_kernel_flash(setup)
        progress.update(2)
        res["boards"] = board_sizes() if boards else {}
        progress.update(2)
    out = paths.results_dir()
    (out / "mcu.json").write_text(json.dumps(res, indent=1, default=lambda o: o.item() if hasattr(o, "item") else str(o)))
    plot(res, out / "mcu.png")
    (out / "mcu.md").write_text(markdown(res, args))
    for c in ("int16", "PoT 4-bit", "APoT 4-bit"):
        click.echo(f"M4 {c}: {res['dense']['cm4']['optimized'][c]['per_mac']:.2f} instructions/MAC")
    for t in TARGETS:
        click.echo(f"{TARGET_NAMES[t]} training: integer / float32 = {res['train'][t]['ratio']:.3f}")
    click.echo(f"wrote {out / 'mcu.md'}, mcu.json, mcu.png")


if __name__ == "__main__":
    main()
