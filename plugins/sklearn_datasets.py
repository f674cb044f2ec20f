"""The datasets scikit-learn bundles (no download): digits, iris, wine, breast_cancer, diabetes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from automl.plugin import (
    DataError,
    Dataset,
    DatasetLoader,
    InputSchema,
    RegisterDataset,
    hookimpl,
)


def _bundled(loader: str) -> Callable[..., Any]:
    """scikit-learn's ``loader`` (``load_iris``...), imported when a dataset is loaded
    rather than when the plugin is: scikit-learn takes over a second to import."""
    from sklearn import datasets

    return getattr(datasets, loader)


def _no_args(name: str, args: dict[str, Any]) -> None:
    if args:
        raise DataError(f"dataset {name!r} takes no arguments; got {', '.join(sorted(args))}")


def load_digits(**args: Any) -> Dataset:
    """1,797 handwritten digits as 1x8x8 images scaled to [0, 1] (10 classes)."""
    _no_args("digits", args)
    bunch = _bundled("load_digits")()
    x = (bunch.images.astype(np.float32) / 16.0)[:, None, :, :]
    classes = tuple(str(c) for c in bunch.target_names)
    # New data comes as scikit-learn gives it: 64 pixel columns (pixel_0_0, ...) of 0..16.
    schema = InputSchema.of_info(task="classification", input_shape=x.shape[1:],
                                 n_outputs=len(classes), class_names=classes,
                                 feature_names=bunch.feature_names, target="target",
                                 scale=1 / 16.0)
    return Dataset(name="digits", x=x, y=bunch.target.astype(np.int64),
                   task="classification", class_names=classes, schema=schema)


def _tabular(name: str, loader: str, task: str) -> Callable[..., Dataset]:
    def load(**args: Any) -> Dataset:
        _no_args(name, args)
        bunch = _bundled(loader)()
        y = bunch.target.astype(np.int64 if task == "classification" else np.float32)
        classes = tuple(str(c) for c in getattr(bunch, "target_names", ())) \
            if task == "classification" else ()
        names = tuple(str(f) for f in bunch.feature_names)
        # "target": the column of scikit-learn's own frames (as_frame=True), left out.
        schema = InputSchema.of_info(task=task, input_shape=bunch.data.shape[1:],
                                     n_outputs=len(classes) or 1, class_names=classes,
                                     feature_names=names, target="target")
        return Dataset(name=name, x=bunch.data.astype(np.float32), y=y, task=task,  # type: ignore[arg-type]
                       feature_names=names, class_names=classes, schema=schema)

    load.__doc__ = f"scikit-learn's bundled {name} dataset ({task})."
    return load


LOADERS = [
    DatasetLoader("digits", load_digits, "1,797 8x8 handwritten digits, as 1x8x8 images"),
    DatasetLoader("iris", _tabular("iris", "load_iris", "classification"),
                  "150 iris flowers, 4 features, 3 classes"),
    DatasetLoader("wine", _tabular("wine", "load_wine", "classification"),
                  "178 wines, 13 features, 3 classes"),
    DatasetLoader("breast_cancer", _tabular("breast_cancer", "load_breast_cancer",
                                            "classification"),
                  "569 tumours, 30 features, 2 classes"),
    DatasetLoader("diabetes", _tabular("diabetes", "load_diabetes", "regression"),
                  "442 patients, 10 features, regression target"),
]


@hookimpl
def register_datasets(register: RegisterDataset) -> None:
    for loader in LOADERS:
        register(loader)
