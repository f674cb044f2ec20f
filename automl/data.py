"""Datasets, dataset loaders and the train/validation/test split.

A trainer only ever receives :class:`TrialData` (train and validation); the test split stays
with the engine, which evaluates the top trials on it once the search is over.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from automl.errors import DataError
from automl.schema import InputSchema

Task = Literal["classification", "regression"]


@dataclass(frozen=True)
class Dataset:
    """A whole dataset in memory.

    ``x`` is float32 with one row per sample: ``(n, features)`` for tabular data or
    ``(n, channels, height, width)`` for images. ``y`` holds class indices ``0..k-1``
    (int64) for classification, float targets for regression.
    """

    name: str
    x: np.ndarray
    y: np.ndarray
    task: Task
    feature_names: tuple[str, ...] = ()
    class_names: tuple[str, ...] = ()
    # how raw input becomes ``x`` (a table's columns and categories, or an array's shape)
    # and class indices become labels; None: read off the arrays (InputSchema.of_dataset)
    schema: InputSchema | None = None

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise DataError(f"dataset {self.name!r}: {len(self.x)} rows of x, "
                            f"{len(self.y)} of y")
        if len(self.x) == 0:
            raise DataError(f"dataset {self.name!r} is empty")
        if self.task not in ("classification", "regression"):
            raise DataError(f"dataset {self.name!r}: task must be classification or regression")

    @property
    def n_outputs(self) -> int:
        """Number of classes for classification, 1 for regression."""
        if self.task == "regression":
            return 1
        return len(self.class_names) or int(self.y.max()) + 1


@dataclass(frozen=True)
class DatasetLoader:
    """What a dataset plugin registers: a name and a function returning a :class:`Dataset`.

    ``load`` receives the spec's ``dataset`` mapping without ``name`` as keyword arguments.
    """

    name: str
    load: Callable[..., Dataset]
    description: str = ""


@dataclass(frozen=True)
class Split:
    """One part of a dataset: features and targets."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


class HeldOutSplit(Split):
    """The test split: a :class:`Split` that counts reads of its data.

    The engine promises that the search never sees the test split; ``reads`` (how many
    times ``x`` or ``y`` was taken) lets tests and reports check that promise instead of
    trusting it. ``len()`` is not a read: the split's size is public.
    """

    reads: int

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        # Not the dataclass __init__: x and y are properties here, held privately.
        object.__setattr__(self, "_x", x)
        object.__setattr__(self, "_y", y)
        object.__setattr__(self, "reads", 0)

    def _read(self, value: np.ndarray) -> np.ndarray:
        object.__setattr__(self, "reads", self.reads + 1)
        return value

    @property  # type: ignore[override]
    def x(self) -> np.ndarray:
        return self._read(self._x)

    @property  # type: ignore[override]
    def y(self) -> np.ndarray:
        return self._read(self._y)

    def __len__(self) -> int:
        return len(self._y)

    def __repr__(self) -> str:
        return f"HeldOutSplit(n={len(self)}, reads={self.reads})"


def concat_splits(*splits: Split) -> Split:
    """One split with the rows of ``splits`` in order (train + val for a refit)."""
    return Split(x=np.concatenate([s.x for s in splits]), y=np.concatenate([s.y for s in splits]))


@dataclass(frozen=True)
class DataInfo:
    """What a trainer needs to know about the data to build a model."""

    name: str
    task: Task
    input_shape: tuple[int, ...]
    n_outputs: int
    class_names: tuple[str, ...] = ()
    feature_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrialData:
    """The data a trainer sees in a trial: train and validation, never test."""

    info: DataInfo
    train: Split
    val: Split


@dataclass(frozen=True)
class DataSplits:
    """The engine's three-way split. ``test`` is ``None`` when the spec asks for no test set."""

    info: DataInfo
    train: Split
    val: Split
    test: Split | None = field(default=None, repr=False)
    schema: InputSchema | None = field(default=None, repr=False)  # the dataset's

    def for_trial(self) -> TrialData:
        """The view handed to trainers, without the test split."""
        return TrialData(info=self.info, train=self.train, val=self.val)

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val),
                "test": len(self.test) if self.test is not None else 0}


def make_splits(dataset: Dataset, *, val: float, test: float, seed: int,
                stratify: bool) -> DataSplits:
    """Split ``dataset`` into train/val/test with fixed ``seed`` (stratified for classification)."""
    from sklearn.model_selection import train_test_split  # 1.4 s to import: only here

    classification = dataset.task == "classification"
    if classification:
        _, counts = np.unique(dataset.y, return_counts=True)
        if stratify and counts.min() < 3:
            raise DataError(
                f"dataset {dataset.name!r}: a class has only {counts.min()} sample(s); "
                "a stratified train/val/test split needs at least 3 per class"
            )
    idx = np.arange(len(dataset.y))
    strat = dataset.y if (classification and stratify) else None
    try:
        if test > 0:
            rest, test_idx = train_test_split(idx, test_size=test, random_state=seed,
                                              stratify=strat)
        else:
            rest, test_idx = idx, None
        strat_rest = dataset.y[rest] if strat is not None else None
        train_idx, val_idx = train_test_split(rest, test_size=val / (1.0 - test),
                                              random_state=seed, stratify=strat_rest)
    except ValueError as exc:
        raise DataError(f"dataset {dataset.name!r} cannot be split as asked: {exc}") from exc

    def part(i: np.ndarray) -> Split:
        return Split(x=dataset.x[i], y=dataset.y[i])

    info = DataInfo(
        name=dataset.name,
        task=dataset.task,
        input_shape=tuple(int(d) for d in dataset.x.shape[1:]),
        n_outputs=dataset.n_outputs,
        class_names=dataset.class_names,
        feature_names=dataset.feature_names,
    )
    test_split = None
    if test_idx is not None:
        test_split = HeldOutSplit(x=dataset.x[test_idx], y=dataset.y[test_idx])
    return DataSplits(info=info, train=part(train_idx), val=part(val_idx), test=test_split,
                      schema=InputSchema.of_dataset(dataset))
