"""The fxlearn MicroPython module's API implemented on the host's integer reference.

The MicroPython tests (firmware/micropython/tests/*.py) import ``fxlearn``; run under CPython
with this module installed as ``fxlearn`` they print what the reference says, which is what the
.exp files hold (``python tests/micropython/fxlearn_ref.py`` rewrites them). The C module must
print the same on every build: unix port, qemu board, native .mpy.

Argument checking mirrors the C module's (same exception types), because the tests also
print which exception a bad call raises. Results come only from host/fxlearn, written from
docs/kernel.md independently of the C.
"""
from __future__ import annotations

import runpy
import struct
import sys
import zlib
from array import array
from pathlib import Path

import numpy as np

from fxlearn import act, blob, dense, fixed, loss, mlp, optim, quant, train

ROOT = Path(__file__).resolve().parents[2]
TESTS_DIR = ROOT / "firmware" / "micropython" / "tests"
DATA_DIR = ROOT / "build" / "micropython" / "testdata"   # made by make_test_data()

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
KERNEL_VERSION_MAJOR, KERNEL_VERSION_MINOR = 0, 1
BLOB_VERSION = blob.VERSION
Q15_ONE, Q12_ONE = loss.Q15_ONE, loss.Q12_ONE
FMT_INT8, FMT_INT16, FMT_UNIFORM, FMT_POT, FMT_APOT = (quant.FMT_INT8, quant.FMT_INT16, quant.FMT_UNIFORM,
                                                        quant.FMT_POT, quant.FMT_APOT)
LOSS_SOFTMAX_XENT, LOSS_MSE, SLOPE_NONE = train.LOSS_SOFTMAX_XENT, train.LOSS_MSE, train.SLOPE_NONE
OPTIM_RHU, OPTIM_STOCHASTIC, OPTIM_ERROR_FEEDBACK = optim.RHU, optim.STOCHASTIC, optim.ERROR_FEEDBACK
OPTIM_HALVE, OPTIM_INTERP, OPTIM_RESET, OPTIM_ADAPT = optim.HALVE, optim.INTERP, optim.RESET, optim.ADAPT

# element kind -> accepted typecodes (bytearray and bytes count as 'B')
_TYPECODES = {"s8": ("b",), "s16": ("h",), "s32": ("i",), "u16": ("H",), "s64": ("q",), "bytes": None}


# ---- argument checks (the C module's rules) ------------------------------------------------------

def _int(x, lo=INT64_MIN, hi=INT64_MAX):
    if isinstance(x, bool) or not isinstance(x, int):
        raise TypeError("an int is required")
    if not lo <= x <= hi:
        raise ValueError(f"{x} outside [{lo}, {hi}]")
    return x


def _i32(x):
    return _int(x, fixed.INT32_MIN, fixed.INT32_MAX)


def _i16(x):
    return _int(x, fixed.INT16_MIN, fixed.INT16_MAX)


def _scale(mult, shift):
    mult, shift = _i32(mult), _i32(shift)
    fixed.requant_check(mult, shift)
    return mult, shift


def _buf(obj, kind, writable=False):
    """The buffer as a flat memoryview of the kind's elements (no copy), or TypeError."""
    if isinstance(obj, array):
        code, readonly = obj.typecode, False
    elif isinstance(obj, memoryview):
        code, readonly = obj.format, obj.readonly
    elif isinstance(obj, (bytes, bytearray)):
        code, readonly = "B", isinstance(obj, bytes)
    else:
        raise TypeError(f"{type(obj).__name__} is not a buffer")
    if writable and readonly:
        raise TypeError("buffer is read-only")
    accepted = _TYPECODES[kind]
    if accepted is not None and code not in accepted:
        raise TypeError(f"typecode {code!r} is not {accepted}")
    return memoryview(obj)


def _buf_len(obj, kind, n, writable=False):
    view = _buf(obj, kind, writable)
    if len(view) != n:
        raise ValueError(f"{len(view)} elements, {n} expected")
    return view


