"""The ``mlflow`` tracker: an automl search run, its trials and their epochs in MLflow.

One parent run per search run (named after the study) and one nested child run per trial
(``trial-N``). Everything goes through an explicit :class:`mlflow.tracking.MlflowClient`
and run ids: several trials run at once, so MLflow's global "active run" cannot be used,
and nothing is left active in the process after the search.

Spec::

    tracking: [{name: mlflow, uri: sqlite:///mlflow.db, experiment: my-experiment}]

``uri`` defaults to ``file:<report dir>/mlruns``, ``experiment`` to the study's name.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl.errors import UsageError
from automl.plugin import (
    RegisterTracker,
    Tracker,
    TrackerPlugin,
    TrackingContext,
    check_options,
    hookimpl,
)
from automl.plugin import flatten_params as flatten

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

__all__ = ["OPTIONS", "MlflowTracker", "flatten", "open_tracker", "register_trackers"]

#: The options a spec's ``tracking: [{name: mlflow, ...}]`` entry takes.
OPTIONS = ("uri", "experiment")

# MLflow's status per trial state; a run still open when the tracker closes was cut short.
_STATUS = {"complete": "FINISHED", "pruned": "KILLED", "failed": "FAILED"}
# MLflow's log_batch limits (100 params, 100 tags, 1000 entries in all per call) and
# value sizes.
_BATCH_METRICS, _BATCH_PARAMS, _BATCH_TAGS = 800, 100, 100
_PARAM_CHARS, _TAG_CHARS = 6000, 5000


def _number(value: Any) -> float | None:
    """``value`` as a finite float, or ``None`` (MLflow rejects NaN on some stores, and a
    string or a missing metric is no metric)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _now_ms() -> int:
    return int(time.time() * 1000)


class MlflowTracker(Tracker):
    """Sends a search run to MLflow (see the module docstring).

    Args:
        client: the client of the tracking store.
        experiment_id: the experiment the runs go to.
        ctx: the search being tracked.
    """

    def __init__(self, client: MlflowClient, experiment_id: str, ctx: TrackingContext) -> None:
        self.client = client
        self.experiment_id = experiment_id
        self.ctx = ctx
        self._trials: dict[int, str] = {}  # trial number -> its open child run's id
        self._run_ids: dict[int, str] = {}  # every child run of this search run, by trial
        self._status: str | None = None  # the parent's status once the study finished
        objectives = ctx.objectives
        if len(objectives) == 1:
            params = {"objective.metric": objectives[0][0],
                      "objective.direction": objectives[0][1]}
        else:
            params = {}
            for i, (metric, direction) in enumerate(objectives):
                params[f"objective.{i}.metric"] = metric
                params[f"objective.{i}.direction"] = direction
        if ctx.trainers:
            params["trainer"] = ",".join(ctx.trainers)
        run = client.create_run(experiment_id, run_name=ctx.study_name,
                                tags={"automl.study": ctx.study_name})
        self.parent_id: str = run.info.run_id
        self._log(self.parent_id, params=params)
        if ctx.spec:
            client.log_text(self.parent_id, json.dumps(ctx.spec, indent=2, default=str),
                            "spec.json")

    # -- the Tracker events ------------------------------------------------------------------
    def trial_started(self, number: int, params: Mapping[str, Any]) -> None:
        """A child run ``trial-N`` under the parent, with the trial's flattened params."""
        run_id = self._child(number)
        self._log(run_id, params=flatten(params))

    def epoch_finished(self, number: int, epoch: int, metrics: Mapping[str, float]) -> None:
        """The epoch's metrics at ``step=epoch``; with folds, as ``fold_K/<metric>``."""
        run_id = self._child(number)
        fold = metrics.get("fold")
        prefix = f"fold_{int(fold)}/" if _number(fold) is not None else ""
        values = {f"{prefix}{k}": v for k, v in metrics.items() if k not in ("fold", "epoch")}
        self._log(run_id, metrics=values, step=epoch)

    def trial_finished(self, number: int, state: str, values: list[float] | None,
                       attrs: Mapping[str, Any]) -> None:
        """The best epoch's metrics (``final/<metric>``), the objective values, the trial's
        outcome as tags, and the child run ended with the state's status."""
        run_id = self._child(number, attrs.get("params"))
        metrics = {f"final/{k}": v for k, v in (attrs.get("metrics") or {}).items()}
        for (metric, _), value in zip(self.ctx.objectives, values or (), strict=False):
            metrics[f"objective/{metric}"] = value
        tags = {"state": state, "stop_reason": attrs.get("stop_reason"),
                "device": attrs.get("device"), "best_epoch": attrs.get("best_epoch")}
        if attrs.get("error"):
            tags["error"] = attrs["error"]
        self._log(run_id, metrics=metrics, tags=tags, step=_step(attrs.get("best_epoch")))
        self.client.set_terminated(run_id, _STATUS.get(state, "FINISHED"))
        del self._trials[number]

    def study_finished(self, n_trials: int, best: Mapping[str, Any] | None, reason: str,
                       best_dir: Path | None) -> None:
        """The best trial's metrics and number on the parent, and ``best/`` as its
        ``best_model`` artifacts."""
        tags: dict[str, Any] = {"automl.reason": reason, "automl.n_trials": n_trials}
        metrics: dict[str, Any] = {}
        if best:
            number = best.get("number")
            tags["best_trial"] = number
            if number in self._run_ids:
                tags["best_run_id"] = self._run_ids[number]
            metrics = dict(best.get("metrics") or {})
        self._log(self.parent_id, metrics=metrics, tags=tags)
        if best_dir is not None and Path(best_dir).is_dir():
            self.client.log_artifacts(self.parent_id, str(best_dir), "best_model")
        self._status = "KILLED" if reason == "interrupted" else "FINISHED"

    def close(self) -> None:
        """End the runs still open: trials cut short as ``KILLED``; the parent as the study
        ended, or ``FAILED`` when the search stopped before ``study_finished``."""
        for run_id in self._trials.values():
            self.client.set_terminated(run_id, "KILLED")
        self._trials.clear()
        self.client.set_terminated(self.parent_id, self._status or "FAILED")

    # -- helpers -----------------------------------------------------------------------------
    def _child(self, number: int, params: Mapping[str, Any] | None = None) -> str:
        """Trial ``number``'s open child run, made if it has none yet (a trial whose start
        this tracker did not see still gets its run, with ``params`` when known)."""
        run_id = self._trials.get(number)
        if run_id is None:
            run = self.client.create_run(
                self.experiment_id, run_name=f"trial-{number}",
                tags={"mlflow.parentRunId": self.parent_id, "automl.study": self.ctx.study_name,
                      "automl.trial": str(number)})
            run_id = self._trials[number] = self._run_ids[number] = run.info.run_id
            if params:
                self._log(run_id, params=flatten(params))
        return run_id

    def _log(self, run_id: str, metrics: Mapping[str, Any] | None = None,
             params: Mapping[str, Any] | None = None, tags: Mapping[str, Any] | None = None,
             step: int = 0) -> None:
        """One ``log_batch`` call (several past MLflow's per-call limits); metrics that are
        not finite numbers and tags that are ``None`` are left out."""
        from mlflow.entities import Metric, Param, RunTag

        now = _now_ms()
        metric_list = [Metric(str(k), v, now, step) for k, v in
                       ((k, _number(v)) for k, v in (metrics or {}).items()) if v is not None]
        param_list = [Param(str(k), str(v)[:_PARAM_CHARS]) for k, v in (params or {}).items()]
        tag_list = [RunTag(str(k), str(v)[:_TAG_CHARS]) for k, v in (tags or {}).items()
                    if v is not None]
        while metric_list or param_list or tag_list:
            self.client.log_batch(run_id, metrics=metric_list[:_BATCH_METRICS],
                                  params=param_list[:_BATCH_PARAMS], tags=tag_list[:_BATCH_TAGS])
            metric_list = metric_list[_BATCH_METRICS:]
            param_list = param_list[_BATCH_PARAMS:]
            tag_list = tag_list[_BATCH_TAGS:]


