"""The leaderboard: one row per trial, built from what the study stores."""

from __future__ import annotations

import re
from typing import Any

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from automl.studies import ATTR, RESULT, TEST_METRICS

STATES = {
    TrialState.COMPLETE: "complete",
    TrialState.PRUNED: "pruned",
    TrialState.FAIL: "failed",
    TrialState.RUNNING: "running",
}

_INDEX = re.compile(r"\.(\d+)\.")


def objectives(study: optuna.Study) -> list[dict[str, str]]:
    """The study's objectives as ``[{metric, direction}]`` (``value`` when automl did not
    create the study)."""
    stored = study.user_attrs.get(ATTR, {}).get("objectives")
    if stored:
        return list(stored)
    names = ["value"] if len(study.directions) == 1 else [
        f"value_{i}" for i in range(len(study.directions))]
    return [{"metric": n, "direction": d.name.lower()} for n, d in zip(names, study.directions)]


def _param_order(names: list[str]) -> list[str]:
    first: dict[str, int] = {}
    for name in names:
        first.setdefault(_INDEX.sub(".*.", name), len(first))

    def key(name: str) -> tuple[int, tuple[int, ...]]:
        return first[_INDEX.sub(".*.", name)], tuple(int(i) for i in _INDEX.findall(name))

    return sorted(names, key=key)


def _metric_order(keys: set[str], prefix: str) -> list[str]:
    preferred = ["loss", "accuracy", "balanced_accuracy", "f1_macro", "log_loss", "rmse",
                 "mae", "r2"]
    mine = [k for k in keys if k.startswith(prefix)]
    return sorted(mine, key=lambda k: (preferred.index(k[len(prefix):])
                                       if k[len(prefix):] in preferred else 99, k))


def leaderboard_frame(study: optuna.Study) -> pd.DataFrame:
    """The leaderboard of ``study`` as a DataFrame, best first.

    Columns, in this order: ``rank`` (complete trials only), ``trial``, ``state``, the
    objective metric(s), the flattened params, ``epochs``, ``best_epoch``,
    ``stop_reason``, ``train_*`` and ``val_*`` metrics at the best epoch, ``gap``
    (val_loss - train_loss there), ``duration_s``, ``device``, ``n_params``, ``test_*``
    (top K only) and ``error``.
    """
    objs = objectives(study)
    obj_names = [o["metric"] for o in objs]
    test = study.user_attrs.get(TEST_METRICS, {})
    trials = [t for t in study.get_trials(deepcopy=False) if t.state in STATES]
    rows: list[dict[str, Any]] = []
    param_names: list[str] = []
    metric_keys: set[str] = set()
    test_keys: set[str] = set()
    for t in trials:
        rows.append(_row(t, obj_names, test.get(str(t.number), {})))
        param_names += [p for p in t.params if p not in param_names]
        metric_keys |= set(t.user_attrs.get(RESULT, {}).get("metrics", {}))
        test_keys |= {f"test_{k}" for k in test.get(str(t.number), {})}
    train_cols = _metric_order(metric_keys, "train_")
    val_cols = _metric_order(metric_keys, "val_")
    columns = (["rank", "trial", "state", *obj_names, *_param_order(param_names),
                "epochs", "best_epoch", "stop_reason"]
               + [c for c in train_cols + val_cols if c not in obj_names]
               + ["gap", "duration_s", "device", "n_params"]
               + _metric_order(test_keys, "test_") + ["error"])
    frame = pd.DataFrame(rows, columns=columns)
    return _rank(frame, objs)


def _row(t: FrozenTrial, obj_names: list[str], test: dict[str, float]) -> dict[str, Any]:
    res = t.user_attrs.get(RESULT, {})
    metrics = res.get("metrics", {})
    row: dict[str, Any] = {"trial": t.number, "state": STATES[t.state]}
    for i, name in enumerate(obj_names):
        row[name] = t.values[i] if t.values is not None else metrics.get(name)
    row.update(t.params)
    row.update({k: v for k, v in metrics.items()
                if k.startswith(("train_", "val_")) and k not in obj_names})
    if "val_loss" in metrics and "train_loss" in metrics:
        row["gap"] = metrics["val_loss"] - metrics["train_loss"]
    row["epochs"] = res.get("epochs")
    row["best_epoch"] = res.get("best_epoch")
    row["stop_reason"] = res.get("stop_reason", "interrupted" if t.state == TrialState.RUNNING
                                 else None)
    row["duration_s"] = res.get("duration_s")
    row["device"] = res.get("device")
    row["n_params"] = metrics.get("n_params")
    row.update({f"test_{k}": v for k, v in test.items()})
    row["error"] = res.get("error")
    return row


def _rank(frame: pd.DataFrame, objs: list[dict[str, str]]) -> pd.DataFrame:
    first = objs[0]
    ascending = first["direction"] == "minimize"
    order = {"complete": 0, "pruned": 1, "running": 2, "failed": 3}
    frame = frame.assign(_group=frame["state"].map(order))
    frame = frame.sort_values(["_group", first["metric"], "trial"],
                              ascending=[True, ascending, True], na_position="last",
                              kind="stable").drop(columns="_group")
    complete = (frame["state"] == "complete").to_numpy()
    ranks = pd.array([pd.NA] * len(frame), dtype="Int64")
    ranks[complete] = range(1, int(complete.sum()) + 1)
    frame["rank"] = ranks
    for col in ("trial",):
        frame[col] = frame[col].astype("int64")
    for col in ("epochs", "best_epoch", "n_params"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("Int64")
    for col in ("state", "stop_reason", "device", "error"):
        frame[col] = frame[col].astype("string")
    return frame.reset_index(drop=True)


def top_k_numbers(study: optuna.Study, k: int) -> list[int]:
    """Numbers of the best ``k`` complete trials (by the first objective)."""
    objs = objectives(study)
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                if t.values is not None]
    sign = 1.0 if objs[0]["direction"] == "minimize" else -1.0
    complete.sort(key=lambda t: (sign * t.values[0], t.number))
    return [t.number for t in complete[:k]]