def _store(view, values):
    for i, v in enumerate(np.asarray(values).tolist()):
        view[i] = int(v)


# ---- fx_fixed.h ---------------------------------------------------------------------------------

def sat32(x):
    return fixed.sat32(_int(x))


def sat16(x):
    return fixed.sat16(_int(x))


def sat8(x):
    return fixed.sat8(_int(x))


def rhu_shift(x, s):
    return fixed.rhu_shift(_int(x), _int(s, 0, 62))


def rhu_div(a, b):
    if _int(b) <= 0:
        raise ValueError("b must be > 0")
    return fixed.rhu(_int(a), b)


def add_sat16(a, b):
    return fixed.sat16(_i16(a) + _i16(b))


def sub_sat16(a, b):
    return fixed.sat16(_i16(a) - _i16(b))


def mul_sat16(a, b):
    return fixed.sat16(_i16(a) * _i16(b))


def add_sat32(a, b):
    return fixed.sat32(_i32(a) + _i32(b))


def sub_sat32(a, b):
    return fixed.sat32(_i32(a) - _i32(b))


def q_from_int(i, q):
    return fixed.q_from_int(_i32(i), _int(q, 0, 30))


def q_rescale(x, q_from, q_to):
    return fixed.q_rescale(_i32(x), _int(q_from, 0, 30), _int(q_to, 0, 30))


# ---- fx_requant.h -------------------------------------------------------------------------------

def requant_check(mult, shift):
    _scale(mult, shift)


def requant(acc, mult, shift):
    mult, shift = _scale(mult, shift)
    return fixed.requant(_i32(acc), mult, shift)


def _requant_narrow(acc, mult, shift, act_min, act_max, lo, hi):
    mult, shift = _scale(mult, shift)
    act_min, act_max = _int(act_min, lo, hi), _int(act_max, lo, hi)
    if act_min > act_max:
        raise ValueError("act_min > act_max")
    return fixed.clamp(fixed.requant(_i32(acc), mult, shift), act_min, act_max)


def requant_s16(acc, mult, shift, act_min, act_max):
    return _requant_narrow(acc, mult, shift, act_min, act_max, fixed.INT16_MIN, fixed.INT16_MAX)


def requant_s8(acc, mult, shift, act_min, act_max):
    return _requant_narrow(acc, mult, shift, act_min, act_max, fixed.INT8_MIN, fixed.INT8_MAX)


# ---- fx_loss.h ----------------------------------------------------------------------------------

def exp_neg_q12(d):
    return int(loss.exp_neg_q12(_i32(d)))


def log2_q12(x):
    return int(loss.log2_q12(_int(x, 1, (1 << 32) - 1)))


def softmax_xent_s16(logits, label, mult, shift, grad=None):
    z = _buf(logits, "s16")
    if not 1 <= len(z) <= 65535:
        raise ValueError("logits: 1..65535 elements expected")
    label = _int(label, 0, len(z) - 1)
    mult, shift = _scale(mult, shift)
    g_view = _buf_len(grad, "s32", len(z), writable=True) if grad is not None else None
    g, l = loss.softmax_xent(np.array([z.tolist()]), np.array([label]), mult, shift)
    if g_view is not None:
        _store(g_view, g[0])
    return int(l[0])


def mse_s16(y, target, grad=None):
    yv = _buf(y, "s16")
    if not 1 <= len(yv) <= 65535:
        raise ValueError("y: 1..65535 elements expected")
    tv = _buf_len(target, "s16", len(yv))
    g_view = _buf_len(grad, "s32", len(yv), writable=True) if grad is not None else None
    g, l = loss.mse(np.array(yv.tolist()), np.array(tv.tolist()))
    if g_view is not None:
        _store(g_view, g)
    return int(l)


def _dim16(n):
    if not 1 <= n <= 65535:
        raise ValueError("1..65535 elements expected")
    return n


# ---- fx_quant.h ---------------------------------------------------------------------------------

def quant_check(format, bits):
    quant.check_format(_i32(format), _i32(bits))


