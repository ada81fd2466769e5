"""``fxlearn demo``: the foundation end to end. Train a small float MLP on sklearn's digits,
quantize its weights to 4-bit APoT codes (activations: int16, 8-bit unsigned after ReLU), run
the test set through the C kernel (fx_mlp_forward via ctypes) and the Python reference, and
check that both give the same integers. Exit status 1 on any mismatch.

The float training here is deliberately minimal (plain numpy SGD); the float/QAT toolkit
replaces it later.
"""
from __future__ import annotations

import click
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from tqdm import tqdm

from . import act, fixed, mlp, native, quant

HIDDEN = 32
WEIGHT_FMT, WEIGHT_BITS = quant.FMT_APOT, 4
ACT_MAX = 255                 # hidden activations: 8-bit unsigned range after ReLU
LOGIT_MAX = 16000             # largest |logit| of the training set in output units


def train_float(x, y, hidden, epochs, seed, lr=0.1, batch=32):
    """A 2-layer float MLP (ReLU, softmax cross-entropy), minibatch SGD with momentum."""
    rng = np.random.default_rng(seed)
    n_in, n_cls = x.shape[1], int(y.max()) + 1
    params = [rng.normal(0, np.sqrt(2 / n_in), (hidden, n_in)), np.zeros(hidden),
              rng.normal(0, np.sqrt(2 / hidden), (n_cls, hidden)), np.zeros(n_cls)]
    velocity = [np.zeros_like(p) for p in params]
    onehot = np.eye(n_cls)[y]
    for _ in tqdm(range(epochs), desc="float training", unit="epoch", leave=False):
        for idx in np.array_split(rng.permutation(len(x)), max(1, len(x) // batch)):
            w1, b1, w2, b2 = params
            h = np.maximum(x[idx] @ w1.T + b1, 0)
            z = h @ w2.T + b2
            p = np.exp(z - z.max(axis=1, keepdims=True))
            g = (p / p.sum(axis=1, keepdims=True) - onehot[idx]) / len(idx)
            gh = (g @ w2) * (h > 0)
            grads = [gh.T @ x[idx], gh.sum(0), g.T @ h, g.sum(0)]
            for p_, v, gr in zip(params, velocity, grads):
                v *= 0.9
                v -= lr * gr
                p_ += v
    return params


def float_logits(params, x):
    w1, b1, w2, b2 = params
    return np.maximum(x @ w1.T + b1, 0) @ w2.T + b2


def quantize_weight(w):
    """Per-output-channel codes and unit scales, the clip alpha of each row chosen among
    fractions of max|w| by the smallest squared error."""
    amax = np.abs(w).max(axis=1)
    best_err, best = np.full(len(w), np.inf), None
    for frac in np.linspace(0.3, 1.0, 36):
        codes, unit = quant.quantize(w, WEIGHT_FMT, WEIGHT_BITS, alpha=amax * frac, per_channel=True)
        err = ((quant.dequantize(codes, WEIGHT_FMT, WEIGHT_BITS, unit) - w) ** 2).sum(axis=1)
        better = err < best_err
        best_err[better] = err[better]
        best = (codes, unit) if best is None else (np.where(better[:, None], codes, best[0]),
                                                     np.where(better, unit, best[1]))
    codes, unit = best
    unit = np.where(unit > 0, unit, 1.0)      # an all-zero row: any unit scale
    return quant.codes_to_levels(codes, WEIGHT_FMT, WEIGHT_BITS), unit


def requant_params(scales):
    pairs = [fixed.quantize_multiplier(float(s)) for s in scales]
    return np.array([m for m, _ in pairs], dtype=np.int64), np.array([s for _, s in pairs], dtype=np.int64)


def int_bias(b, unit_acc):
    v = np.round(b / unit_acc)
    if np.abs(v).max() > fixed.INT32_MAX:
        raise ValueError("bias does not fit int32 at this scale")
    return v.astype(np.int64)


def build_int_model(params, x_calib, input_scale):
    """The IntModel of the float MLP: APoT weights, per-channel requantization, ReLU activations
    in [0, 255] at a scale calibrated on x_calib, int16 logits."""
    w1, b1, w2, b2 = params
    l1, u1 = quantize_weight(w1)
    l2, u2 = quantize_weight(w2)
    # calibrate on the model the integers approximate: dequantized weights
    h = np.maximum(x_calib @ (l1 * u1[:, None]).T + b1, 0)
    h_scale = max(np.percentile(h, 99.9), 1e-6) / ACT_MAX
    z = h @ (l2 * u2[:, None]).T + b2
    out_scale = np.abs(z).max() / LOGIT_MAX
    acc1, acc2 = input_scale * u1, h_scale * u2          # real value of one accumulator unit
    m1, s1 = requant_params(acc1 / h_scale)
    m2, s2 = requant_params(acc2 / out_scale)
    layers = [mlp.IntLayer(WEIGHT_FMT, WEIGHT_BITS, l1, int_bias(b1, acc1), m1, s1, 0, ACT_MAX),
              mlp.IntLayer(WEIGHT_FMT, WEIGHT_BITS, l2, int_bias(b2, acc2), m2, s2, fixed.INT16_MIN, fixed.INT16_MAX)]
    return mlp.IntModel(layers, input_scale=input_scale, output_scale=out_scale)


def run(epochs: int = 40, seed: int = 0) -> int:
    digits = load_digits()
    x_tr, x_te, y_tr, y_te = train_test_split(digits.data, digits.target, test_size=0.3,
                                              random_state=seed, stratify=digits.target)
    input_scale = 1 / 16                  # pixels are integers 0..16: x_int is the pixel itself
    params = train_float(x_tr * input_scale, y_tr, HIDDEN, epochs, seed)
    acc_float = (float_logits(params, x_te * input_scale).argmax(1) == y_te).mean()

    model = build_int_model(params, x_tr * input_scale, input_scale)
    x_int = model.quantize_input(x_te * input_scale)
    y_ref = model.forward(x_int)
    status, y_c = mlp.CModel(model).forward(native.load(), x_int)
    match = status == 0 and np.array_equal(y_ref, y_c)

    n_w = sum(ly.weight.size for ly in model.layers)
    print(f"digits: {len(x_tr)} train / {len(x_te)} test, MLP 64-{HIDDEN}-10, "
          f"weights {quant.FORMAT_NAMES[WEIGHT_FMT]} {WEIGHT_BITS}-bit ({n_w} weights, per-channel scales), "
          f"activations int16 ([0, {ACT_MAX}] after ReLU)")
    print(f"float accuracy:              {acc_float:.4f}")
    print(f"integer accuracy, Python:    {(act.argmax(y_ref) == y_te).mean():.4f}")
    if status == 0:
        print(f"integer accuracy, C kernel:  {(act.argmax(y_c) == y_te).mean():.4f}")
    else:
        print(f"C kernel failed: fx_status {status}")
    print(f"bit-exact match: {'yes' if match else 'no'} ({y_ref.size} logits compared)")
    return 0 if match else 1


@click.command("demo")
@click.option("--epochs", default=40, show_default=True, help="float training epochs")
@click.option("--seed", default=0, show_default=True, help="data split and initialisation seed")
def main(epochs, seed):
    """Train a tiny MLP on digits, quantize to APoT 4-bit, run C kernel vs Python reference."""
    raise SystemExit(run(epochs, seed))
