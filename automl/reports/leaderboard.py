"""The leaderboard: one row per trial, built from what the study stores."""

from __future__ import annotations

import re
from typing import Any

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from automl.plugin.trainer import StopReason
from automl.engine.keys import ENSEMBLE, REFIT, STUDY_RECORD, TRIAL_RESULT, stored_test_metrics

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
    stored = study.user_attrs.get(STUDY_RECORD, {}).get("objectives")
    if stored:
        return list(stored)
    names = ["value"] if len(study.directions) == 1 else [
        f"value_{i}" for i in range(len(study.directions))]
    return [{"metric": n, "direction": d.name.lower()} for n, d in
            zip(names, study.directions, strict=True)]


def test_metrics(study: optuna.Study) -> dict[str, dict[str, float]]:
    """Test metrics of the trials that have them (the top K), by trial number as text."""
    return {str(n): m for n, m in stored_test_metrics(study.user_attrs).items()}


def _refit_test(study: optuna.Study) -> dict[str, Any]:
    """The refit's trial number and its ``refit_test_*`` metrics, or ``{}``."""
    record = study.user_attrs.get(REFIT) or {}
    metrics = {k: v for k, v in record.get("metrics", {}).items()
               if k.startswith("refit_test_")}
    return {"trial": record.get("trial"), "metrics": metrics} if metrics else {}


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
    (val_loss - train_loss there), ``duration_s``, ``device``, ``n_params``,
    ``latency_ms`` (one sample's forward pass, where the trainer measures it), ``test_*``
    (top K only), ``refit_test_*`` (the best trial, with ``report.refit``) and ``error``.
    """
    objs = objectives(study)
    obj_names = [o["metric"] for o in objs]
    test = test_metrics(study)
    refit = _refit_test(study)
    trials = [t for t in study.get_trials(deepcopy=False) if t.state in STATES]
    rows: list[dict[str, Any]] = []
    param_names: list[str] = []
    metric_keys: set[str] = set()
    test_keys: set[str] = set()
    for t in trials:
        rows.append(_row(t, obj_names, test.get(str(t.number), {})))
        if t.number == refit.get("trial"):
            rows[-1].update(refit["metrics"])
        param_names += [p for p in t.params if p not in param_names]
        metric_keys |= set(t.user_attrs.get(TRIAL_RESULT, {}).get("metrics", {}))
        test_keys |= {f"test_{k}" for k in test.get(str(t.number), {})}
    train_cols = _metric_order(metric_keys, "train_")
    val_cols = _metric_order(metric_keys, "val_")
    extra = []
    if any("feasible" in r for r in rows):
        extra.append("feasible")
    if len(objs) > 1:
        extra += ["pareto_rank", "pareto"]
    columns = (["rank", "trial", "state", *obj_names, *extra, *_param_order(param_names),
                "epochs", "best_epoch", "stop_reason"]
               + [c for c in train_cols + val_cols if c not in obj_names]
               + ["gap", "duration_s", "device", "n_params", "latency_ms"]
               + _metric_order(test_keys, "test_")
               + ["refit_" + k for k in _metric_order(
                   {k.removeprefix("refit_") for k in refit.get("metrics", {})}, "test_")]
               + ["error"])
    # An engine metric may be an objective too (n_params): one column each.
    frame = pd.DataFrame(rows, columns=list(dict.fromkeys(columns)))
    return with_ensemble(_rank(frame, objs), study, objs)


def with_ensemble(frame: pd.DataFrame, study: optuna.Study,
                  objs: list[dict[str, str]]) -> pd.DataFrame:
    """``frame`` with the study's ensemble (when it has one) as a row of its own, where its
    objective value places it among the complete trials: ``trainer`` "ensemble",
    ``state`` "ensemble", no rank and no trial number, its members as ``trial:weight``.
    """
    record = study.user_attrs.get(ENSEMBLE)
    if not record or len(objs) != 1:
        return frame
    metric, maximize = objs[0]["metric"], objs[0]["direction"] == "maximize"
    row: dict[str, Any] = {**record.get("val", {}), **record.get("test", {}),
                           metric: record.get("value"), "trainer": "ensemble",
                           "state": "ensemble", "stop_reason": "ensemble",
                           "members": " ".join(f"{m['trial']}:{m['weight']:.3g}"
                                               for m in record.get("members", [])),
                           "duration_s": record.get("duration_s")}
    row = {k: v for k, v in row.items() if k in frame.columns or k in ("trainer", "members")}
    values = pd.to_numeric(frame[metric], errors="coerce")
    complete = (frame["state"] == "complete").to_numpy()
    value = row[metric]
    worse = (values < value) if maximize else (values > value)
    after = [i for i in range(len(frame)) if not complete[i] or bool(worse.iloc[i])]
    at = after[0] if after else len(frame)
    frame = frame.copy()
    frame["trial"] = frame["trial"].astype("Int64")
    if "members" not in frame.columns:
        frame.insert(frame.columns.get_loc("trial") + 1, "members", pd.NA)
        frame["members"] = frame["members"].astype("string")
    if "trainer" not in frame.columns:
        frame.insert(frame.columns.get_loc(metric) + 1, "trainer", pd.NA)
    line = pd.DataFrame([row], columns=frame.columns)
    out = pd.concat([frame.iloc[:at], line, frame.iloc[at:]], ignore_index=True)
    for col, dtype in frame.dtypes.items():  # concat with an all-NA column loosens dtypes
        try:
            out[col] = out[col].astype(dtype)
        except (TypeError, ValueError):
            pass
    return out


def _row(t: FrozenTrial, obj_names: list[str], test: dict[str, float]) -> dict[str, Any]:
    res = t.user_attrs.get(TRIAL_RESULT, {})
    metrics = res.get("metrics", {})
    row: dict[str, Any] = {"trial": t.number, "state": STATES[t.state]}
    for i, name in enumerate(obj_names):
        row[name] = t.values[i] if t.values is not None else metrics.get(name)
    row.update(t.params)
    row.update({k: v for k, v in metrics.items()
                if k.startswith(("train_", "val_")) and k not in obj_names})
    if "val_loss" in metrics and "train_loss" in metrics:
        row["gap"] = metrics["val_loss"] - metrics["train_loss"]
    if "feasible" in res:
        row["feasible"] = bool(res["feasible"])
    row["epochs"] = res.get("epochs")
    row["best_epoch"] = res.get("best_epoch")
    # A trial with no automl result never reported back: still running, or its process died
    # (a heartbeat failed it as stale, and its params were retried).
    row["stop_reason"] = res.get("stop_reason", "running" if t.state == TrialState.RUNNING
                                 else StopReason.INTERRUPTED.value)
    row["duration_s"] = res.get("duration_s")
    row["device"] = res.get("device")
    row.setdefault("n_params", metrics.get("n_params"))
    row.setdefault("latency_ms", metrics.get("latency_ms"))
    row.update({f"test_{k}": v for k, v in test.items()})
    row["error"] = res.get("error") if res or t.state != TrialState.FAIL else \
        "its process stopped sending heartbeats (killed?); the params were retried"
    return row


def _rank(frame: pd.DataFrame, objs: list[dict[str, str]]) -> pd.DataFrame:
    """Sort best first and number the complete trials.

    One objective: by its value. Several: by non-dominated (Pareto) rank among the
    feasible complete trials, then by the first objective. Infeasible trials come after
    the feasible ones; pruned, running and failed trials after all complete ones.
    """
    first = objs[0]
    order = {"complete": 0, "pruned": 1, "running": 2, "failed": 3}
    keys = ["_group"]
    frame = frame.assign(_group=frame["state"].map(order))
    if "feasible" in frame.columns:
        frame["feasible"] = frame["feasible"].astype("boolean")
        frame["_infeasible"] = ~frame["feasible"].fillna(False)
        keys.append("_infeasible")
    if len(objs) > 1:
        frame["pareto_rank"] = pd.array(_pareto_ranks(frame, objs), dtype="Int64")
        frame["pareto"] = (frame["pareto_rank"] == 1).fillna(False).astype("boolean")
        keys.append("pareto_rank")
    ascending = [True] * len(keys) + [first["direction"] == "minimize", True]
    frame = frame.sort_values(keys + [first["metric"], "trial"], ascending=ascending,
                              na_position="last", kind="stable")
    frame = frame.drop(columns=[c for c in ("_group", "_infeasible") if c in frame.columns])
    complete = (frame["state"] == "complete").to_numpy()
    ranks = pd.array([pd.NA] * len(frame), dtype="Int64")
    ranks[complete] = range(1, int(complete.sum()) + 1)
    frame["rank"] = ranks
    frame["trial"] = frame["trial"].astype("int64")
    for col in ("epochs", "best_epoch", "n_params"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("Int64")
    for col in ("state", "stop_reason", "device", "error"):
        frame[col] = frame[col].astype("string")
    return frame.reset_index(drop=True)


def _pareto_ranks(frame: pd.DataFrame, objs: list[dict[str, str]]) -> list[int | None]:
    """Non-dominated sorting of the feasible complete trials (1 = the Pareto front)."""
    eligible = (frame["state"] == "complete").to_numpy()
    if "feasible" in frame.columns:
        eligible &= frame["feasible"].fillna(False).to_numpy(dtype=bool)
    signs = [1.0 if o["direction"] == "minimize" else -1.0 for o in objs]
    points = {i: tuple(s * float(frame.iloc[i][o["metric"]]) for s, o in zip(signs, objs,
                                                                              strict=True))
              for i in range(len(frame)) if eligible[i]}
    ranks: list[int | None] = [None] * len(frame)
    remaining, level = dict(points), 1
    while remaining:
        front = [i for i, p in remaining.items()
                 if not any(_dominates(q, p) for j, q in remaining.items() if j != i)]
        for i in front:
            ranks[i] = level
            del remaining[i]
        level += 1
    return ranks


def _dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """``a`` is no worse than ``b`` everywhere and better somewhere (all minimized)."""
    return all(x <= y for x, y in zip(a, b, strict=True)) and a != b


def top_numbers(frame: pd.DataFrame, k: int) -> list[int]:
    """Numbers of the first ``k`` complete trials of a leaderboard frame."""
    return [int(n) for n in frame.loc[frame["state"] == "complete", "trial"].head(k)]
