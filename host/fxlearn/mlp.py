"""The integer model every part of fxlearn exchanges: a multilayer perceptron of dense layers
over int16 activations (docs/kernel.md section 6), its bit-exact reference forward, and the
conversion to and from the C kernel's ``fx_mlp_model`` (ctypes) for tests and the demo.
"""
from __future__ import annotations

import ctypes as C
from dataclasses import dataclass

import numpy as np

from . import act, dense, fixed, native, quant


@dataclass
class IntLayer:
    fmt: int                 # quant.FMT_*
    bits: int                # code width (8 for INT8, 16 for INT16)
    weight: np.ndarray       # int64 [out, in]: signed integer levels in units (sign * L[m], or the int8/int16 value)
    bias: np.ndarray         # int32-range int64 [out]
    mult: np.ndarray         # int64 [1] (per-tensor) or [out] (per-channel)
    shift: np.ndarray        # int64, same length as mult
    act_min: int             # output clamp (ReLU: 0)
    act_max: int
    act_levels: np.ndarray | None = None   # ascending int levels to snap outputs to (APoT activations), or None

    @property
    def n_in(self) -> int:
        return int(np.shape(self.weight)[1])

    @property
    def n_out(self) -> int:
        return int(np.shape(self.weight)[0])

    def check(self) -> None:
        """ValueError unless the kernel accepts this layer (int16 output)."""
        dense.check(self.fmt, self.bits, self.weight, self.bias, self.mult, self.shift,
                    self.act_min, self.act_max, out_bits=16)
        if self.act_levels is not None:
            lv = act.check_levels(self.act_levels)
            if lv[0] < self.act_min or lv[-1] > self.act_max:
                raise ValueError(f"activation levels outside the clamp range [{self.act_min}, {self.act_max}]")

    def forward(self, x: np.ndarray) -> np.ndarray:
        y = dense.dense(x, self.weight, self.bias, self.mult, self.shift, self.act_min, self.act_max)
        return y if self.act_levels is None else act.snap(y, self.act_levels)


@dataclass
class IntModel:
    layers: list[IntLayer]
    input_scale: float = 1.0   # host side only: x_int16 = clip(round(x_float / input_scale))
    output_scale: float = 1.0  # host side only: logits_float ~= y_int * output_scale

    def check(self) -> None:
        """ValueError unless the kernel accepts the model (fx_mlp_check's rules)."""
        if not self.layers:
            raise ValueError("a model needs at least one layer")
        for k, layer in enumerate(self.layers):
            try:
                layer.check()
            except ValueError as e:
                raise ValueError(f"layer {k}: {e}") from None
            if k and layer.n_in != self.layers[k - 1].n_out:
                raise ValueError(f"layer {k} takes {layer.n_in} inputs but layer {k - 1} gives {self.layers[k - 1].n_out}")

    def forward(self, x_int: np.ndarray) -> np.ndarray:
        """Batch [n, in] of int16 values -> [n, out] int64, bit-exact with fx_mlp_forward."""
        self.check()
        x = np.asarray(x_int)
        if x.ndim != 2 or x.shape[1] != self.layers[0].n_in:
            raise ValueError(f"input must be [n, {self.layers[0].n_in}], got {x.shape}")
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def predict(self, x_int) -> np.ndarray:
        """Class index of each input: argmax of the outputs, ties -> lowest index."""
        return act.argmax(self.forward(x_int))

    def quantize_input(self, x_float) -> np.ndarray:
        """x_int16 = clip(round(x_float / input_scale)) (round half away from zero)."""
        v = np.asarray(x_float, dtype=np.float64) / self.input_scale
        return np.clip(np.sign(v) * np.floor(np.abs(v) + 0.5), fixed.INT16_MIN, fixed.INT16_MAX).astype(np.int64)


# ---- the C kernel (ctypes) ---------------------------------------------------------------------

class FxMlpLayer(C.Structure):
    """Mirror of fx_mlp_layer (fx_mlp.h)."""
    _fields_ = [("dense", dense.FxDenseLayer), ("act_levels", native.i16p), ("n_act_levels", C.c_uint32)]


class FxMlpModel(C.Structure):
    """Mirror of fx_mlp_model (fx_mlp.h)."""
    _fields_ = [("layers", C.POINTER(FxMlpLayer)), ("n_layers", C.c_uint32)]


