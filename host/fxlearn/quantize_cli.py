"""``fxlearn quantize``: float MLP (.npz) -> integer model blob (and C header), with PTQ and
optional QAT, reporting the per-layer error and the accuracy of the integer model.
``fxlearn train-float``: the float MLP to start from, trained on a dataset.

    fxlearn train-float --data digits --hidden 64,32 -o digits.npz
    fxlearn quantize digits.npz --data digits --weights apot4 --acts uniform8 -o digits.fxmb
    fxlearn quantize digits.npz --weights apot2 --acts apot2 --qat ste -o d2.fxmb --header d2.h
"""
from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from . import data as datasets
from . import nn


def _spec(ctx, param, value):
    if value is None:
        return None
    from .quantizers import parse_spec
    try:
        parse_spec(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None
    return value


def _delta(value: str):
    if value == "hessian":
        return value
    try:
        return float(value)
    except ValueError:
        raise click.BadParameter(f"--ewgs-delta must be 'hessian' or a number, got {value!r}") from None


@click.command("quantize")
@click.argument("model", type=click.Path(exists=True, dir_okay=False))
@click.option("--data", "dataset", default="digits", show_default=True,
              help="builtin dataset or .npz/.csv: calibration (training split) and accuracy (test split)")
@click.option("--weights", default="apot4", show_default=True, callback=_spec, help="<scheme><bits>, e.g. apot4, pot3, uniform8")
@click.option("--acts", default="uniform8", show_default=True, callback=_spec, help="hidden activations, e.g. uniform8, apot3")
@click.option("--first", default=None, callback=_spec, help="first layer's weights (default: --weights)")
@click.option("--last", default=None, callback=_spec, help="last layer's weights (default: --weights)")
@click.option("--per-channel/--per-tensor", default=True, show_default=True, help="weight scale granularity")
@click.option("--normalize", is_flag=True, help="APoT weight normalisation (W - mean) / std (QAT)")
@click.option("--input-bits", type=click.IntRange(2, 16), default=8, show_default=True)
@click.option("--qat", "qat_mode", type=click.Choice(["none", "ste", "ewgs"]), default="none", show_default=True)
@click.option("--qat-epochs", type=click.IntRange(1), default=100, show_default=True)
@click.option("--ewgs-delta", default="hessian", show_default=True, help="'hessian' (Hutchinson) or a fixed delta")
@click.option("--ewgs-fix", type=click.Choice(["none", "clip", "nozero"]), default="none", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-o", "--out", type=click.Path(dir_okay=False), default=None, help="model blob to write (.fxmb)")
@click.option("--header", type=click.Path(dir_okay=False), default=None, help="also write a C header with the blob")
@click.option("--name", default="fx_model", show_default=True, help="C identifier of the blob in --header")
def quantize(model, dataset, weights, acts, first, last, per_channel, normalize, input_bits, qat_mode,
             qat_epochs, ewgs_delta, ewgs_fix, seed, out, header, name):
    """Quantize a float MLP to the integer model the kernel runs."""
    from . import blob, convert, export_c, ptq, qat
    fm = nn.MLP.load(model)
    ds = datasets.load(dataset)
    if fm.sizes[0] != ds.n_features:
        raise click.BadParameter(f"the model takes {fm.sizes[0]} inputs, {dataset} has {ds.n_features} features")
    cfg = ptq.QuantConfig(weights=weights, acts=acts, first=first, last=last, per_channel=per_channel,
                          normalize=normalize, input_bits=input_bits,
                          grad="ewgs" if qat_mode == "ewgs" else "ste", ewgs_fix=ewgs_fix)
    try:
        qm = ptq.quantize(fm, cfg, ds.x_train)
        if qat_mode != "none":
            from tqdm import tqdm
            with tqdm(total=qat_epochs, desc=f"QAT ({qat_mode})") as bar:
                qat.train_qat(qm, ds.x_train, ds.y_train,
                              qat.QATConfig(epochs=qat_epochs, seed=seed, ewgs_delta=_delta(ewgs_delta),
                                            ewgs_refresh=max(1, qat_epochs // 10)), progress=bar)
        im = convert.to_int_model(qm)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    report = convert.layer_report(fm, qm, im, ds.x_test)
    click.echo(f"{'layer':>5} {'format':>8} {'bits':>4} {'shape':>9} {'W rel err':>9} "
               f"{'SQNR dB':>8} {'max|acc|':>11} {'W bytes':>7}")
    for r in report:
        click.echo(f"{r.layer:>5} {r.format:>8} {r.bits:>4} {f'{r.shape[0]}x{r.shape[1]}':>9} "
                   f"{r.weight_rel_err:>9.4f} {r.output_sqnr_db:>8.2f} {r.max_abs_acc:>11} {r.weight_bytes:>7}")
    xi = convert.quantize_input(qm, ds.x_test)
    acc_int = float(np.mean(im.predict(xi) == ds.y_test))
    raw = blob.write_blob(im)
    click.echo(f"accuracy on {ds.name} test ({len(ds.y_test)}): float {100 * fm.accuracy(ds.x_test, ds.y_test):.2f} %, "
               f"fake-quant {100 * qm.accuracy(ds.x_test, ds.y_test):.2f} %, integer model {100 * acc_int:.2f} %")
    click.echo(f"model blob {len(raw)} bytes (float: {4 * fm.n_params()} bytes); "
               f"input_scale {im.input_scale:.6g}, output_scale {im.output_scale:.6g}")
    if out:
        Path(out).write_bytes(raw)
        click.echo(f"wrote {out}")
    if header:
        Path(header).write_text(export_c.c_header(raw, name, source=Path(model).name))
        click.echo(f"wrote {header}")


@click.command("train-float")
@click.option("--data", "dataset", default="digits", show_default=True, help="builtin dataset or .npz/.csv")
@click.option("--hidden", default="64,32", show_default=True, help="hidden layer widths, comma separated")
@click.option("--head", type=click.Choice(list(nn.HEADS)), default="softmax", show_default=True)
@click.option("--epochs", type=click.IntRange(1), default=150, show_default=True)
@click.option("--batch", type=click.IntRange(1), default=64, show_default=True)
@click.option("--optimizer", type=click.Choice(["adam", "sgd"]), default="adam", show_default=True)
@click.option("--lr", type=float, default=3e-3, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-o", "--out", type=click.Path(dir_okay=False), required=True, help="float model (.npz)")
def train_float(dataset, hidden, head, epochs, batch, optimizer, lr, seed, out):
    """Train the float reference MLP that `fxlearn quantize` starts from."""
    from tqdm import tqdm
    ds = datasets.load(dataset)
    try:
        widths = tuple(int(h) for h in hidden.split(",") if h.strip())
    except ValueError:
        raise click.BadParameter(f"--hidden must be comma-separated integers, got {hidden!r}") from None
    model = nn.MLP.init((ds.n_features,) + widths + (ds.n_classes,), head=head, seed=seed)
    with tqdm(total=epochs, desc="train") as bar:
        nn.train(model, ds.x_train, ds.y_train,
                 nn.TrainConfig(epochs=epochs, batch_size=batch, optimizer=optimizer, lr=lr, seed=seed),
                 progress=bar)
    model.save(out)
    click.echo(f"{ds.name}: test accuracy {100 * model.accuracy(ds.x_test, ds.y_test):.2f} %; wrote {out}")
