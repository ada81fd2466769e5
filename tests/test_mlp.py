"""MLP forward (docs/kernel.md section 6): random models of every format, C fx_mlp_forward
against IntModel.forward bit for bit; workspace; validation; the ctypes conversion; the demo."""
from __future__ import annotations

import ctypes as C

import numpy as np
import pytest
from test_dense import FORMATS, random_inputs, random_layer

from fxlearn import mlp, native, quant

FX_OK, FX_ERR_NULL, FX_ERR_SHAPE, FX_ERR_BITS, FX_ERR_PARAM, FX_ERR_BUFFER = 0, -1, -2, -3, -5, -6


def random_model(rng, n_layers=None, max_width=40) -> mlp.IntModel:
    n_layers = int(rng.integers(1, 5)) if n_layers is None else n_layers
    widths = [int(rng.integers(1, max_width)) for _ in range(n_layers + 1)]
    layers = []
    for k in range(n_layers):
        fmt, bits = FORMATS[int(rng.integers(len(FORMATS)))]
        w, b, mult, shift, lo, hi = random_layer(rng, fmt, bits, widths[k], widths[k + 1])
        if k + 1 < n_layers and rng.integers(2):
            lo, hi = 0, 255                                       # ReLU, 8-bit unsigned range
        levels = None
        if rng.integers(3) == 0:
            pool = np.unique(rng.integers(lo, hi, endpoint=True, size=int(rng.integers(1, 12))))
            levels = pool if rng.integers(2) else np.unique(np.clip(np.array(quant.levels(quant.FMT_APOT, 5)) * 5, lo, hi))
        layers.append(mlp.IntLayer(fmt, bits, w, b, mult, shift, int(lo), int(hi), levels))
    return mlp.IntModel(layers)