def quant_row_stride(format, bits, n_in):
    return quant.row_stride(_i32(format), _i32(bits), _int(n_in, 0, 65535))


def quant_max_level(format, bits):
    return quant.max_level(_i32(format), _i32(bits))


def quant_level(format, bits, code):
    format, bits, code = _i32(format), _i32(bits), _int(code, 0, (1 << 32) - 1)
    quant.check_format(format, bits)
    if code >= 1 << bits:
        raise ValueError(f"code {code} needs more than {bits} bits")
    if format in (FMT_INT8, FMT_INT16):
        return code - (1 << bits) if code >= 1 << (bits - 1) else code
    return int(quant.code_levels(format, bits)[code])


# ---- fx_act.h -----------------------------------------------------------------------------------

def relu_s16(x):
    view = _buf(x, "s16", writable=True)
    _store(view, act.relu(view.tolist()))


def argmax_s16(x):
    view = _buf(x, "s16")
    if not len(view):
        raise ValueError("x is empty")
    return int(act.argmax(view.tolist()))


def blob_seal(data):
    view = _buf(data, "bytes", writable=True)
    if len(view) < blob.HEADER_SIZE:
        raise ValueError("FX_ERR_CORRUPT")
    view[12:16] = struct.pack("<I", zlib.crc32(view[blob.CRC_START:]))


def snap_s16(x, levels):
    view = _buf(x, "s16", writable=True)
    lv = _buf(levels, "s16").tolist()
    if not lv:
        raise ValueError("levels is empty")
    _store(view, act.snap(view.tolist(), lv) if len(view) else [])


# ---- fx_dense.h ---------------------------------------------------------------------------------

def _dense(x, y, format, bits, weights, bias, mult, shift, act_min, act_max, in_kind, out_kind):
    xv, yv = _buf(x, in_kind), _buf(y, out_kind, writable=True)
    format, bits = _i32(format), _i32(bits)
    n_in, n_out = _dim16(len(xv)), _dim16(len(yv))
    stride = quant.row_stride(format, bits, n_in)
    w = _buf(weights, "bytes")
    if w.nbytes != stride * n_out:
        raise ValueError("weights size")
    bias_v, mult_v, shift_v = _buf(bias, "s32"), _buf(mult, "s32"), _buf(shift, "s32")
    if len(bias_v) != n_out or len(mult_v) != len(shift_v) or len(mult_v) not in (1, n_out):
        raise ValueError("bias / mult / shift sizes")
    weight = quant.weight_from_bytes(w.tobytes(), format, bits, n_out, n_in)
    out_bits = 8 if out_kind == "s8" else 16
    dense.check(format, bits, weight, bias_v.tolist(), mult_v.tolist(), shift_v.tolist(),
                _i32(act_min), _i32(act_max), out_bits=out_bits)
    _store(yv, dense.dense(xv.tolist(), weight, bias_v.tolist(), mult_v.tolist(), shift_v.tolist(),
                           act_min, act_max, in_bits=8 if in_kind == "s8" else 16))


def dense_s16(*args):
    _dense(*args, "s16", "s16")


def dense_s16_s8(*args):
    _dense(*args, "s16", "s8")


def dense_s8(*args):
    _dense(*args, "s8", "s8")


def dense_s8_s16(*args):
    _dense(*args, "s8", "s16")


# ---- fx_train_backward.h ----------------------------------------------------------------------------

def dense_grad_accum_s16(x, g, grad_shift, dw, db):
    xv, gv = _buf(x, "s16"), _buf(g, "s16")
    n_in, n_out = _dim16(len(xv)), _dim16(len(gv))
    grad_shift = _int(grad_shift, 0, train.GRAD_SHIFT_MAX)
    dwv, dbv = _buf_len(dw, "s32", n_in * n_out, True), _buf_len(db, "s32", n_out, True)
    new_w, new_b = train.grad_accum([xv.tolist()], [gv.tolist()], grad_shift,
                                    np.array(dwv.tolist()).reshape(n_out, n_in), dbv.tolist())
    _store(dwv, np.asarray(new_w).reshape(-1))
    _store(dbv, new_b)


