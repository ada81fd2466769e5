"""Float / fake-quantized MLP -> the integer model ``mlp.IntModel`` the kernel runs, and the
per-layer error report of a conversion.

Layer l of a ``QuantMLP`` becomes: weights = its quantizer's signed integer levels, bias =
``rhu(b / (s_in * unit))`` (the accumulator grid), requant scale ``s_in * unit / s_out`` as
TFLM (mult, shift) per tensor or per output channel, clamp ``[0, qmax]`` (+ snap to the APoT /
PoT activation levels) after hidden layers and the int16 range after the last one. ``s_in`` is
the input quantizer's scale for layer 0 and the previous activation quantizer's otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import quant
from .fixed import INT16_MAX, INT16_MIN, INT32_MAX, INT32_MIN, quantize_multiplier
from .mlp import IntLayer, IntModel
from .nn import MLP
from .ptq import QuantConfig, QuantMLP, quantize
from .quantizers import rhu_float


def int_bias(qm: QuantMLP, l: int) -> np.ndarray:
    step = qm.bias_step(l, qm.weights[l])
    return np.clip(rhu_float(qm.biases[l] / step), INT32_MIN, INT32_MAX).astype(np.int64)


def acc_bound(weight: np.ndarray, bias: np.ndarray, x_max: int) -> int:
    """Worst-case |accumulator| of a layer for inputs with |x| <= x_max."""
    w = np.abs(np.asarray(weight, dtype=object))
    return int(max(x_max * sum(row) + abs(int(b)) for row, b in zip(w, bias)))


def to_int_model(qm: QuantMLP, allow_saturation: bool = False) -> IntModel:
    """The integer model of a (calibrated or trained) QuantMLP. ValueError when a layer's
    accumulator could leave int32 for inputs inside the calibrated ranges (the kernel would
    saturate it), unless ``allow_saturation``."""
    layers = []
    last = qm.n_layers - 1
    for l in range(qm.n_layers):
        w = qm.weights[l]
        wq = qm.wq[l]
        levels, unit = wq.codes(w)
        s_out = qm.aq[l].scale if l < last else qm.outq.scale
        scales = qm.in_scale(l) * unit / s_out
        ms = [quantize_multiplier(float(s)) for s in scales]
        mult = np.array([m for m, _ in ms], dtype=np.int64)
        shift = np.array([s for _, s in ms], dtype=np.int64)
        bits = 8 if wq.fmt == quant.FMT_INT8 else wq.bits
        if l < last:
            aq = qm.aq[l]
            act_min, act_max, act_levels = 0, aq.qmax, aq.int_levels
        else:
            act_min, act_max, act_levels = INT16_MIN, INT16_MAX, None
        bias = int_bias(qm, l)
        x_max = qm.inq.qmax if l == 0 else qm.aq[l - 1].qmax
        bound = acc_bound(levels, bias, x_max)
        if bound > INT32_MAX and not allow_saturation:
            raise ValueError(f"layer {l}: the accumulator can reach {bound} > 2^31 - 1 "
                             f"({wq.scheme}{wq.bits} weights, inputs up to {x_max}): use fewer "
                             f"weight or activation bits")
        layers.append(IntLayer(wq.fmt, bits, levels, bias, mult, shift,
                               act_min, act_max, None if act_levels is None else act_levels.copy()))
    model = IntModel(layers, input_scale=qm.inq.scale, output_scale=qm.outq.scale)
    model.check()
    return model


def quantize_input(qm: QuantMLP, x: np.ndarray) -> np.ndarray:
    """Float model inputs -> the int16 inputs of the integer model."""
    return qm.inq.quantize_int(x).astype(np.int64)


def payload_bytes(model: IntModel) -> int:
    """Bytes of the model's arrays as the kernel stores them: packed weights, int32 bias,
    int32 mult and shift, int16 activation levels (the blob adds its headers to this)."""
    total = 0
    for ly in model.layers:
        total += ly.n_out * quant.row_stride(ly.fmt, ly.bits, ly.n_in)
        total += 4 * ly.n_out + 8 * len(ly.mult)
        total += 0 if ly.act_levels is None else 2 * len(ly.act_levels)
    return total


@dataclass
class LayerReport:
    layer: int
    format: str
    bits: int
    shape: tuple[int, int]
    weight_rel_err: float        # ||W - W_q|| / ||W|| (W_q dequantized from the integer levels)
    output_sqnr_db: float        # float model's layer output vs the integer model's, dequantized
    max_abs_acc: int             # largest |accumulator| on the data (int32 saturates beyond 2^31)
    weight_bytes: int


def layer_report(mlp: MLP, qm: QuantMLP, model: IntModel, x: np.ndarray) -> list[LayerReport]:
    """Per-layer error of the integer model against the float model on inputs x."""
    _, _, pre = mlp.forward(x, keep=True)
    xi = quantize_input(qm, x)
    out = []
    last = len(model.layers) - 1
    for l, ly in enumerate(model.layers):
        unit = qm.wq[l].unit(qm.weights[l])
        wq = ly.weight * (unit[:, None] if len(unit) > 1 else unit[0])
        w = mlp.weights[l]
        acc = xi @ ly.weight.T + ly.bias
        y = IntModel([ly]).forward(xi)
        s_out = model.output_scale if l == last else qm.aq[l].scale
        ref = pre[l] if l == last else np.maximum(pre[l], 0.0)
        noise = np.sum((ref - y * s_out) ** 2)
        sqnr = 10 * np.log10(np.sum(ref ** 2) / noise) if noise > 0 else float("inf")
        out.append(LayerReport(l, quant.FORMAT_NAMES[ly.fmt], ly.bits, (ly.n_out, ly.n_in),
                               float(np.linalg.norm(w - wq) / max(np.linalg.norm(w), 1e-300)),
                               float(sqnr), int(np.abs(acc).max()) if acc.size else 0,
                               ly.n_out * quant.row_stride(ly.fmt, ly.bits, ly.n_in)))
        xi = y
    return out


def convert(mlp: MLP, cfg: QuantConfig, x_calib: np.ndarray,
            allow_saturation: bool = False) -> tuple[QuantMLP, IntModel]:
    """PTQ + conversion in one call."""
    qm = quantize(mlp, cfg, x_calib)
    return qm, to_int_model(qm, allow_saturation)