def test_forward_matches_reference(kernel, rng):
    """300 random models x 4 inputs (1,200 forward passes) and predict."""
    for case in range(300):
        model = random_model(rng)
        x = random_inputs(rng, 16, 4, model.layers[0].n_in)
        c = mlp.CModel(model)
        assert kernel.fx_mlp_check(C.byref(c.struct)) == FX_OK
        st, y = c.forward(kernel, x)
        ref = model.forward(x)
        assert st == FX_OK and (y == ref).all(), case
        ws = np.zeros(max(c.workspace_size(kernel) // 2, 1), np.int16)
        y1, cls = np.zeros(model.layers[-1].n_out, np.int16), C.c_uint32()
        xr = np.ascontiguousarray(x[0], np.int16)
        assert kernel.fx_mlp_predict(C.byref(c.struct), native.ptr(xr, C.c_int16), native.ptr(y1, C.c_int16),
                                     ws.ctypes.data, 2 * len(ws), C.byref(cls)) == FX_OK
        assert cls.value == model.predict(x)[0]


def test_workspace_size(kernel, rng):
    for _ in range(100):
        model = random_model(rng)
        widest = max([ly.n_out for ly in model.layers[:-1]], default=0)
        assert mlp.CModel(model).workspace_size(kernel) == 4 * widest


def test_ctypes_round_trip(kernel, rng):
    for _ in range(50):
        model = random_model(rng)
        c = mlp.CModel(model)                    # keeps the arrays the struct points to alive
        back = mlp.from_c(c.struct)
        for a, b in zip(model.layers, back.layers):
            assert (a.fmt, a.bits, a.act_min, a.act_max) == (b.fmt, b.bits, b.act_min, b.act_max)
            for f in ("weight", "bias", "mult", "shift"):
                assert np.array_equal(np.atleast_1d(getattr(a, f)), getattr(b, f))
            assert (a.act_levels is None) == (b.act_levels is None)
            assert a.act_levels is None or np.array_equal(a.act_levels, b.act_levels)


def _two_layers(rng):
    model = random_model(rng, n_layers=2)
    while model.layers[0].n_out < 2:
        model = random_model(rng, n_layers=2)
    return model


def test_c_rejects_bad_models_before_writing(kernel, rng):
    def status(model_or_c, size=None, ws_offset=0):
        c = model_or_c if isinstance(model_or_c, mlp.CModel) else mlp.CModel(model_or_c)
        ws = np.zeros(1000, np.int16)
        y = np.full(64, 777, np.int16)
        x = np.zeros(64, np.int16)
        st = kernel.fx_mlp_forward(C.byref(c.struct), native.ptr(x, C.c_int16), native.ptr(y, C.c_int16),
                                   ws.ctypes.data + ws_offset, 2000 if size is None else size)
        assert st == FX_OK or (y == 777).all()
        return st

    model = _two_layers(rng)
    assert status(model) == FX_OK
    c = mlp.CModel(model)
    need = c.workspace_size(kernel)
    assert status(c, size=need) == FX_OK and status(c, size=need - 1) == FX_ERR_BUFFER
    assert status(c, ws_offset=1) == FX_ERR_BUFFER                  # misaligned
    assert kernel.fx_mlp_forward(C.byref(c.struct), native.ptr(np.zeros(64, np.int16), C.c_int16),
                                 native.ptr(np.zeros(64, np.int16), C.c_int16), None, 4096) == FX_ERR_BUFFER
    c.layers[1].dense.n_in += 1                                      # shapes no longer chain
    assert status(c) == FX_ERR_SHAPE and kernel.fx_mlp_check(C.byref(c.struct)) == FX_ERR_SHAPE
    c = mlp.CModel(model)
    c.layers[1].dense.bits = 1
    assert status(c) == FX_ERR_BITS
    c = mlp.CModel(model)
    c.struct.n_layers = 0
    assert status(c) == FX_ERR_SHAPE
    c.struct.layers = None
    assert status(c) == FX_ERR_NULL
    lo, hi = model.layers[0].act_min, model.layers[0].act_max
    for levels, st in (([hi, hi], FX_ERR_PARAM), ([lo, lo - 1] if lo > -32768 else [0, -1], FX_ERR_PARAM),
                       ([lo - 1] if lo > -32768 else [hi + 1] if hi < 32767 else None, FX_ERR_PARAM)):
        if levels is None:
            continue
        model.layers[0].act_levels = np.array(levels)
        assert status(model) == st
        with pytest.raises(ValueError):
            model.check()
    c = mlp.CModel(model)
    c.layers[0].act_levels = None
    assert status(c) == FX_ERR_NULL
    assert kernel.fx_mlp_check(None) == FX_ERR_NULL
    size = C.c_size_t(0)
    c = mlp.CModel(_two_layers(rng))
    assert kernel.fx_mlp_workspace_size(C.byref(c.struct), None) == FX_ERR_NULL
    assert kernel.fx_mlp_workspace_size(None, C.byref(size)) == FX_ERR_NULL


def test_python_rejects_bad_models(rng):
    model = _two_layers(rng)
    model.check()
    with pytest.raises(ValueError):
        mlp.IntModel([]).check()
    with pytest.raises(ValueError, match="inputs"):
        mlp.IntModel([model.layers[1], model.layers[1]] if model.layers[1].n_in != model.layers[1].n_out
                     else [model.layers[0], model.layers[0]]).check()
    with pytest.raises(ValueError):
        model.forward(np.zeros((2, model.layers[0].n_in + 1), np.int64))
    with pytest.raises(ValueError):
        model.forward(np.full((1, model.layers[0].n_in), 32768))
    model.layers[0].act_levels = np.array([3, 2])
    with pytest.raises(ValueError):
        model.check()


def test_quantize_input():
    model = mlp.IntModel([], input_scale=0.5)
    assert model.quantize_input([0.25, -0.25, 1.0, 1e9, -1e9]).tolist() == [1, -1, 2, 32767, -32768]


def test_demo_end_to_end(capsys):
    from fxlearn import demo
    assert demo.run(epochs=15, seed=1) == 0
    out = capsys.readouterr().out
    assert "bit-exact match: yes" in out