def dense_backward_input_s16(g, w, mult, shift, g_in):
    gv, giv = _buf(g, "s16"), _buf(g_in, "s16", writable=True)
    n_out, n_in = _dim16(len(gv)), _dim16(len(giv))
    wv = _buf_len(w, "s16", n_in * n_out)
    mult, shift = _scale(mult, shift)
    _store(giv, train.backward_input([gv.tolist()], np.array(wv.tolist()).reshape(n_out, n_in), mult, shift)[0])


def act_backward_s16(y, act_min, act_max, g):
    yv = _buf(y, "s16")
    _dim16(len(yv))
    act_min, act_max = _i16(act_min), _i16(act_max)
    if act_min > act_max:
        raise ValueError("act_min > act_max")
    gv = _buf_len(g, "s16", len(yv), writable=True)
    _store(gv, train.act_backward(yv.tolist(), gv.tolist(), act_min, act_max))


# ---- Model and Trainer (fx_blob.h, fx_mlp.h, fx_train.h) ---------------------------------------------

class Model:
    """An MLP read from a blob; a bytearray blob is trained in place (bytes 16.. rewritten)."""

    def __init__(self, data):
        view = _buf(data, "bytes")
        self._blob = data
        self._writable = not view.readonly
        self._info = blob.blob_info(view.tobytes())
        self.model = blob.read_blob(view.tobytes())

    def _x(self, x, n=1, name="x"):
        return np.array(_buf_len(x, "s16", n * self.model.layers[0].n_in).tolist()).reshape(n, -1)

    def forward(self, x, y):
        yv = _buf_len(y, "s16", self.model.layers[-1].n_out, writable=True)
        _store(yv, self.model.forward(self._x(x))[0])

    def predict(self, x):
        return int(self.model.predict(self._x(x))[0])

    def correct(self, x, labels):
        lv = _buf(labels, "u16").tolist()
        if not lv:
            _buf_len(x, "s16", 0)
            return 0
        return int(np.sum(self.model.predict(self._x(x, len(lv))) == np.array(lv)))

    def sizes(self):
        return tuple([self.model.layers[0].n_in] + [layer.n_out for layer in self.model.layers])

    def loss_scale(self):
        return self._info.loss_mult, self._info.loss_shift

    def blob(self):
        return self._blob

    def _write_back(self):
        """The trained weights into the blob bytes; the header (and its CRC) stays as it was."""
        new = blob.write_blob(self.model)
        view = memoryview(self._blob)
        view[blob.CRC_START:len(new)] = new[blob.CRC_START:]


