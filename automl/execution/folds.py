"""Cross-validation folds (``split: {folds: K}``): the rows the search may learn from (the
training and validation splits together; never the test split) cut into K folds, stratified
for classification, the same in every process (seeded)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from automl.data import DataSplits, Split, TrialData, concat_splits

__all__ = ["Fold", "fold_count", "fold_data", "oof_path", "pool_targets"]


def fold_count(spec: Any, splits: DataSplits) -> int | None:
    """How many folds each trial of ``spec`` trains on these splits (``None``: none):
    ``split.folds``, with ``auto`` decided by the rows of train + val."""
    return spec.split.fold_count(len(splits.train) + len(splits.val))


@dataclass(frozen=True)
class Fold:
    """One fold: its data, and the positions of its validation rows in train + val."""

    data: TrialData
    val_rows: np.ndarray


def oof_path(checkpoint: Path) -> Path:
    """Where a cross-validated trial keeps its out-of-fold predictions, beside its
    checkpoint: one row per row of train + val, each predicted by the fold model that did
    not train on it (what the ensemble is selected on)."""
    return checkpoint.with_name(checkpoint.stem + ".oof.npy")


def pool_targets(splits: DataSplits) -> np.ndarray:
    """The targets of train + val, in the order of the out-of-fold predictions."""
    return np.asarray(concat_splits(splits.train, splits.val).y)


def fold_data(splits: DataSplits, folds: int, seed: int, stratify: bool) -> list[Fold]:
    """K train/validation views of ``splits.train + splits.val``: fold ``k`` validates on
    the ``k``-th part and trains on the others."""
    from sklearn.model_selection import KFold, StratifiedKFold

    pool = concat_splits(splits.train, splits.val)
    y = np.asarray(pool.y)
    classify = splits.info.task == "classification"
    if classify and stratify and np.bincount(y.astype(np.int64)).max(initial=0) >= folds:
        counts = np.bincount(y.astype(np.int64))
        # StratifiedKFold warns and degrades for a class rarer than K; plain folds then.
        splitter = (StratifiedKFold(folds, shuffle=True, random_state=seed)
                    if counts[counts > 0].min() >= folds
                    else KFold(folds, shuffle=True, random_state=seed))
    else:
        splitter = KFold(folds, shuffle=True, random_state=seed)
    out = []
    for train_idx, val_idx in splitter.split(np.zeros(len(y)), y if classify else None):
        out.append(Fold(TrialData(info=splits.info,
                                   train=Split(pool.x[train_idx], pool.y[train_idx]),
                                   val=Split(pool.x[val_idx], pool.y[val_idx])),
                         np.asarray(val_idx)))
    return out
