"""Datasets: the ones that ship inside scikit-learn (no download at run time) and the user's own
.npz / CSV, with a fixed, seeded, stratified train/test split.

Model inputs are ``(raw - offset) / scale`` per feature. Digits pixels (0..16) are divided by 16,
so a pixel is an exact multiple of 1/16; the other sets are standardised with the training
split's mean and standard deviation. ``offset`` and ``scale`` are kept on the Dataset so that a
device can apply the same transform to raw features.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn import datasets as skd
from sklearn.model_selection import train_test_split

BUILTIN = {
    "digits": skd.load_digits,
    "iris": skd.load_iris,
    "wine": skd.load_wine,
    "breast_cancer": skd.load_breast_cancer,
}
DEFAULT_TEST_SIZE = 0.25
DEFAULT_SPLIT_SEED = 0


@dataclass
class Dataset:
    name: str
    x_train: np.ndarray        # float64 model inputs [n, features]
    y_train: np.ndarray        # int64 class labels 0 .. n_classes - 1
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    offset: np.ndarray         # model input = (raw - offset) / scale, per feature
    scale: np.ndarray

    @property
    def n_features(self) -> int:
        return self.x_train.shape[1]

    def transform(self, raw: np.ndarray) -> np.ndarray:
        """Raw features -> model inputs, as applied to this dataset."""
        return (np.asarray(raw, dtype=np.float64) - self.offset) / self.scale


def _labels(y) -> tuple[np.ndarray, int]:
    """Any labels -> 0 .. K-1 (sorted order of the distinct values)."""
    classes, idx = np.unique(np.asarray(y), return_inverse=True)
    if len(classes) < 2:
        raise ValueError("a classification dataset needs at least two classes")
    return idx.astype(np.int64), len(classes)


def _read_file(path: Path) -> tuple[np.ndarray, np.ndarray, tuple | None]:
    """(X, y, predefined split or None) from .npz (X, y or X_train, y_train, X_test, y_test)
    or CSV (numeric columns, label last, optional header line)."""
    if not path.exists():
        raise FileNotFoundError(f"dataset file {path} not found")
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as f:
            keys = set(f.files)
            if {"X_train", "y_train", "X_test", "y_test"} <= keys:
                xa, xb = f["X_train"], f["X_test"]
                ya, yb = f["y_train"], f["y_test"]
                return np.concatenate([xa, xb]), np.concatenate([ya, yb]), (len(xa),)
            if {"X", "y"} <= keys:
                return f["X"], f["y"], None
        raise ValueError(f"{path}: expected arrays X, y (or X_train, y_train, X_test, y_test), "
                         f"found {sorted(keys)}")
    if path.suffix.lower() in (".csv", ".txt"):
        with open(path) as fh:
            first = fh.readline()
        try:
            [float(v) for v in first.strip().split(",")]
            skip = 0
        except ValueError:
            skip = 1                                   # a header line
        table = np.loadtxt(path, delimiter=",", skiprows=skip, ndmin=2)
        if table.shape[1] < 2:
            raise ValueError(f"{path}: need at least one feature column and a label column")
        return table[:, :-1], table[:, -1], None
    raise ValueError(f"{path}: unsupported dataset file type (use .npz or .csv)")


def load(name: str, test_size: float = DEFAULT_TEST_SIZE,
         split_seed: int = DEFAULT_SPLIT_SEED) -> Dataset:
    """A builtin dataset by name (``BUILTIN``) or a .npz / .csv file path."""
    if name in BUILTIN:
        bunch = BUILTIN[name]()
        x, y, split = bunch.data.astype(np.float64), bunch.target, None
    elif Path(name).suffix:
        x, y, split = _read_file(Path(name))
        x = np.asarray(x, dtype=np.float64)
    else:
        raise ValueError(f"unknown dataset {name!r}: use one of {sorted(BUILTIN)} or a "
                         f".npz/.csv path")
    if x.ndim != 2 or len(x) != len(y):
        raise ValueError(f"{name}: X must be [samples, features] with one label per sample")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name}: features contain NaN or infinity")
    y, n_classes = _labels(y)
    if split is not None:
        n = split[0]
        xa, xb, ya, yb = x[:n], x[n:], y[:n], y[n:]
    else:
        if not 0 < test_size < 1:
            raise ValueError(f"test_size must be in (0, 1), got {test_size}")
        xa, xb, ya, yb = train_test_split(x, y, test_size=test_size, random_state=split_seed,
                                          stratify=y)
    if name == "digits":
        offset, scale = np.zeros(x.shape[1]), np.full(x.shape[1], 16.0)
    else:
        offset, scale = xa.mean(axis=0), xa.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)        # constant features stay at 0
    ds = Dataset(Path(name).stem if Path(name).suffix else name, xa, ya, xb, yb, n_classes,
                 offset, scale)
    ds.x_train, ds.x_test = ds.transform(xa), ds.transform(xb)
    return ds
