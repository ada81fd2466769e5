"""Float / fake-quantized MLP -> IntModel: hand-computed integers, agreement of the integer
model with the fake-quant model, the blob round trip through the C kernel (bit-exact), the
per-layer report and the accumulator guard."""
from __future__ import annotations

import numpy as np
import pytest

from fxlearn import blob, convert, data, fixed, mlp, nn, ptq, quant

CONFIGS = [
    ptq.QuantConfig(weights="apot4", acts="uniform8"),
    ptq.QuantConfig(weights="apot2", acts="apot2", per_channel=True),
    ptq.QuantConfig(weights="apot3", acts="apot4", first="uniform8", last="apot5", per_channel=True),
    ptq.QuantConfig(weights="pot3", acts="pot3", per_channel=True),
    ptq.QuantConfig(weights="pot4", acts="pot4"),
    ptq.QuantConfig(weights="uniform4", acts="uniform3", normalize=True, per_channel=True),
    ptq.QuantConfig(weights="apot7", acts="apot6", input_bits=12),
]


@pytest.fixture(scope="module")
def digits_float():
    ds = data.load("digits")
    m = nn.MLP.init((64, 24, 16, 10), seed=0)
    nn.train(m, ds.x_train, ds.y_train, nn.TrainConfig(epochs=25))
    return ds, m


@pytest.fixture(scope="module")
def converted(digits_float):
    """(qm, im) per config, converted once for the tests that share them."""
    ds, m = digits_float
    cache = {}

    def get(cfg):
        key = repr(cfg)
        if key not in cache:
            cache[key] = convert.convert(m, cfg, ds.x_train)
        return cache[key]
    return get


def test_hand_computed_layer():
    """One layer, uniform 8-bit weights (int8), alpha = 0.5, input scale 1/127."""
    m = nn.MLP([np.array([[0.5, -0.25]])], [np.array([0.1])])
    qm = ptq.QuantMLP(m, ptq.QuantConfig(weights="uniform8", acts="uniform8"))
    qm.wq[0].alpha = np.array([0.5])
    qm.inq.scale = 1 / 127
    qm.outq.scale = 1 / 256
    im = convert.to_int_model(qm)
    ly = im.layers[0]
    assert ly.fmt == quant.FMT_INT8 and ly.bits == 8
    # -0.25 / (0.5 / 127) = -63.5: halfway, rounds to the larger magnitude
    assert ly.weight.tolist() == [[127, -64]]
    # bias on the accumulator grid s_in * unit = 0.5 / 127^2: 0.1 / that = 3225.8 -> 3226
    assert ly.bias.tolist() == [3226]
    mult, shift = fixed.quantize_multiplier((1 / 127) * (0.5 / 127) / (1 / 256))
    assert ly.mult.tolist() == [mult] and ly.shift.tolist() == [shift]
    assert (ly.act_min, ly.act_max, ly.act_levels) == (fixed.INT16_MIN, fixed.INT16_MAX, None)
    # x = (1, 0.5) -> (127, 64): acc = 127*127 - 64*64 + 3226 = 15259
    x = np.array([[1.0, 0.5]])
    assert convert.quantize_input(qm, x).tolist() == [[127, 64]]
    assert im.forward(convert.quantize_input(qm, x)).tolist() == [[fixed.requant(15259, mult, shift)]]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c.weights}-{c.acts}")
def test_int_model_equals_fake_quant(digits_float, converted, cfg):
    ds, _ = digits_float
    qm, im = converted(cfg)
    x = np.concatenate([ds.x_train, ds.x_test])
    xi = convert.quantize_input(qm, x)
    zi = im.forward(xi)
    zf = qm.forward(x) / qm.outq.scale
    # the same integers up to the 31-bit rounding of the requant multipliers
    assert np.mean(zi == np.round(zf)) > 0.999
    assert np.mean(im.predict(xi) == qm.predict(x)) > 0.999
    for l, ly in enumerate(im.layers):
        q = qm.wq[l]
        assert ly.fmt == q.fmt
        assert set(np.abs(ly.weight).ravel()) <= set(quant.levels(q.fmt, ly.bits)) if q.fmt != quant.FMT_INT8 \
            else np.abs(ly.weight).max() <= 127
        assert len(ly.mult) == (ly.n_out if cfg.per_channel else 1)
        if l < len(im.layers) - 1:
            assert ly.act_min == 0 and ly.act_max == qm.aq[l].qmax
            assert (ly.act_levels is None) == (cfg.acts.startswith("uniform"))


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c.weights}-{c.acts}")
def test_blob_round_trip_through_the_c_kernel(kernel, digits_float, converted, cfg):
    ds, _ = digits_float
    qm, im = converted(cfg)
    raw = blob.write_blob(im)
    back = blob.read_blob(raw)
    for a, b in zip(im.layers, back.layers):
        assert a.fmt == b.fmt and a.bits == b.bits
        for f in ("weight", "bias", "mult", "shift"):
            assert np.array_equal(getattr(a, f), getattr(b, f))
    cb = blob.CBlob(kernel, raw)
    assert cb.status == 0
    xi = convert.quantize_input(qm, ds.x_test[:120])
    st, yc = mlp.forward_c(kernel, cb.model, xi)
    assert st == 0
    assert np.array_equal(yc, im.forward(xi))