class Optimizer:
    """fxlearn.Optimizer on optim.Optimizer (the reference of fx_optim)."""

    def __init__(self, n, q, dir_q=None, z_max=None, rounding=OPTIM_RHU, schedule=OPTIM_HALVE, policy=OPTIM_RESET,
                 c1_shift=13, shrink_shift=3, guess=False, min_lsb=False, pattern=False, expand=0, box=0, ortho=0,
                 seed=1, ray=0, ray_far=0, box_line=False):
        ints = dict(rounding=(rounding, 0, 2), schedule=(schedule, 0, 1), policy=(policy, 0, 1),
                    c1_shift=(c1_shift, 0, 62), shrink_shift=(shrink_shift, 1, 8), expand=(expand, 0, 8),
                    box=(box, 0, 3), ortho=(ortho, 0, 2), ray=(ray, 0, optim.RAY_MAX),
                    ray_far=(ray_far, 0, optim.RAY_MAX))
        for v, lo, hi in ints.values():
            _int(v, lo, hi)
        cfg = optim.OptimConfig(q=_int(q, optim.Q_MIN, optim.Q_MAX),
                                dir_q=None if dir_q is None else _int(dir_q, 0, optim.DIR_Q_MAX),
                                z_max=None if z_max is None else _int(z_max, 1, optim.Z_LIMIT),
                                rounding=rounding, schedule=schedule, policy=policy, c1_shift=c1_shift,
                                shrink_shift=shrink_shift, guess=bool(guess), min_lsb=bool(min_lsb),
                                pattern=bool(pattern), expand=expand, box=box, ortho=ortho,
                                seed=_int(seed, 0, (1 << 32) - 1), ray=ray, ray_far=ray_far,
                                box_line=bool(box_line))
        self.n = _int(n, 1, optim.N_MAX)
        self.opt = optim.Optimizer(cfg, self.n)

    def _x(self, x, writable=False):
        view = _buf(x, "s16" if isinstance(x, array) and x.typecode == "h" or
                    isinstance(x, memoryview) and x.format == "h" else "s32", writable)
        if len(view) != self.n:
            raise ValueError("x: wrong length")
        return view, np.array(view.tolist(), dtype=np.int16 if view.format == "h" else np.int32)

    def _d(self, d):
        return np.array(_buf_len(d, "s32", self.n).tolist(), dtype=np.int64)

    def direction(self, f_x, slope=0):
        _int(f_x)
        if _int(slope) < 0:
            raise ValueError("slope must be >= 0")
        self.opt.direction(f_x, slope)

    def propose(self, x, d, trial):
        _, xs = self._x(x)
        dv = self._d(d)
        tv = _buf_len(trial, "s16" if xs.dtype == np.int16 else "s32", self.n, writable=True)
        if tv.obj is _buf(x, "bytes").obj:
            raise ValueError("trial must not be x")
        out = self.opt.propose(xs, dv)
        if out is None:
            return False
        _store(tv, out)
        return True

    def report(self, f_trial):
        return bool(self.opt.report(_int(f_trial)))

    def commit(self, x, d):
        view, xs = self._x(x, writable=True)
        self.opt.commit(xs, self._d(d))
        _store(view, xs)

    def stats(self):
        s = self.opt.stats
        return (s.evals, s.go, s.idle, s.search, s.ortho, s.skips, s.stalls, s.directions)


def comp_coef(v, q):
    return optim.comp_coef(_buf(v, "s32").tolist(), _i32(q))


def comp_vector(v, q, z):
    vv = _buf(v, "s32").tolist()
    zv = _buf_len(z, "s64", len(vv), writable=True)
    _store(zv, optim.comp_vector(vv, _i32(q)))


def comp_direction_m(v_m, c, q):
    return optim.comp_direction_m(_i32(v_m), _int(c), _int(q, optim.Q_MIN, optim.Q_MAX))


