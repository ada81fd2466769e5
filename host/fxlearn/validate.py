"""The validate report: a model run on a board (bare metal over the fxlearn protocol, or a
MicroPython board through the `fxlearn` module) against the bit-exact integer reference and a
float reference. `fxlearn validate` and `fxlearn mp validate` print the same report from here.

The board supplies its logits for every sample (inference) and its own evaluation totals
(samples right, loss summed in Q12 nats, as the device's EVAL stream or fxlearn_train.outputs
computes them); both must equal the reference's exactly."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import blob as blob_mod
from . import loss as loss_ref


@dataclass
class BoardRun:
    """What the board computed on the integer inputs."""
    logits: np.ndarray          # int16 [n, outputs], the board's inference
    correct: int                # the board's evaluation: samples classified right
    loss: int                   # and its loss, summed over the samples, Q12 nats


def float_reference(model, x_float) -> np.ndarray:
    """Logits (real units) of the integer model's own weights computed in float: no rounding,
    no requantization error, the same clamps. What the integers approximate."""
    a = np.asarray(x_float, dtype=np.float64) / model.input_scale
    for layer in model.layers:
        scale = np.asarray(layer.mult, dtype=np.float64) * 2.0 ** (np.asarray(layer.shift) - 31)
        acc = a @ np.asarray(layer.weight, dtype=np.float64).T + np.asarray(layer.bias)
        a = np.clip(acc * scale, layer.act_min, layer.act_max)
    return a * model.output_scale


def xent_nats(logits, y) -> float:
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(y)), y].mean())


def float_model_logits(float_path, x) -> dict:
    """compare()'s float reference keywords for --float PATH (an nn.MLP .npz); {} for none."""
    if not float_path:
        return {}
    from .nn import MLP
    return dict(float_logits=MLP.load(float_path).forward(x), float_name=f"float model {float_path}")


@dataclass
class Report:
    lines: list
    ok: bool                    # every logit and the evaluation totals bit-exact

    def text(self) -> str:
        return "\n".join(self.lines)


def compare(data: bytes, x, y, board: BoardRun, *, float_logits=None, float_name: str = "",
            title: str = "") -> Report:
    """The report for blob `data` on float inputs x (quantized with the blob's input scale),
    labels y, given what the board computed. float_logits: a float model's logits on x
    (default: the integer model's weights computed in float)."""
    model = blob_mod.read_blob(data)
    info = blob_mod.blob_info(data)
    y = np.asarray(y)
    z_ref = model.forward(model.quantize_input(x))
    _, q12 = loss_ref.softmax_xent(z_ref, y, info.loss_mult, info.loss_shift)
    if float_logits is None:
        float_logits = float_reference(model, x)
        float_name = "float (integer model's weights, exact arithmetic)"
    logits = np.asarray(board.logits)
    same_logits = np.all(logits == z_ref, axis=1) if logits.shape == z_ref.shape else np.zeros(len(y), bool)
    correct_ref, loss_q12 = int((z_ref.argmax(1) == y).sum()), int(q12.sum())
    same_eval = (board.correct, board.loss) == (correct_ref, loss_q12)
    n = len(y)
    acc_board = float(np.mean(logits.argmax(1) == y)) if logits.shape == z_ref.shape else float("nan")
    acc_int, acc_float = correct_ref / n, float(np.mean(float_logits.argmax(1) == y))
    loss_int, loss_float = xent_nats(z_ref * model.output_scale, y), xent_nats(float_logits, y)
    lines = [title] if title else []
    lines += [f"bit-exact logits, board vs reference:  {int(same_logits.sum())}/{n}",
              f"on-device evaluation vs reference:     {'identical' if same_eval else 'DIFFERENT'} "
              f"(correct {board.correct}, loss {board.loss} Q12; reference {correct_ref}, {loss_q12})",
              f"{'':32}{'accuracy':>10}{'loss (nats)':>14}",
              f"{'board':32}{acc_board:>10.4f}{board.loss / 4096 / n:>14.4f}",
              f"{'integer reference':32}{acc_int:>10.4f}{loss_int:>14.4f}",
              f"{float_name[:31]:32}{acc_float:>10.4f}{loss_float:>14.4f}",
              f"{'gap (integer - float)':32}{acc_int - acc_float:>+10.4f}{loss_int - loss_float:>+14.4f}"]
    return Report(lines, bool(same_logits.all()) and same_eval)
