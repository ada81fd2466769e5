"""Benchmark: on-device integer training (the kernel's fx_train_step, via its bit-exact Python
reference) against float SGD on digits, from the same initialisation, with the same batches,
for the same number of epochs. Writes results/training.md and results/training.png.

Two modes: all layers (training from scratch) and the last layer only (the fine-tuning case,
here from the same random hidden layer in both arithmetics). The C kernel is run on the very
same batches and compared with the reference after every step.
"""
from __future__ import annotations

from dataclasses import dataclass

import click
import numpy as np
from tqdm import tqdm

from .. import data, native, nn, optim, paths, train


@dataclass
class Run:
    name: str
    loss: list[float]           # mean training loss per epoch
    test_acc: list[float]       # test accuracy after each epoch
    accepted: list[float] | None = None


def float_sgd(init: nn.MLP, ds, epochs: int, batch: int, lr: float, seed: int, first: int) -> Run:
    """Plain SGD (no momentum, constant lr) on the batch loss summed and divided by the nominal
    batch size - the step the integer plan implements - training layers first.. only."""
    model = nn.MLP([w.copy() for w in init.weights], [b.copy() for b in init.biases])
    trained = model.params[2 * first:]
    opt = nn.make_optimizer("sgd", trained, lr, momentum=0.0)
    run = Run("float SGD", [], [])
    for batches in train.epochs(len(ds.x_train), epochs, batch, seed):
        total = 0.0
        for idx in batches:
            loss, grads = model.loss_and_grads(ds.x_train[idx], ds.y_train[idx])
            opt.step([g * len(idx) / batch for g in grads[2 * first:]])
            total += loss * len(idx)
        run.loss.append(total / len(ds.x_train))
        run.test_acc.append(model.accuracy(ds.x_test, ds.y_test))
    return run


def integer_sgd(init: nn.MLP, ds, epochs: int, batch: int, cfg, seed: int, first: int,
                kernel=None) -> tuple[Run, int, int]:
    """The integer training of the kernel from float initial weights (train.FixedPointDesign)."""
    design = train.FixedPointDesign()
    model = train.from_float(init.weights, init.biases, design)
    p, theta = train.plan(model, design.act_scales(len(model.layers)), first, batch, q=design.q,
                          dir_q=design.dir_q, x_max=4096, cache=batch if first else 0)
    x = train.quantize_input(ds.x_train, model.input_scale)
    xt = train.quantize_input(ds.x_test, model.input_scale)
    return integer_run(model, p, theta, cfg, x, xt, ds, epochs, batch, seed, kernel)


def integer_run(model, p, theta, cfg, x, xt, ds, epochs: int, batch: int, seed: int,
                kernel=None) -> tuple[Run, int, int]:
    """The integer training of the kernel (Python reference). With a kernel, the C trainer runs
    the same batches and must agree after every step. Returns (run, steps checked, workspace)."""
    ref = train.Trainer(model, p, theta, optim.Optimizer(cfg, len(theta)))
    c = train.CTrainer(kernel, model, p, theta, cfg) if kernel is not None else None
    checked = 0

    def step(xb, lb, tb):
        nonlocal checked
        want = ref.step(xb, lb, tb)
        if c is not None:
            got = c.step(xb, lb, tb)
            if got != want or not np.array_equal(c.theta, ref.theta):
                raise AssertionError(f"C kernel differs from the reference at step {checked}: {got} != {want}")
            checked += 1
        return want

    run = Run("integer (kernel)", [], [], [])

    def on_epoch(e, stats):
        run.loss.append(stats.loss)
        run.test_acc.append(float(np.mean(ref.model.predict(xt) == ds.y_test)))
        run.accepted.append(stats.accepted)

    train.fit(step, x, ds.y_train, n_epochs=epochs, batch=batch, seed=seed, on_epoch=on_epoch)
    if c is not None and c.optimizer.stats != ref.opt.stats:
        raise AssertionError("C optimizer state differs from the reference after training")
    ws = c.workspace_size()[1] if c is not None else train.workspace_bytes(model, p, cfg)
    return run, checked, ws