class Trainer:
    """fxlearn.Trainer on train.Trainer; the streaming calls split its step the way fx_train does."""

    def __init__(self, model, first, scales, theta, optimizer, loss=LOSS_SOFTMAX_XENT, slope_shift=SLOPE_NONE,
                 cache=0):
        if not isinstance(model, Model):
            raise TypeError("a fxlearn.Model is required")
        if not model._writable:
            raise ValueError("the model's blob must be a bytearray")
        self._m = model
        layers = model.model.layers
        first = _int(first, 0, len(layers) - 1)
        sv = _buf_len(scales, "s32", 9 * (len(layers) - first)).tolist()
        scales_ = [train.LayerScales(*sv[9 * k:9 * k + 9]) for k in range(len(layers) - first)]
        n = train.n_params(model.model, first)
        self._theta = _buf_len(theta, "s16", n, writable=True)
        if not isinstance(optimizer, Optimizer):
            raise TypeError("a fxlearn.Optimizer is required")
        if optimizer.n != n:
            raise ValueError("optimizer for another number of parameters")
        self.params = train.TrainParams(first, scales_, _int(loss, LOSS_SOFTMAX_XENT, LOSS_MSE), *model.loss_scale(),
                                        _int(slope_shift, SLOPE_NONE, 62), _int(cache, 0, 65535))
        self._t = train.Trainer(model.model, self.params, np.array(self._theta.tolist()), optimizer.opt)
        self._sync()
        self._state = None

    def _sync(self):
        _store(self._theta, self._t.theta)
        self._m._write_back()

    def _y(self, y, n):
        classes = self._m.model.layers[-1].n_out
        if self.params.loss == LOSS_SOFTMAX_XENT:
            labels = _buf_len(y, "u16", n).tolist()
            if any(v >= classes for v in labels):
                raise ValueError("label >= classes")
            return dict(labels=labels)
        return dict(targets=np.array(_buf_len(y, "s16", n * classes).tolist()).reshape(n, classes))

    def step(self, x, y):
        n_in = self._m.model.layers[0].n_in
        xv = _buf(x, "s16")
        n = len(xv) // n_in
        if n == 0 or n * n_in != len(xv):
            raise ValueError("x is not a positive multiple of n_in samples")
        st = self._t.step(np.array(xv.tolist()).reshape(n, n_in), **self._y(y, n))
        self._sync()
        return st.loss, st.loss_trial, st.n, st.correct, st.changed, bool(st.accepted)

    def _sample(self, x, y):
        xs = self._m._x(x)
        if self.params.loss == LOSS_SOFTMAX_XENT:
            return xs, _int(y, 0, self._m.model.layers[-1].n_out - 1)
        return xs, np.array(_buf_len(y, "s16", self._m.model.layers[-1].n_out).tolist())

    def _labels(self):
        ys = [s[1] for s in self._samples]
        return dict(labels=ys) if self.params.loss == LOSS_SOFTMAX_XENT else dict(targets=np.array(ys))

    def begin(self):
        self._state, self._samples, self._evaluated = "accumulate", [], 0

    def accumulate(self, x, y):
        sample = self._sample(x, y)
        if self._state != "accumulate":
            raise RuntimeError("FX_ERR_STATE")
        self._samples.append(sample)

    def propose(self):
        if self._state != "accumulate" or not self._samples:
            raise RuntimeError("FX_ERR_STATE")
        t, p, model = self._t, self.params, self._m.model
        x = np.concatenate([s[0] for s in self._samples])
        acc, losses, self._correct = train.accumulate(model, p, x, **self._labels())
        self._loss = train._sum_sat64(losses)
        self._d, slope = train.direction(p, acc)
        t.opt.direction(self._loss, slope)
        self._trial = t.opt.propose(t.theta, self._d)
        self._state = "evaluate" if self._trial is not None else "finish"
        if self._trial is not None:
            train.apply_theta(model, p, self._trial)
        return self._trial is not None

    def evaluate(self, x, y):
        if x is None:                      # the next cached sample
            if self._evaluated >= self.params.cache or self._evaluated >= len(self._samples):
                raise ValueError("FX_ERR_NULL: sample not cached")
            x = array("h", [int(v) for v in self._samples[self._evaluated][0][0]])
        self._sample(x, y)
        if self._state != "evaluate" or self._evaluated >= len(self._samples):
            raise RuntimeError("FX_ERR_STATE")
        self._evaluated += 1

    def finish(self):
        t, p, model = self._t, self.params, self._m.model
        if self._state == "finish":
            stats = (self._loss, self._loss, len(self._samples), self._correct, 0, False)
        elif self._state == "evaluate" and self._evaluated == len(self._samples):
            x = np.concatenate([s[0] for s in self._samples])
            loss_trial = train._sum_sat64(train.batch_loss(p, model.forward(x), **self._labels())[1])
            changed = int(np.sum(self._trial != t.theta))
            accepted = bool(t.opt.report(loss_trial))
            if accepted:
                t.opt.commit(t.theta, self._d)
            stats = (self._loss, loss_trial, len(self._samples), self._correct, changed, accepted)
        else:
            raise RuntimeError("FX_ERR_STATE")
        train.apply_theta(model, p, t.theta)
        self._sync()
        self._state = None
        return stats

    def workspace_size(self):
        return train.workspace_bytes(self._m.model, self.params, self._t.opt.cfg)

    def n_params(self):
        return len(self._theta)


# ---- test data: a small model, its training scales and samples --------------------------------------

