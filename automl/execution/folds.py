"""Cross-validation folds (``split: {folds: K}``): the rows the search may learn from (the
training and validation splits together; never the test split) cut into K folds, stratified
for classification, the same in every process (seeded)."""

from __future__ import annotations

import numpy as np

from automl.data import DataSplits, Split, TrialData, concat_splits

__all__ = ["fold_data"]


def fold_data(splits: DataSplits, folds: int, seed: int, stratify: bool) -> list[TrialData]:
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
        out.append(TrialData(info=splits.info,
                             train=Split(pool.x[train_idx], pool.y[train_idx]),
                             val=Split(pool.x[val_idx], pool.y[val_idx])))
    return out