native.declare("fx_mlp_check", C.c_int, [C.POINTER(FxMlpModel)])
native.declare("fx_mlp_workspace_size", C.c_int, [C.POINTER(FxMlpModel), C.POINTER(C.c_size_t)])
native.declare("fx_mlp_forward", C.c_int, [C.POINTER(FxMlpModel), native.i16p, native.i16p, C.c_void_p, C.c_size_t])
native.declare("fx_mlp_predict", C.c_int, [C.POINTER(FxMlpModel), native.i16p, native.i16p, C.c_void_p,
                                           C.c_size_t, C.POINTER(C.c_uint32)])


class CModel:
    """An IntModel as the kernel's fx_mlp_model, with every array it points into kept alive.
    The layers are converted without validation, so tests can hand the kernel bad models."""

    def __init__(self, model: IntModel):
        self.model = model
        self.dense = [dense.CDenseLayer(ly.fmt, ly.bits, ly.weight, ly.bias, ly.mult, ly.shift,
                                        ly.act_min, ly.act_max) for ly in model.layers]
        self.levels = [None if ly.act_levels is None else np.ascontiguousarray(ly.act_levels, dtype=np.int16)
                       for ly in model.layers]
        self.layers = (FxMlpLayer * len(model.layers))()
        for k, (d, lv) in enumerate(zip(self.dense, self.levels)):
            self.layers[k].dense = d.struct
            self.layers[k].act_levels = native.ptr(lv, C.c_int16)
            self.layers[k].n_act_levels = 0 if lv is None else len(lv)
        self.struct = FxMlpModel(self.layers, len(model.layers))

    def workspace_size(self, kernel) -> int:
        n = C.c_size_t(0)
        st = kernel.fx_mlp_workspace_size(C.byref(self.struct), C.byref(n))
        if st != 0:
            raise ValueError(f"fx_mlp_workspace_size failed: status {st}")
        return n.value

    def forward(self, kernel, x_int) -> tuple[int, np.ndarray]:
        """fx_mlp_forward on each row of x; (status, y [n, out] int64); stops at a failure."""
        return forward_c(kernel, self.struct, x_int)


def forward_c(kernel, model_struct: FxMlpModel, x_int) -> tuple[int, np.ndarray]:
    """fx_mlp_forward of any fx_mlp_model (e.g. one fx_blob_parse filled) on each row of x."""
    n = C.c_size_t(0)
    st = kernel.fx_mlp_workspace_size(C.byref(model_struct), C.byref(n))
    if st != 0:
        return st, np.zeros((0, 0), dtype=np.int64)
    x = np.ascontiguousarray(np.atleast_2d(x_int), dtype=np.int16)
    n_out = model_struct.layers[model_struct.n_layers - 1].dense.n_out
    ws = np.zeros(max(n.value // 2, 1), dtype=np.int16)
    y = np.zeros((x.shape[0], n_out), dtype=np.int16)
    for r in range(x.shape[0]):
        st = kernel.fx_mlp_forward(C.byref(model_struct), native.ptr(x[r], C.c_int16),
                                   native.ptr(y[r], C.c_int16), ws.ctypes.data, n.value)
        if st != 0:
            return st, y.astype(np.int64)
    return 0, y.astype(np.int64)


def _c_array(pointer, n: int) -> np.ndarray:
    return np.ctypeslib.as_array(pointer, (n,)).astype(np.int64)


def from_c(model_struct: FxMlpModel) -> IntModel:
    """The IntModel an fx_mlp_model describes (reads the arrays it points to; the struct must
    describe valid memory, e.g. one that fx_mlp_check or fx_blob_parse accepted)."""
    layers = []
    for k in range(model_struct.n_layers):
        c = model_struct.layers[k]
        d = c.dense
        stride = quant.row_stride(d.format, d.bits, d.n_in)
        data = C.string_at(d.weights, d.n_out * stride)
        levels = None if c.n_act_levels == 0 else _c_array(c.act_levels, c.n_act_levels)
        layers.append(IntLayer(d.format, d.bits, quant.weight_from_bytes(data, d.format, d.bits, d.n_out, d.n_in),
                               _c_array(d.bias, d.n_out), _c_array(d.mult, d.n_scale), _c_array(d.shift, d.n_scale),
                               int(d.act_min), int(d.act_max), levels))
    return IntModel(layers)