def finetune_apot(ds, epochs: int, batch: int, lr: float, cfg, seed: int, spec: str, kernel=None):
    """The fine-tuning case: a float model (trained with SGD, same settings) quantized by PTQ
    to `spec` weights / uint8 activations, then its last layer trained on the device (as INT16
    Q12) over the frozen integer features; float SGD trains the same last layer, from the same
    values, on the same features dequantized. Returns (float run, integer run, checked, ws,
    accuracy after PTQ)."""
    from .. import convert, ptq
    pre = nn.MLP.init((64, 32, 10), seed=seed)
    nn.train(pre, ds.x_train, ds.y_train, nn.TrainConfig(epochs=epochs, batch_size=batch, optimizer="sgd", lr=lr,
                                                         momentum=0.0, weight_decay=0.0, schedule="constant",
                                                         seed=seed))
    qm, im = convert.convert(pre, ptq.QuantConfig(weights=spec, acts="uniform8"), ds.x_train[:300])
    last = len(im.layers) - 1
    x = convert.quantize_input(qm, ds.x_train)
    xt = convert.quantize_input(qm, ds.x_test)
    ptq_acc = float(np.mean(im.predict(xt) == ds.y_test))
    model = train.make_trainable(im, last, qm.wq[last].unit(qm.weights[last]), 12)
    scales = [qm.inq.scale] + [a.scale for a in qm.aq] + [qm.outq.scale]
    p, theta = train.plan(model, scales, last, batch, q=12, dir_q=cfg.dir_q, x_max=int(np.abs(x).max()),
                          cache=batch)
    # float: the same last layer (theta's values) on the frozen integer features, dequantized
    feats = lambda xi: train.forward_all(model, xi)[last - 1] * scales[last]
    w, b = train.split_theta(model, last, theta.astype(np.float64))[0]
    head = nn.MLP([w * 2.0 ** -12], [b * 2.0 ** -12])
    f_ds = data.Dataset(ds.name, feats(x), ds.y_train, feats(xt), ds.y_test, ds.n_classes, ds.offset, ds.scale)
    f = float_sgd(head, f_ds, epochs, batch, lr, seed, 0)
    r, checked, ws = integer_run(model, p, theta, cfg, x, xt, ds, epochs, batch, seed, kernel)
    return f, r, checked, ws, ptq_acc


