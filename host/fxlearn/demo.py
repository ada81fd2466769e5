"""``fxlearn demo``: the project end to end on sklearn's digits.

1. Foundation: train a small float MLP (numpy SGD), quantize its weights to 4-bit APoT codes,
   run the test set through the C kernel and the Python reference: the same integers.
2. Device: upload the model to a board (the virtual board by default, --port for a real one),
   measure its accuracy there (bit-exact with the host reference).
3. On-device learning over serial: fine-tune the last layer on a held-out split shifted one pixel, and train
   a model from scratch with the quantized optimizer (all layers), every step checked against
   the host's integer reference (train.Trainer), compared with float SGD from the same init.
   Writes results/demo.md and results/demo.png. Exit status 1 on any mismatch.
"""
from __future__ import annotations

import click
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from tqdm import tqdm

import os
import time

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from . import act, blob, fixed, mlp, native, nn, optim, quant, train  # noqa: E402
from .device import Device, DeviceError, train_config  # noqa: E402

HIDDEN = 32
WEIGHT_FMT, WEIGHT_BITS = quant.FMT_APOT, 4
ACT_MAX = 255                 # hidden activations: 8-bit unsigned range after ReLU
FT_LR = 0.2                   # fine-tuning step bound (lambda_max), chosen on the reference: 0.05/0.1 learn slower
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


def foundation(epochs: int = 40, seed: int = 0):
    """Steps 1: (ok, model, params, split)."""
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
    return match, model, params, (x_tr, x_te, y_tr, y_te)


def shift_right(x: np.ndarray) -> np.ndarray:
    """8x8 digits moved one pixel to the right (the left column becomes 0)."""
    img = x.reshape(-1, 8, 8)
    out = np.zeros_like(img)
    out[:, :, 1:] = img[:, :, :-1]
    return out.reshape(-1, 64)


def _steps_on_device(dev, model, p, theta, cfg, x_int, y, n_epochs, batch, seed, desc, check_every=1):
    """Stream x_int, y as TRAIN batches; after each one compare the device's trained layers with
    the host reference (train.Trainer). Returns (trained IntModel, losses per epoch, all_exact)."""
    ref = train.Trainer(blob.read_blob(blob.write_blob(model)), p, theta, optim.Optimizer(cfg, len(theta)))
    dev.train_begin(train_config(model, p, theta, cfg), x_bytes=1)
    exact, bseq, history = True, 0, []
    with tqdm(total=n_epochs, desc=desc, unit="epoch", leave=False) as bar:
        for batches in train.epochs(len(x_int), n_epochs, batch, seed):
            loss_sum = 0
            for idx in batches:
                bseq += 1
                st = ref.step(x_int[idx], y[idx])
                ack = dev.batch(bseq, x_int[idx], y[idx])
                loss_sum += st.loss
                if bseq % check_every == 0:
                    got = blob.read_blob(dev.read_training())
                    exact &= all(np.array_equal(got.layers[k].weight, ref.model.layers[k].weight)
                                 and np.array_equal(got.layers[k].bias, ref.model.layers[k].bias)
                                 for k in range(p.first, len(model.layers)))
                exact &= ack.last_bseq == bseq
            history.append(loss_sum / 4096 / len(x_int))
            bar.update(1)
    stats = dev.stats()
    exact &= stats.steps == bseq
    dev.train_commit()
    return ref.model, history, exact, stats


def _float_sgd(w, b, x, y, n_epochs, batch, lr, seed):
    """Plain float SGD (no momentum) of a ReLU MLP from w, b, in train.epochs' batch order."""
    net = nn.MLP([np.array(a, dtype=float) for a in w], [np.array(a, dtype=float) for a in b])
    history = []
    for batches in train.epochs(len(x), n_epochs, batch, seed):
        losses = []
        for idx in batches:
            l, grads = net.loss_and_grads(x[idx], y[idx])
            for prm, g in zip(net.params, grads):
                prm -= lr * g * len(idx) / batch
            losses.append(l * len(idx))
        history.append(sum(losses) / len(x))
    return net, history