def test_layer_report_orders_the_widths(digits_float):
    ds, m = digits_float
    reports = {}
    for bits in (2, 4, 8):
        qm, im = convert.convert(m, ptq.QuantConfig(weights=f"uniform{bits}", acts=f"uniform{bits}"),
                                 ds.x_train)
        reports[bits] = convert.layer_report(m, qm, im, ds.x_test)
    for l in range(3):
        assert reports[2][l].weight_rel_err > reports[4][l].weight_rel_err > reports[8][l].weight_rel_err
        assert reports[2][l].output_sqnr_db < reports[4][l].output_sqnr_db < reports[8][l].output_sqnr_db
    r = reports[4][0]
    assert r.shape == (24, 64) and r.weight_bytes == 24 * 32 and 0 < r.max_abs_acc < 2 ** 31
    assert convert.payload_bytes(im) < len(blob.write_blob(im))


def test_ptq_keeps_8bit_accuracy(digits_float):
    ds, m = digits_float
    qm, im = convert.convert(m, ptq.QuantConfig(weights="uniform8", acts="uniform8"), ds.x_train)
    acc = np.mean(im.predict(convert.quantize_input(qm, ds.x_test)) == ds.y_test)
    assert acc >= m.accuracy(ds.x_test, ds.y_test) - 0.01


def test_accumulator_guard(digits_float):
    ds, m = digits_float
    cfg = ptq.QuantConfig(weights="pot6", acts="uniform8")
    with pytest.raises(ValueError, match="accumulator"):
        convert.convert(m, cfg, ds.x_train[:50])
    _, im = convert.convert(m, cfg, ds.x_train[:50], allow_saturation=True)
    im.check()


def test_cli_train_float_and_quantize(tmp_path, kernel):
    from click.testing import CliRunner
    from fxlearn.cli import main
    runner = CliRunner()
    model = tmp_path / "wine.npz"
    r = runner.invoke(main, ["train-float", "--data", "wine", "--hidden", "8", "--epochs", "30",
                             "-o", str(model)])
    assert r.exit_code == 0, r.output
    out, header = tmp_path / "wine.fxmb", tmp_path / "wine.h"
    r = runner.invoke(main, ["quantize", str(model), "--data", "wine", "--weights", "apot3",
                             "--acts", "apot3", "--qat", "ste", "--qat-epochs", "3",
                             "-o", str(out), "--header", str(header), "--name", "wine_model"])
    assert r.exit_code == 0, r.output
    assert "integer model" in r.output and "SQNR" in r.output
    im = blob.read_blob(out.read_bytes())
    assert [ly.fmt for ly in im.layers] == [quant.FMT_APOT, quant.FMT_APOT]
    assert "wine_model_len = " in header.read_text()
    cb = blob.CBlob(kernel, out.read_bytes())
    assert cb.status == 0
    ds = data.load("wine")
    xi = im.quantize_input(ds.x_test)
    assert np.array_equal(mlp.forward_c(kernel, cb.model, xi)[1], im.forward(xi))
    # clear errors: a bad spec, a model for another dataset
    r = runner.invoke(main, ["quantize", str(model), "--data", "wine", "--weights", "apot9"])
    assert r.exit_code != 0 and "apot" in r.output
    r = runner.invoke(main, ["quantize", str(model), "--data", "iris"])
    assert r.exit_code != 0 and "features" in r.output