def _step(best_epoch: Any) -> int:
    return best_epoch if isinstance(best_epoch, int) and not isinstance(best_epoch, bool) else 0


def _option(options: Mapping[str, Any], key: str) -> str | None:
    value = options.get(key)
    if value is None:
        return None
    if not isinstance(value, str | Path) or not str(value).strip():
        raise UsageError(f"option {key!r} must be a non-empty string, got {value!r}")
    return str(value)


def _is_file_store(uri: str) -> bool:
    from urllib.parse import urlparse

    scheme = urlparse(uri).scheme
    # a Windows drive letter ("C:\\...") parses as a one-letter scheme: still a path
    return scheme in ("", "file") or len(scheme) == 1


def open_tracker(options: dict[str, Any], ctx: TrackingContext) -> MlflowTracker:
    """The ``mlflow`` tracker for one search run.

    Raises:
        UsageError: an unknown option or a bad value (the search stops with exit 2), or an
            experiment of that name that was deleted.
    """
    check_options(options, OPTIONS)
    uri = _option(options, "uri") or Path(ctx.report_dir, "mlruns").absolute().as_uri()
    experiment = _option(options, "experiment") or ctx.study_name
    if _is_file_store(uri):
        # MLflow 3 refuses its file store unless told it is wanted; a user's own setting
        # (even "false") wins. Older MLflow ignores the variable.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")

    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        try:
            experiment_id = client.create_experiment(experiment)
        except MlflowException:
            # made meanwhile by another search on the same store
            found = client.get_experiment_by_name(experiment)
            if found is None:
                raise
            experiment_id = found.experiment_id
    elif found.lifecycle_stage == "deleted":
        raise UsageError(f"MLflow experiment {experiment!r} was deleted in {uri}: restore it "
                         "or name another one with the 'experiment' option")
    else:
        experiment_id = found.experiment_id
    return MlflowTracker(client, experiment_id, ctx)


@hookimpl
def register_trackers(register: RegisterTracker) -> None:
    """Register the ``mlflow`` tracker."""
    register(TrackerPlugin("mlflow", open_tracker,
                           "MLflow: a parent run per search, a child run per trial"))