def run(epochs: int = 40, seed: int = 0) -> int:
    """The foundation check alone (step 1): 0 if the C kernel and the reference agree."""
    return 0 if foundation(epochs, seed)[0] else 1


def run_all(epochs: int = 40, seed: int = 0, port: str | None = None, quick: bool = False,
            out_dir: str = "results") -> int:
    """Steps 1-3; writes out_dir/demo.md and demo.png. 0 if everything was bit-exact."""
    match, model, float_params, (x_tr, x_te, y_tr, y_te) = foundation(epochs, seed)
    ft_epochs, fs_epochs, batch, lr = (1, 2, 16, 0.1) if quick else (10, 12, 16, 0.1)
    rng = np.random.default_rng(seed)
    lines, ok = [], bool(match)
    with Device(port) as dev:
        board = dev.info.board
        print(f"board: {board} ({'virtual board' if port is None else port})")
        dev.upload(blob.write_blob(model))
        x_int = model.quantize_input(x_te / 16)
        on = dev.infer(x_int, outputs=True)
        infer_exact = np.array_equal(on.outputs, model.forward(x_int))
        acc_dev = float(np.mean(on.classes == y_te))
        ok &= infer_exact
        print(f"on-device accuracy after upload: {acc_dev:.4f} (bit-exact: {'yes' if infer_exact else 'no'})")

        # fine-tune the last layer on a shifted held-out split (half the test set, every image moved
        # one pixel right: a camera that moved), test on the other, equally shifted, half
        shifted = shift_right(x_te)
        half = len(x_te) // 2
        # the APoT layer's real weights are level * unit (per channel): as Q12 int16 they keep
        # their meaning, and the hidden scale follows from its requantization
        unit = quantize_weight(float_params[2])[1]
        trainable = train.make_trainable(model, 1, unit, 12)
        l1 = model.layers[1]
        h_scale = float(l1.mult[0] * 2.0 ** (l1.shift[0] - 31)) * model.output_scale / unit[0]
        p, theta = train.plan(trainable, [model.input_scale, h_scale, model.output_scale], 1, batch, x_max=16)
        cfg = train.optimizer_config(FT_LR)
        dev.upload(blob.write_blob(trainable))
        xn = trainable.quantize_input(shifted / 16)
        before = float(np.mean(dev.infer(xn[half:]).classes == y_te[half:]))
        ft_model, _, ft_exact, ft_stats = _steps_on_device(dev, trainable, p, theta, cfg, xn[:half], y_te[:half],
                                                           ft_epochs, batch, seed, "fine-tune")
        after_out = dev.infer(xn[half:], outputs=True)
        ft_exact &= np.array_equal(after_out.outputs, ft_model.forward(xn[half:]))
        after = float(np.mean(after_out.classes == y_te[half:]))
        ok &= ft_exact
        print(f"fine-tuning the last layer on shifted digits: {before:.4f} -> {after:.4f} "
              f"({ft_stats.accepted}/{ft_stats.steps} steps accepted; bit-exact: {'yes' if ft_exact else 'no'})")

        # from scratch, all layers, on the same device
        design = train.FixedPointDesign(in_frac=4)
        w0 = [rng.normal(0, np.sqrt(2 / 64), (HIDDEN, 64)), rng.normal(0, np.sqrt(2 / HIDDEN), (10, HIDDEN))]
        b0 = [np.zeros(HIDDEN), np.zeros(10)]
        scratch = train.from_float(w0, b0, design)
        p0, theta0 = train.plan(scratch, design.act_scales(2), 0, batch, x_max=16)
        dev.upload(blob.write_blob(scratch))
        xs_tr, xs_te = scratch.quantize_input(x_tr / 16), scratch.quantize_input(x_te / 16)
        t0 = time.monotonic()
        try:
            fs_model, fs_hist, fs_exact, fs_stats = _steps_on_device(
                dev, scratch, p0, theta0, train.optimizer_config(lr), xs_tr, y_tr, fs_epochs, batch, seed,
                "from scratch", check_every=4)
            seconds = time.monotonic() - t0
            out = dev.infer(xs_te, outputs=True)
            fs_exact &= np.array_equal(out.outputs, fs_model.forward(xs_te))
            fs_acc = float(np.mean(out.classes == y_te))
        except DeviceError as e:
            if e.name != "TOO_BIG":
                raise
            raise click.ClickException(f"{board}: all-layer training does not fit its RAM "
                                       f"(trainer arena {e.info} B): use the virtual board (large profile)")
        ok &= fs_exact
        net, fl_hist = _float_sgd(w0, b0, x_tr / 16, y_tr, fs_epochs, batch, lr, seed)
        fl_acc = net.accuracy(x_te / 16, y_te)
        row = 64 + 1
        print(f"from scratch on the device: accuracy {fs_acc:.4f} vs float SGD {fl_acc:.4f} "
              f"({fs_acc - fl_acc:+.4f}); bit-exact: {'yes' if fs_exact else 'no'}; "
              f"{len(xs_tr) * fs_epochs / seconds:.0f} samples/s incl. checks")
    lines = [
        "# fxlearn demo (python -m fxlearn.cli demo" + (" --quick" if quick else "") + ")", "",
        f"Board: `{board}`. Digits {len(x_tr)} train / {len(x_te)} test; batch {batch}, lr {lr}.", "",
        "| quantity | value |", "|---|---|",
        f"| on-device accuracy after upload (APoT 4-bit, 64-{HIDDEN}-10) | {acc_dev:.4f} |",
        f"| inference bit-exact with the host reference | {'yes' if infer_exact else 'no'} |",
        f"| fine-tuning (last layer, split shifted one pixel, {ft_epochs} epoch(s)): accuracy before -> after | {before:.4f} -> {after:.4f} ({after - before:+.4f}) |",
        f"| fine-tuning steps bit-exact | {'yes' if ft_exact else 'no'} |",
        f"| from scratch on the device, {fs_epochs} epochs, all layers | {fs_acc:.4f} |",
        f"| float SGD, same init and batches | {fl_acc:.4f} |",
        f"| gap (device - float) | {100 * (fs_acc - fl_acc):+.2f} points (target within 1) |",
        f"| from-scratch steps bit-exact (params every 4th batch, acks, final logits) | {'yes' if fs_exact else 'no'} |",
        f"| steps accepted (Idle and Go) | {fs_stats.accepted}/{fs_stats.steps} |", "",
        "Link throughput/efficiency of training streams: see `fxlearn bench link` (not yet extended to TRAIN).",
    ]
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "demo.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(range(1, fs_epochs + 1), fs_hist, "o-", label="on-device (integer, quantized optimizer)")
    ax.plot(range(1, fs_epochs + 1), fl_hist, "s--", label="float SGD")
    ax.set_xlabel("epoch"); ax.set_ylabel("mean training loss (nats)"); ax.legend(); ax.grid(alpha=.3)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "demo.png"), dpi=120)
    plt.close(fig)
    print(f"wrote {out_dir}/demo.md and demo.png; {'all bit-exact' if ok else 'MISMATCH'}")
    return 0 if ok else 1


@click.command("demo")
@click.option("--epochs", default=40, show_default=True, help="float training epochs")
@click.option("--seed", default=0, show_default=True, help="data split and initialisation seed")
@click.option("--port", default=None, help="a real board's serial port (default: the virtual board)")
@click.option("--quick", is_flag=True, help="few epochs: a smoke run")
@click.option("--out", "out_dir", default="results", show_default=True, help="report directory")
def main(epochs, seed, port, quick, out_dir):
    """Digits end to end: quantize, upload, infer and train on the board, bit-exact checks."""
    raise SystemExit(run_all(10 if quick else epochs, seed, port, quick, out_dir))