def plot(results: dict, path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for (mode, runs), color in zip(results.items(), ("C0", "C1", "C2")):
        for run, style in zip(runs, ("--", "-")):
            ep = np.arange(1, len(run.loss) + 1)
            axes[0].plot(ep, run.loss, style, color=color, label=f"{mode}: {run.name}")
            axes[1].plot(ep, 100 * np.array(run.test_acc), style, color=color, label=f"{mode}: {run.name}")
    axes[0].set(xlabel="epoch", ylabel="training loss (nats)", yscale="log", title="digits 64-32-10, training loss")
    axes[1].set(xlabel="epoch", ylabel="test accuracy (%)", title="test accuracy")
    axes[1].legend(fontsize=8)
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


MODES = ("all layers", "last layer", "fine-tune APoT")


@click.command("training")
@click.option("--epochs", default=30, show_default=True)
@click.option("--batch", default=32, show_default=True)
@click.option("--lr", default=0.1, show_default=True, help="SGD learning rate (both arithmetics)")
@click.option("--seed", default=0, show_default=True, help="initialisation and batch order")
@click.option("--finetune-weights", default="apot2", show_default=True,
              help="PTQ weight format of the model whose last layer is fine-tuned")
@click.option("--rounding", type=click.Choice(list(optim.ROUNDING_NAMES.values())), default="rhu",
              show_default=True, help="rounding of the integer update")
@click.option("--check-c/--no-check-c", default=True, show_default=True,
              help="run the C kernel on the same batches and require equality at every step")
@click.option("--sweep", default=5, show_default=True,
              help="seeds 0..N-1 of the all-layers run, for every rounding mode (reference only)")
def main(epochs, batch, lr, seed, finetune_weights, rounding, check_c, sweep):
    """Integer on-device training vs float SGD on digits: results/training.md + .png."""
    ds = data.load("digits")
    init = nn.MLP.init((64, 32, 10), seed=seed)
    kernel = native.load() if check_c else None
    mode_of = {v: k for k, v in optim.ROUNDING_NAMES.items()}
    cfg = train.optimizer_config(lr, q=12, dir_q=24, rounding=mode_of[rounding])
    results, rows, ptq_acc = {}, [], None
    for mode in tqdm(MODES, desc="training runs", unit="mode"):
        if mode == "fine-tune APoT":
            f, r, checked, ws, ptq_acc = finetune_apot(ds, epochs, batch, lr, cfg, seed, finetune_weights, kernel)
        else:
            first = 0 if mode == "all layers" else 1
            f = float_sgd(init, ds, epochs, batch, lr, seed, first)
            r, checked, ws = integer_sgd(init, ds, epochs, batch, cfg, seed, first, kernel)
        results[mode] = (f, r)
        rows.append((mode, f, r, checked, ws))
    sweep_rows = []
    for sd in tqdm(range(sweep), desc="seed sweep", unit="seed"):
        init_s = nn.MLP.init((64, 32, 10), seed=sd)
        f = float_sgd(init_s, ds, epochs, batch, lr, sd, 0)
        accs = [integer_sgd(init_s, ds, epochs, batch, train.optimizer_config(lr, q=12, dir_q=24, rounding=m),
                            sd, 0)[0].test_acc[-1] for m in optim.ROUNDING_NAMES]
        sweep_rows.append((sd, f.test_acc[-1], accs))
    out = paths.results_dir()
    plot(results, out / "training.png")
    lines = [
        "# On-device integer training vs float SGD (digits)",
        "",
        f"Command: `python -m fxlearn.bench.training --epochs {epochs} --batch {batch} --lr {lr} --seed {seed} "
        f"--finetune-weights {finetune_weights} --rounding {rounding}`",
        "",
        f"Digits (sklearn, stratified split seed {data.DEFAULT_SPLIT_SEED}: {len(ds.x_train)} train / "
        f"{len(ds.x_test)} test), MLP 64-32-10, mini-batch {batch}, {epochs} epochs, SGD lr {lr} (no momentum, "
        "batch-mean gradient), the same initial values and the same batch order in both arithmetics "
        "(float: float64 numpy).",
        "",
        "- **all layers**: from the He-normal initialisation (seed "
        f"{seed}); integer: int16 Q12 weights and biases (theta), Q12 inputs and activations, Q10 logits, "
        "Q15 / Q13 gradients, int32 accumulators, the batch-mean gradient in Q24 as the optimizer's direction "
        f"(docs/training.md).",
        "- **last layer**: the same, training only the output layer over the random hidden layer.",
        f"- **fine-tune APoT**: a float model trained as above, PTQ to {finetune_weights} weights / uint8 "
        f"activations (test accuracy after PTQ: {100 * ptq_acc:.2f} %), then only its last layer trained "
        "(re-expressed as int16 Q12) over the frozen integer features; float SGD trains the same layer on the "
        "same features.",
        "",
        f"Integer update: the quantized optimizer (fx_optim), lambda = z / 2^12 with z_max = {cfg.z_max} "
        f"(lr {lr}), {rounding} rounding, ADAPT policy, phi = 1: each trial step is evaluated on the same batch "
        "and kept only if the batch loss drops (Idle and Go). "
        "Workspace: fx_train_workspace_size; the last-layer modes include a cache of one batch of hidden "
        f"features ({batch} x 32 int16) so that the trial pass skips the frozen layer.",
        "",
        "| mode | float SGD test acc | integer test acc | difference (points) | float final loss | "
        "integer final loss | steps kept | C == reference | workspace bytes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for mode, f, r, checked, ws in rows:
        diff = 100 * (r.test_acc[-1] - f.test_acc[-1])
        steps = f"{checked} steps bit-exact" if check_c else "not run"
        lines.append(f"| {mode} | {100 * f.test_acc[-1]:.2f} % | {100 * r.test_acc[-1]:.2f} % | {diff:+.2f} | "
                     f"{f.loss[-1]:.4f} | {r.loss[-1]:.4f} | {100 * np.mean(r.accepted):.1f} % | {steps} | {ws} |")
    if sweep_rows:
        names = list(optim.ROUNDING_NAMES.values())
        lines += ["", f"All layers, seeds 0..{sweep - 1} (initialisation and batch order), test accuracy %, "
                  "each rounding mode of the integer update:", "",
                  "| seed | float SGD | " + " | ".join(f"integer, {n}" for n in names) + " |",
                  "|---|---|" + "---|" * len(names)]
        for sd, fa, accs in sweep_rows:
            lines.append(f"| {sd} | {100 * fa:.2f} | " + " | ".join(f"{100 * a:.2f}" for a in accs) + " |")
        diffs = np.array([[100 * (a - fa) for a in accs] for _, fa, accs in sweep_rows])
        lines.append("| mean difference (points) | | " + " | ".join(f"{d:+.2f}" for d in diffs.mean(axis=0)) + " |")
        lines.append("| worst difference (points) | | " + " | ".join(f"{d:+.2f}" for d in diffs.min(axis=0)) + " |")
    lines += ["", "Training loss: mean over the epoch of each batch's loss before its step (nats).", "",
              "Per epoch (test accuracy %, float / integer):", "",
              "| epoch | " + " | ".join(f"{m} float | {m} integer" for m in results) + " |",
              "|---|" + "---|---|" * len(results)]
    for e in range(epochs):
        cells = [f"{100 * f.test_acc[e]:.2f} | {100 * r.test_acc[e]:.2f}" for f, r in results.values()]
        lines.append(f"| {e + 1} | " + " | ".join(cells) + " |")
    lines += ["", "![curves](training.png)", ""]
    (out / "training.md").write_text("\n".join(lines))
    for mode, f, r, *_ in rows:
        click.echo(f"{mode}: float {100 * f.test_acc[-1]:.2f} %, integer {100 * r.test_acc[-1]:.2f} %")
    click.echo(f"wrote {out / 'training.md'} and {out / 'training.png'}")


if __name__ == "__main__":
    main()
