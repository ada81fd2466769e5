"""The dense kernels compiled for Cortex-M4 (DSP path), Cortex-M3 (portable path), Cortex-M4 with
-DFX_DENSE_REFERENCE (the reference path) and with -DFX_DENSE_FAST_CODES=0 (packed codes on the
reference path), run instruction by instruction in the unicorn engine: the same integers as the
Python reference (the cross-architecture bit-exactness check), on random layers of every format
and on the cases that select each optimized kernel, its fallbacks and the 64-bit accumulation /
int32 saturation paths. Also: a training step on both cores, and the instruction counts against
QEMU -icount."""
from __future__ import annotations

import numpy as np
import pytest

from fxlearn import dense, fixed, mcu_run, quant
from fxlearn.paths import source_root
from test_dense import FORMATS, random_inputs, random_layer, random_levels

pytestmark = pytest.mark.emulator

BUILDS = {  # name: (target, build folder, defines, optimization)
    "cm4": ("cm4", "test", (), mcu_run.DEFAULT_OPT),
    "cm3": ("cm3", "test", (), mcu_run.DEFAULT_OPT),
    "cm4-reference": ("cm4", "test-reference", ("FX_DENSE_REFERENCE",), mcu_run.DEFAULT_OPT),
    "cm4-no-codes": ("cm4", "test-no-codes", ("FX_DENSE_FAST_CODES=0",), mcu_run.DEFAULT_OPT),
    # the boards' level: -Os takes other paths (FX_DENSE_SMALL kernels, parameters read in place)
    "cm4-Os": ("cm4", "test-Os", (), "-Os"),
    "cm3-Os": ("cm3", "test-Os", (), "-Os"),
}


def bench_elf(target, name="test", defines=(), opt=mcu_run.DEFAULT_OPT):
    return mcu_run.build_elf(target, name, sources=[source_root() / "firmware/bench/fx_bench.c"], defines=defines,
                             opt=opt)


@pytest.fixture(scope="module", params=list(BUILDS))
def mcu(request):
    target, name, defines, opt = BUILDS[request.param]
    return mcu_run.Mcu(bench_elf(target, name, defines, opt), target)


@pytest.fixture(scope="module", params=["cm4", "cm3"])
def core(request):
    """The kernel as the boards build it, on each core (Cortex-M4: the DSP paths)."""
    return mcu_run.Mcu(bench_elf(request.param), request.param)


def check(mcu, fmt, bits, layer, x, in_bits=16, out_bits=16, offsets=None):
    run = mcu_run.dense_forward(mcu, fmt, bits, *layer, x, in_bits, out_bits, offsets)
    ref = dense.dense(x, *layer, in_bits=in_bits)
    assert run.status == 0
    assert (run.y == ref).all(), (fmt, bits, np.shape(layer[0]), offsets)
    return run


@pytest.mark.parametrize("in_bits,out_bits", [(16, 16), (16, 8), (8, 8), (8, 16)])
def test_random_layers_match_reference(mcu, rng, in_bits, out_bits):
    for case in range(2 * len(FORMATS)):
        fmt, bits = FORMATS[case % len(FORMATS)]
        n_in, n_out = int(rng.integers(1, 70)), int(rng.integers(1, 12))
        layer = random_layer(rng, fmt, bits, n_in, n_out, in_bits, out_bits)
        check(mcu, fmt, bits, layer, random_inputs(rng, in_bits, 1, n_in)[0], in_bits, out_bits)


OPTIMIZED = [(quant.FMT_INT16, 16), (quant.FMT_INT8, 8), (quant.FMT_POT, 4), (quant.FMT_APOT, 4),
             (quant.FMT_UNIFORM, 4), (quant.FMT_POT, 2), (quant.FMT_APOT, 2), (quant.FMT_UNIFORM, 2)]


@pytest.mark.parametrize("fmt,bits", OPTIMIZED)
def test_every_kernel_variant(mcu, rng, fmt, bits):
    """Fan-ins around the unrolling (multiples of 16 and 8, odd tails), even and odd fan-outs,
    the specialised output stage (one scale with shift <= -2, int16 out, aligned) and every way
    out of it (per-channel scales, shift -1, 0 and > 0, int8 out, misaligned x / y / weights)."""
    scale_cases = [([1 << 30], [-12]), ([(1 << 31) - 1], [-2]), ([1 << 30], [-1]), ([1 << 30], [0]),
                   ([1 << 30], [3]), (None, None)]
    for n_in in (1, 7, 8, 15, 16, 24, 33, 64):
        for n_out in (1, 4, 5):
            w = random_levels(rng, fmt, bits, (n_out, n_in))
            bias = rng.integers(-(1 << 20), 1 << 20, size=n_out)
            x = rng.integers(-32768, 32768, size=n_in)
            for mult, shift in scale_cases:
                if mult is None:                              # per channel
                    mult = rng.integers(1 << 30, 1 << 31, size=n_out)
                    shift = rng.integers(-20, 2, size=n_out)
                layer = (w, bias, mult, shift, int(rng.integers(-32768, 0)), int(rng.integers(0, 32768)))
                check(mcu, fmt, bits, layer, x)
            layer = (w, bias, [1 << 30], [-14], -32768, 32767)
            for offsets in ({"x": 2}, {"y": 2}, {"w": 2}):
                check(mcu, fmt, bits, layer, x, offsets=offsets)
            check(mcu, fmt, bits, (w, bias, [1 << 30], [-20], -128, 127), x, out_bits=8)
            check(mcu, fmt, bits, (w, bias, [1 << 30], [-20], -128, 127), np.clip(x >> 8, -128, 127),
                  in_bits=8, out_bits=8)


