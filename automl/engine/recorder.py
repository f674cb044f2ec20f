"""Recording a trial's outcome in the study: one user attribute, its constraints, the tell,
the log line and the ``trial_finished`` hook."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.trial import TrialState

from automl.engine.components import violations
from automl.engine.keys import TRIAL_RESULT, warm_start_attrs
from automl.engine.observers import Observers
from automl.engine.outcome import TrialOutcome
from automl.engine.running import RunningTrial
from automl.engine.study_artifacts import ArtifactUploads
from automl.engine.trials import best_trial
from automl.log import get_logger
from automl.plugin.host import PluginHost
from automl.plugin.trainer import StopReason
from automl.spec import ConstraintSpec

__all__ = ["FLAT_KEYS", "TrialRecorder", "flat_attrs", "result_attr"]

logger = get_logger(__name__)

_TELL_STATE = {"complete": TrialState.COMPLETE, "pruned": TrialState.PRUNED,
               "failed": TrialState.FAIL}


def result_attr(params: dict[str, Any], o: TrialOutcome, device: str,
                constraints: Sequence[ConstraintSpec] = (), worker: int | None = None,
                seed: int | None = None) -> dict[str, Any]:
    """Everything automl records about a finished trial (the
    :data:`~automl.engine.keys.TRIAL_RESULT` attribute)."""
    extra: dict[str, Any] = {}
    if constraints:
        viol = violations(constraints, o.metrics)
        extra = {"constraints": [v if math.isfinite(v) else None for v in viol],
                 "feasible": all(v <= 0 for v in viol)}
    return {
        **extra,
        "params": params,
        "stop_reason": o.reason.value,
        "epochs": o.epochs,
        "best_epoch": o.best_epoch,
        "metrics": {k: v for k, v in o.metrics.items() if _finite(v)},
        "history": o.history,
        "duration_s": round(o.duration_s, 4),
        "device": device,
        "worker": worker,
        "seed": seed,
        "error": o.error,
    }


#: The flat user attributes of a trial, beside the full record (see :func:`flat_attrs`).
FLAT_KEYS = ("stop_reason", "epochs", "best_epoch", "gap", "device", "duration_s", "n_params")


def flat_attrs(result: dict[str, Any]) -> dict[str, Any]:
    """The scalars of a trial's record that viewers of a bare Optuna study show as columns:
    stop reason, epochs, best epoch, generalization gap (val loss - train loss at the best
    epoch), device, duration, parameter count, and the error of a failed trial (cut to
    500 characters: one line in a table, far under any storage's limit)."""
    metrics = result.get("metrics", {})
    out: dict[str, Any] = {k: result.get(k) for k in ("stop_reason", "epochs", "best_epoch",
                                                        "device", "duration_s")}
    if "val_loss" in metrics and "train_loss" in metrics:
        out["gap"] = round(float(metrics["val_loss"]) - float(metrics["train_loss"]), 6)
    if "n_params" in metrics:
        out["n_params"] = int(metrics["n_params"])
    if result.get("error"):
        out["error"] = str(result["error"])[:500]
    return {k: v for k, v in out.items() if v is not None and v != ""}


class TrialRecorder:
    """Writes trial outcomes to the study and tells observers about them."""

    def __init__(self, study: optuna.Study, host: PluginHost, objectives: Sequence[str],
                 constraints: Sequence[ConstraintSpec] = (),
                 observers: Observers | None = None,
                 uploads: ArtifactUploads | None = None) -> None:
        self.study = study
        self.host = host
        self.uploads = uploads
        self.observers = observers or Observers(host, study.study_name)
        self.objectives = list(objectives)
        self.constraints = list(constraints)

    def record(self, running: RunningTrial, outcome: TrialOutcome, device: str) -> None:
        """Store ``outcome`` and tell Optuna; an interrupted trial's params are enqueued
        again (it is retried when the study resumes), any other calls ``trial_finished``."""
        trial, study = running.trial, self.study
        result = result_attr(running.params, outcome, device, self.constraints,
                             running.worker, running.seed)
        # One write for everything automl records about a trial: storage calls cost ms each.
        trial.set_user_attr(TRIAL_RESULT, result)
        # ... and a few flat copies that a reader of the bare study (optuna-dashboard, a
        # pandas frame of study.trials_dataframe()) sees as plain columns.
        for key, value in flat_attrs(result).items():
            trial.set_user_attr(key, value)
        if self.uploads is not None and outcome.reason is not StopReason.INTERRUPTED:
            self.uploads.learning_curve(trial, outcome.history)
        # Constraint-aware samplers (tpe, nsga2, gp) read feasibility from the trial.
        for constraint, violation in zip(self.constraints,
                                         violations(self.constraints, outcome.metrics),
                                         strict=True):
            trial.set_constraint(str(constraint), violation)
        study.tell(trial, outcome.values if outcome.state == "complete" else None,
                   state=_TELL_STATE[outcome.state])
        if outcome.reason is StopReason.INTERRUPTED:
            study.enqueue_trial(dict(trial.params), user_attrs=warm_start_attrs(trial),
                                skip_if_exists=False)
            return
        self._log(trial.number, outcome)
        self.observers.trial_finished(trial.number, outcome.state, outcome.values, result)

    def record_interrupted(self, trials: Sequence[RunningTrial], now: float) -> None:
        """Record trials cut short by a second Ctrl-C (or an error in the controller) as
        interrupted, so they are retried; a failing write is left to the heartbeat."""
        for running in trials:
            sup = running.supervisor
            outcome = TrialOutcome(state="failed", reason=StopReason.INTERRUPTED,
                                   history=sup.history, best_epoch=sup.best_epoch,
                                   metrics=dict(sup.best_metrics),
                                   duration_s=now - running.started, error="interrupted")
            try:
                self.record(running, outcome, "")
            except Exception as exc:  # noqa: BLE001 - the heartbeat retries it anyway
                logger.warning("could not record trial %d as interrupted: %s",
                               running.trial.number, exc)

    def _log(self, number: int, o: TrialOutcome) -> None:
        metric = self.objectives[0]
        value = o.values[0] if o.values else o.metrics.get(metric)
        shown = f"{metric} {value:.4f}" if isinstance(value, float) else f"{metric} -"
        where = f"epoch {o.epochs}" + (f" (best {o.best_epoch})" if o.best_epoch else "")
        bt = best_trial(self.study)
        best = f" | best {bt.value:.4f} (#{bt.number})" if bt is not None else ""
        error = f": {o.error}" if o.error else ""
        logger.info("trial %d %s, %s, %s at %s, %.1fs%s%s", number, o.state, shown,
                    o.reason.value, where, o.duration_s, best, error)


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)
