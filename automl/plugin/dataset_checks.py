"""The contract check of dataset loaders (:func:`check_dataset`), one of
:mod:`automl.plugin.testing`'s checks."""

from __future__ import annotations

from typing import Any

import numpy as np

from automl.data import Dataset, DatasetLoader, make_splits
from automl.errors import ContractError

__all__ = ["check_dataset"]


def _fail(what: str, message: str) -> ContractError:
    return ContractError(f"{what}: {message}")


def check_dataset(loader: DatasetLoader | Dataset, /, **args: Any) -> Dataset:
    """Load a dataset (``loader.load(**args)``) and check what the engine relies on.

    ``x`` is a float32 array with one row per sample (``NaN`` marks a missing value,
    infinities are refused); ``y`` holds class indices ``0..k-1`` (int64) for
    classification, finite floats for regression; names match the columns and classes;
    loading twice gives the same data; and the engine's split is reproducible, covers
    every row once, and keeps every class in the training split. Returns the dataset.
    """
    if isinstance(loader, DatasetLoader):
        what = f"dataset loader {loader.name!r}"
        if not isinstance(loader.name, str) or not loader.name:
            raise _fail(what, "name must be a non-empty string")
        ds = loader.load(**args)
        if not isinstance(ds, Dataset):
            raise _fail(what, f"load() returned a {type(ds).__name__}, not automl.plugin.Dataset")
        again = loader.load(**args)
        if not (np.array_equal(ds.x, again.x, equal_nan=True) and np.array_equal(ds.y, again.y)):
            raise _fail(what, "two loads with the same arguments gave different data")
    elif isinstance(loader, Dataset):
        ds, what = loader, f"dataset {loader.name!r}"
    else:
        raise TypeError(f"expected a DatasetLoader or a Dataset, got {type(loader).__name__}")
    _check_arrays(ds, what)
    _check_splits(ds, what)
    return ds


def _check_arrays(ds: Dataset, what: str) -> None:
    x, y = ds.x, ds.y
    if not isinstance(x, np.ndarray) or x.dtype != np.float32 or x.ndim < 2:
        raise _fail(what, f"x must be a float32 array of shape (n, ...) with ndim >= 2, got "
                          f"{getattr(x, 'dtype', type(x).__name__)} {getattr(x, 'shape', '')}")
    if np.isinf(x).any():
        raise _fail(what, "x holds infinite values")
    if not isinstance(y, np.ndarray) or y.ndim != 1:
        raise _fail(what, f"y must be a 1-D array, got shape {getattr(y, 'shape', None)}")
    if ds.feature_names and (x.ndim != 2 or len(ds.feature_names) != x.shape[1]):
        raise _fail(what, f"{len(ds.feature_names)} feature_names for x of shape {x.shape}")
    if ds.task == "classification":
        if y.dtype != np.int64:
            raise _fail(what, f"classification y must be int64 class indices, got {y.dtype}")
        k = ds.n_outputs
        if y.min() < 0 or y.max() >= k:
            raise _fail(what, f"class indices must lie in 0..{k - 1} ({len(ds.class_names)} "
                              f"class_names), got {y.min()}..{y.max()}")
        if len(np.unique(y)) < 2:
            raise _fail(what, "classification needs at least two classes")
    else:
        if not np.issubdtype(y.dtype, np.floating) or not np.isfinite(y).all():
            raise _fail(what, f"regression y must be finite floats, got {y.dtype}")


def _check_splits(ds: Dataset, what: str) -> None:
    classification = ds.task == "classification"
    a = make_splits(ds, val=0.2, test=0.2, seed=0, stratify=classification)
    b = make_splits(ds, val=0.2, test=0.2, seed=0, stratify=classification)
    parts = (("train", a.train, b.train), ("val", a.val, b.val), ("test", a.test, b.test))
    for name, p, q in parts:
        assert p is not None and q is not None
        if len(p) == 0:
            raise _fail(what, f"the {name} split is empty")
        if not (np.array_equal(p.x, q.x, equal_nan=True) and np.array_equal(p.y, q.y)):
            raise _fail(what, f"the {name} split differs between two splits with one seed")
    if sum(a.sizes().values()) != len(ds.y):
        raise _fail(what, f"splits hold {a.sizes()} rows, the dataset {len(ds.y)}")
    if classification and set(np.unique(a.train.y)) != set(np.unique(ds.y)):
        raise _fail(what, "a class is missing from the stratified training split")
    if a.info.input_shape != tuple(ds.x.shape[1:]):
        raise _fail(what, f"input_shape {a.info.input_shape} does not match x {ds.x.shape}")