@pytest.mark.parametrize("fmt,bits", OPTIMIZED + [(quant.FMT_POT, 6), (quant.FMT_APOT, 7)])
def test_large_sums_saturate_and_cancel(mcu, rng, fmt, bits):
    """The extremes: every product at its largest (the sum leaves int32 and saturates), and an
    alternating pattern whose partial sums leave int32 while the total is small (exact 64-bit
    accumulation in every path; the reference switches to int64 here)."""
    top = quant.max_level(fmt, bits)
    n_in = 1024
    big = top - 1 if fmt in quant.INT_BITS else top
    w = np.zeros((4, n_in), dtype=np.int64)
    w[0] = -top if fmt in quant.INT_BITS else top
    w[1] = np.where(np.arange(n_in) % 2, big, -big)
    w[2] = random_levels(rng, fmt, bits, (1, n_in))[0]
    w[3] = big
    bias = np.array([fixed.INT32_MAX, 5, fixed.INT32_MIN, -7])
    for x in (np.full(n_in, -32768), np.where(np.arange(n_in) % 4 < 2, 32767, -32768),
              rng.integers(-32768, 32768, size=n_in)):
        for mult, shift in (([1 << 30], [1]), ([1 << 30], [-15]), ([(1 << 31) - 1], [-31])):
            check(mcu, fmt, bits, (w, bias, mult, shift, -32768, 32767), x)


def test_instruction_counts_are_exact_and_deterministic(mcu, rng):
    """fx_bench_nop is `movs r0, #0; bx lr`: 2 instructions; a dense call costs the same each run."""
    assert mcu.call("fx_bench_nop").instructions == 2
    layer = random_layer(rng, quant.FMT_APOT, 4, 40, 6, extreme=False)
    x = random_inputs(rng, 16, 1, 40)[0]
    counts = {mcu_run.dense_forward(mcu, quant.FMT_APOT, 4, *layer, x).instructions for _ in range(3)}
    assert len(counts) == 1


def test_cortex_m3_image_has_no_dsp_or_fpu_instructions():
    """The emulator would run them on its M3 model: the build refuses such an image."""
    with pytest.raises(RuntimeError, match="DSP/FPU"):
        mcu_run._check_no_m4_instructions(bench_elf("cm4"))
    mcu_run._check_no_m4_instructions(bench_elf("cm3"))


@pytest.mark.parametrize("target", ["cm4", "cm3"])
def test_training_step_on_the_core_is_bit_exact(target):
    """fx_train_step of the digits MLP (batch 4) on the emulated core: theta and the statistics
    equal the Python reference Trainer's; the float32 transcription agrees with numpy."""
    from fxlearn.bench import mcu as bench
    setup = bench.train_setup(4, 0, 0.1)
    want_theta, want = bench.reference_step(setup)
    mcu = mcu_run.Mcu(bench.build_train(setup, target, "optimized", "-O2"), target)
    assert mcu.call("fx_bench_train_init").i32 == 0
    assert mcu.call("fx_bench_train_step").i32 == 0
    theta = mcu.get(mcu.addr("fxb_theta"), "<i2", len(setup.theta)).astype(np.int64)
    stats = bench.STATS.unpack(mcu.read(mcu.addr("fxb_stats"), bench.STATS.size))
    assert np.array_equal(theta, want_theta)
    assert stats == (want.loss, want.loss_trial, want.n, want.correct, want.changed, int(want.accepted))
    assert want.changed > 0                                  # the step moved something
    mcu.call("fx_bench_train_f32_init")
    kept = mcu.call("fx_bench_train_f32_step").r0
    loss, trial, f_kept = bench.float_reference(setup)
    got = [np.frombuffer(mcu.read(mcu.addr(n), 4), "<f4")[0] for n in ("fxb_f_loss", "fxb_f_loss_trial")]
    assert np.allclose(got, [loss, trial], rtol=1e-4) and bool(kept) == f_kept