def make_test_data(directory: Path = DATA_DIR) -> Path:
    """Deterministic files the model/training tests read: model.fxb (12-10-8-4: APoT 4-bit with
    per-channel scales and snapped activations, then two INT16 layers), scales.bin (int32
    training scales of layers 1-2) with theta.bin (int16 initial parameters) and slope.bin (int32
    slope shift), from train.plan, x.bin (int16 [48, 12]), labels.bin (uint16 [48])."""
    rng = np.random.default_rng(20250125)
    apot = np.array(quant.code_levels(quant.FMT_APOT, 5))
    hidden_levels = np.array([0, 64, 128, 256, 512, 1024, 2048, 4096, 8192])
    layers = [
        mlp.IntLayer(quant.FMT_APOT, 5, rng.choice(apot, size=(10, 12)), rng.integers(-4000, 4000, 10),
                     rng.integers(1 << 30, (1 << 31) - 1, 10), rng.integers(-9, -5, 10), 0, 8192, hidden_levels),
        mlp.IntLayer(quant.FMT_INT16, 16, rng.integers(-3000, 3000, (8, 10)), rng.integers(-1 << 20, 1 << 20, 8),
                     np.array([1 << 30]), np.array([-12]), 0, 32767),
        mlp.IntLayer(quant.FMT_INT16, 16, rng.integers(-3000, 3000, (4, 8)), rng.integers(-1 << 20, 1 << 20, 4),
                     np.array([1 << 30]), np.array([-13]), -32768, 32767),
    ]
    model = mlp.IntModel(layers, input_scale=2.0 ** -12, output_scale=2.0 ** -10)
    params, theta = train.plan(model, [2.0 ** -12, 2.0 ** -12, 2.0 ** -12, 2.0 ** -10], first=1, batch=8, x_max=4096)
    scales = [getattr(s, f) for s in params.layers for f in train.LayerScales.__dataclass_fields__]
    x = rng.integers(0, 4097, (48, 12))
    labels = model.predict(x)
    flip = rng.random(48) < 0.4              # some wrong labels: there is something to learn
    labels = np.where(flip, rng.integers(0, 4, 48), labels)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.fxb").write_bytes(blob.write_blob(model))
    (directory / "scales.bin").write_bytes(np.array(scales, dtype="<i4").tobytes())
    (directory / "theta.bin").write_bytes(theta.astype("<i2").tobytes())
    (directory / "slope.bin").write_bytes(np.array([params.slope_shift], dtype="<i4").tobytes())
    (directory / "x.bin").write_bytes(x.astype("<i2").tobytes())
    (directory / "labels.bin").write_bytes(labels.astype("<u2").tobytes())
    return directory


# ---- running the MicroPython tests under CPython ---------------------------------------------------

def run_test(path: Path, data_dir: Path = DATA_DIR) -> str:
    """What the test script prints with this module as `fxlearn` (stdout captured), run in the
    test-data folder like the MicroPython runs."""
    import contextlib
    import io
    import os

    out = io.StringIO()
    saved = sys.modules.get("fxlearn"), list(sys.path)
    sys.modules["fxlearn"] = sys.modules[__name__]
    sys.path.insert(0, str(path.parent))
    cwd = os.getcwd()
    try:
        os.chdir(data_dir)
        with contextlib.redirect_stdout(out):
            runpy.run_path(str(path), run_name="__main__")
    finally:
        os.chdir(cwd)
        if saved[0] is None:
            del sys.modules["fxlearn"]
        else:
            sys.modules["fxlearn"] = saved[0]
        sys.path[:] = saved[1]
        sys.modules.pop("fxtest", None)
    return out.getvalue()


def test_scripts() -> list[Path]:
    return sorted(p for p in TESTS_DIR.glob("*.py") if p.name != "fxtest.py")


if __name__ == "__main__":
    # Rewrite every .exp from the reference (then review the diff like any golden-file change).
    make_test_data()
    for script in test_scripts():
        exp = script.with_name(script.name + ".exp")
        exp.write_text(run_test(script))
        print("wrote", exp)
