"""Datasets: the builtin scikit-learn sets, the fixed seeded split, user .npz / CSV files."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn import datasets as skd

from fxlearn import data

SHAPES = {"digits": (1797, 64, 10), "iris": (150, 4, 3), "wine": (178, 13, 3),
          "breast_cancer": (569, 30, 2)}


@pytest.mark.parametrize("name", sorted(data.BUILTIN))
def test_builtin_shapes_and_stratified_split(name):
    n, f, k = SHAPES[name]
    ds = data.load(name)
    assert ds.n_features == f and ds.n_classes == k
    assert len(ds.x_train) + len(ds.x_test) == n
    assert len(ds.x_test) == int(np.ceil(0.25 * n))
    assert set(np.unique(ds.y_train)) == set(range(k))
    # stratified: every class's share of the test set is within one sample of its share overall
    counts = np.bincount(np.concatenate([ds.y_train, ds.y_test]), minlength=k)
    test_counts = np.bincount(ds.y_test, minlength=k)
    assert np.all(np.abs(test_counts - counts * len(ds.x_test) / n) <= 1)


def test_split_is_fixed_by_its_seed():
    a, b, c = data.load("wine"), data.load("wine"), data.load("wine", split_seed=1)
    assert np.array_equal(a.x_test, b.x_test) and np.array_equal(a.y_train, b.y_train)
    assert not np.array_equal(a.x_test, c.x_test)


def test_digits_inputs_are_pixels_over_16():
    ds = data.load("digits")
    raw = skd.load_digits().data
    assert ds.x_train.min() == 0.0 and ds.x_train.max() == 1.0
    # every model input is an exact multiple of 1/16 that is a pixel row of the raw data
    assert np.array_equal(ds.x_train * 16, np.round(ds.x_train * 16))
    rows = {tuple(r) for r in raw}
    assert all(tuple(r) in rows for r in ds.x_test * 16)


def test_other_sets_are_standardised_on_the_training_split():
    ds = data.load("breast_cancer")
    np.testing.assert_allclose(ds.x_train.mean(axis=0), 0.0, atol=1e-9)
    np.testing.assert_allclose(ds.x_train.std(axis=0), 1.0, atol=1e-9)
    np.testing.assert_allclose(ds.transform(ds.x_test * ds.scale + ds.offset), ds.x_test)


def test_npz_and_csv_files(tmp_path, rng):
    x = rng.normal(size=(40, 3))
    y = np.array(["b", "a"] * 20)
    np.savez(tmp_path / "d.npz", X=x, y=y)
    ds = data.load(str(tmp_path / "d.npz"))
    assert ds.name == "d" and ds.n_classes == 2 and len(ds.x_test) == 10
    # labels become 0..K-1 in sorted order: "a" -> 0
    assert set(ds.y_train) == {0, 1}

    table = np.column_stack([x, (x[:, 0] > 0).astype(int)])
    np.savetxt(tmp_path / "h.csv", table, delimiter=",", header="a,b,c,label", comments="")
    np.savetxt(tmp_path / "n.csv", table, delimiter=",")
    h, n = data.load(str(tmp_path / "h.csv")), data.load(str(tmp_path / "n.csv"))
    assert h.n_features == 3 and np.array_equal(h.x_train, n.x_train)

    np.savez(tmp_path / "s.npz", X_train=x[:30], y_train=np.arange(30) % 3,
             X_test=x[30:], y_test=np.arange(10) % 3)
    s = data.load(str(tmp_path / "s.npz"))
    assert len(s.x_train) == 30 and len(s.x_test) == 10 and s.n_classes == 3


def test_bad_inputs_raise(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset"):
        data.load("mnist")
    with pytest.raises(FileNotFoundError):
        data.load(str(tmp_path / "missing.npz"))
    np.savez(tmp_path / "bad.npz", features=np.zeros((3, 2)))
    with pytest.raises(ValueError, match="expected arrays X, y"):
        data.load(str(tmp_path / "bad.npz"))
    np.savez(tmp_path / "one.npz", X=np.zeros((4, 2)), y=np.zeros(4))
    with pytest.raises(ValueError, match="two classes"):
        data.load(str(tmp_path / "one.npz"))
    np.savez(tmp_path / "nan.npz", X=np.full((4, 2), np.nan), y=np.arange(4) % 2)
    with pytest.raises(ValueError, match="NaN"):
        data.load(str(tmp_path / "nan.npz"))
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(ValueError, match="unsupported"):
        data.load(str(tmp_path / "x.json"))