def test_grad_accum_on_the_core_matches_reference(core, rng):
    """fx_dense_grad_accum_s16 on the core (Cortex-M4: the SMMLAR row pairs for shifts <= 16,
    the four-column path for a row left over and larger shifts; both: the saturating path
    without a bound) equals train.grad_accum, with the samples at word-aligned and at odd
    halfword addresses (the DSP paths read x as unaligned int16 pairs)."""
    from test_train_backward import random_accum_case
    from fxlearn import train
    for case in range(160):
        xs, gs, shift, dw0, db0, use_bound = random_accum_case(rng, case)
        want_w, want_b = train.grad_accum(xs, gs, shift, dw0, db0)
        core.reset_heap()
        dw = core.put(np.asarray(dw0, "<i4"))
        db = core.put(np.asarray(db0, "<i4"))
        start = int(max(np.abs(np.asarray(dw0, np.int64)).max(), np.abs(np.asarray(db0, np.int64)).max()))
        bound = core.put(np.array([start], "<u4")) if use_bound else 0
        for x, g in zip(xs, gs):
            xa = core.alloc(2 * len(x) + 4, 4) + 2 * (case % 4 >= 2)       # half the cases misaligned
            core.write(xa, np.asarray(x, "<i2").tobytes())
            ga = core.put(np.asarray(g, "<i2"))
            assert core.call("fx_dense_grad_accum_s16", xa, ga, len(x), len(g), shift, dw, db, bound).i32 == 0
        got_w = core.get(dw, "<i4", want_w.size).reshape(want_w.shape)
        assert got_w.tolist() == want_w.tolist(), (case, shift)
        assert core.get(db, "<i4", len(want_b)).tolist() == want_b.tolist(), case


def test_backward_input_on_the_core_matches_reference(core, rng):
    """fx_dense_backward_input_s16 on the core (Cortex-M4: two rows and two columns per SMLALD
    pair) equals train.backward_input, with g and w at word-aligned and odd halfword addresses."""
    from test_train_backward import random_backward_case
    from fxlearn import train
    for case in range(300):
        g, w, mult, shift = random_backward_case(rng)
        core.reset_heap()
        odd = 2 * (case % 2)
        ga = core.alloc(2 * g.size + 4, 4) + odd
        wa = core.alloc(2 * w.size + 4, 4) + odd
        core.write(ga, g.astype("<i2").tobytes())
        core.write(wa, w.astype("<i2").tobytes())
        out = core.alloc(2 * w.shape[1])
        assert core.call("fx_dense_backward_input_s16", ga, wa, w.shape[1], w.shape[0], mult, shift, out).i32 == 0
        want = train.backward_input(g[None, :], w, mult, shift)[0]
        assert core.get(out, "<i2", w.shape[1]).tolist() == want.tolist(), case


def test_slope_on_the_core_matches_reference(core, rng):
    """fx_train_slope on the core, at every shift (its one-word path from 31 on), equals
    train.slope on directions with extreme entries."""
    from test_train import random_slope_direction
    from fxlearn import train
    for shift in range(63):
        d = random_slope_direction(rng, 30)
        core.reset_heap()
        r = core.call("fx_train_slope", core.put(d.astype("<i4")), len(d), shift)
        assert (r.r1 << 32 | r.r0) == train.slope(d, shift), shift


QEMU_MACHINES = {"cm4": "netduinoplus2", "cm3": "netduino2"}
QEMU_FUNCTIONS = ("fx_bench_nop", "fxq_dense_int16", "fxq_dense_apot4")   # fx_bench_qemu.c's order


@pytest.mark.parametrize("target", ["cm4", "cm3"])
def test_counts_equal_qemu_icount(target):
    """The same image as firmware in QEMU -icount shift=0 (TIM2 counting instructions): each
    function's count minus the empty function's equals the harness's difference, exactly."""
    import subprocess
    elf = mcu_run.build_elf(target, "qemu", [source_root() / "firmware/bench" / n
                                             for n in ("fx_bench.c", "fx_bench_qemu.c")])
    run = subprocess.run(["qemu-system-arm", "-M", QEMU_MACHINES[target], "-nographic", "-monitor", "none",
                          "-serial", "none", "-icount", "shift=0", "-semihosting-config",
                          "enable=on,target=native", "-kernel", str(elf)],
                         capture_output=True, text=True, timeout=60)
    words = (run.stdout + run.stderr).split()          # QEMU writes semihosting output to stderr
    assert run.returncode == 0 and words[0] == "FXQ", run.stdout + run.stderr
    qemu = [int(v) for v in words[1:]]
    mcu = mcu_run.Mcu(elf, target)
    mcu.call("fxq_init")
    ours = [mcu.call(name).instructions for name in QEMU_FUNCTIONS]
    assert [q - qemu[0] for q in qemu] == [n - ours[0] for n in ours]
    assert ours[1] > 1000
