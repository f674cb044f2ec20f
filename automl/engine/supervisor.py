"""The engine's side of a trial's per-epoch reports: early stopping, overfitting, pruning.

A trainer calls ``ctx.report(epoch, metrics)``; in the controller that lands in the
trial's :class:`TrialSupervisor`, which keeps the trial's history and best epoch and
answers with a :class:`~automl.plugin.trainer.Decision`.

The answer is computed from the trial's own numbers only (early stopping, the
overfitting rule), so the trainer gets it at once. Reporting the epoch to Optuna and
asking its pruner read and write the study (10-20 ms an epoch on SQLite, more than a
small model's epoch takes to compute here); that is done by :meth:`TrialSupervisor.settle`
after the answer has gone back, while the trainer runs its next epoch, and a pruning
verdict is applied at the next report. A pruned trial so trains one epoch more than the
pruner needed, and never waits on the study.

With cross-validation (``split.folds``) the worker trains one fold after another and tags
each report with its ``fold``. Each fold has its own early stopping; the trial's metrics
are the means over folds of each fold's best epoch (with the objective's spread as
``<objective>_std``), and what Optuna gets, and its pruner judges, is the running mean of
the objective after each finished fold (step = folds done): a losing trial may be pruned
after a fold, and trials are compared at equal numbers of folds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import optuna

from automl.engine.stopping import EarlyStopping, StoppingState
from automl.errors import TrialFailed
from automl.hints import did_you_mean
from automl.plugin.trainer import Decision, StopReason


class TrialSupervisor:
    """Watches one running trial: records its epochs and answers each report.

    Each epoch's value of the objective is reported to Optuna as the trial's intermediate
    value (so learning curves and a killed trial's epochs are in the study, pruning on or
    off); the pruner is asked only with ``prune``.

    Args:
        stopper: the trial's early stopping (patience and the overfitting rule).
        trial: the Optuna trial to report to (``None``: nothing is reported, as for several
            objectives, which Optuna's intermediate values cannot hold).
        prune_metric: the metric reported each epoch (the first objective).
        prune: ask the pruner after each report; the objective must then be in every report.
    """

    def __init__(self, stopper: EarlyStopping, trial: optuna.Trial | None = None,
                 prune_metric: str | None = None, prune: bool = True) -> None:
        self.stopper = stopper
        self.trial = trial
        self.prune_metric = prune_metric
        self.prune = prune and trial is not None and prune_metric is not None
        self.history: list[dict[str, float]] = []
        self._start = time.perf_counter()
        self._best_epoch: int | None = None
        self._best_metrics: dict[str, float] = {}
        self._fold_best: dict[str, float] = {}
        self._fold_best_epoch: int | None = None
        self.stop_reason: StopReason | None = None
        self._unsettled: tuple[float, int] | None = None  # (value, epoch) not yet reported
        self._prune = False  # the pruner's verdict, applied at the next report
        self._fold: int | None = None  # the fold being trained (cross-validation)
        self._folds: list[tuple[int, dict[str, float]]] = []  # finished folds' best epochs

    @property
    def epochs(self) -> int:
        return len(self.history)

    @property
    def fold_results(self) -> list[tuple[int, dict[str, float]]]:
        """Each fold's best epoch and its metrics, the running fold included."""
        running = [(self._fold_best_epoch, self._fold_best)] if self._fold_best else []
        return [*self._folds, *running]

    @property
    def best_metrics(self) -> dict[str, float]:
        """The best epoch's metrics (with folds: their mean over folds, and the objective's
        standard deviation over folds as ``<objective>_std``, and ``val_folds``)."""
        if self._fold is None:
            return self._best_metrics
        folds = [m for _, m in self.fold_results]
        keys = [k for k in folds[0] if all(k in m for m in folds)] if folds else []
        out = {k: sum(m[k] for m in folds) / len(folds) for k in keys}
        if self.prune_metric in out:
            values = [m[self.prune_metric] for m in folds]
            mean = out[self.prune_metric]
            out[f"{self.prune_metric}_std"] = math.sqrt(
                sum((v - mean) ** 2 for v in values) / max(1, len(values) - 1))
        out["val_folds"] = float(len(folds))  # how many folds the means are over
        return out

    @best_metrics.setter
    def best_metrics(self, value: dict[str, float]) -> None:
        self._best_metrics = value

    @property
    def best_epoch(self) -> int | None:
        """The best epoch (with folds: the mean of the folds' best epochs, rounded)."""
        if self._fold is None:
            return self._best_epoch
        epochs = [e for e, _ in self.fold_results if e is not None]
        return round(sum(epochs) / len(epochs)) if epochs else None

    @best_epoch.setter
    def best_epoch(self, value: int | None) -> None:
        self._best_epoch = value

    def _next_fold(self, fold: int) -> None:
        """A report of a new fold: the previous one is over. Its best is kept, early
        stopping starts again, and the running mean goes to Optuna (and its pruner)."""
        if self._fold is not None and self._fold_best:
            self._folds.append((self._fold_best_epoch, self._fold_best))
            if self.prune_metric is not None:
                values = [m[self.prune_metric] for _, m in self._folds
                          if self.prune_metric in m]
                if values:
                    self._unsettled = (sum(values) / len(values), len(self._folds))
        self._fold, self._fold_best, self._fold_best_epoch = fold, {}, None
        self.stopper.state = StoppingState()
        if self.stop_reason is not StopReason.PRUNED:
            self.stop_reason = None

    def __call__(self, epoch: int, metrics: Mapping[str, Any]) -> Decision:
        clean = {k: float(v) for k, v in metrics.items()}
        fold = clean.pop("fold", None)
        if fold is not None and int(fold) != self._fold:
            self._next_fold(int(fold))
        for key, value in clean.items():
            if not math.isfinite(value) and (key.endswith("loss") or key == self.stopper.monitor
                                             or (self.prune and key == self.prune_metric)):
                raise TrialFailed(f"non-finite {key} ({value}) at epoch {epoch}")
        # `t`: seconds since the trial started, for learning curves against time.
        self.history.append({"epoch": epoch, **clean,
                             **({"fold": self._fold} if self._fold is not None else {}),
                             "t": round(time.perf_counter() - self._start, 4)})
        try:
            decision = self.stopper.update(epoch, clean)
        except KeyError:
            raise TrialFailed(
                f"the trainer did not report {self.stopper.monitor!r} (early_stopping.monitor)"
                f"{did_you_mean(self.stopper.monitor, clean)}; it reported: "
                f"{', '.join(sorted(clean))}"
            ) from None
        if decision.improved:
            if self._fold is not None:
                self._fold_best_epoch, self._fold_best = epoch, clean
            else:
                self.best_epoch, self.best_metrics = epoch, clean
        if self._fold is not None:  # Optuna gets fold means (_next_fold), not epochs
            if self._prune and not decision.stop:
                decision = Decision(stop=True, reason=StopReason.PRUNED,
                                    improved=decision.improved)
        elif self.trial is not None and self.prune_metric is not None:
            if self.prune_metric not in clean:
                if self.prune:
                    raise TrialFailed(f"the trainer did not report {self.prune_metric!r} "
                                      f"(the objective)"
                                      f"{did_you_mean(self.prune_metric, clean)}; it "
                                      f"reported: {', '.join(sorted(clean))}")
            else:
                self._unsettled = (clean[self.prune_metric], epoch)
            if self._prune and not decision.stop:
                decision = Decision(stop=True, reason=StopReason.PRUNED,
                                    improved=decision.improved)
        if decision.stop:
            self.stop_reason = decision.reason
        return decision

    def settle(self) -> None:
        """Report the last epoch's value to Optuna and ask the pruner about it; its verdict
        stops the trial at the next report. Call after the decision has been delivered."""
        if self._unsettled is None or self.trial is None:
            return
        value, epoch = self._unsettled
        self._unsettled = None
        self.trial.report(value, epoch)
        if self.prune and self.stop_reason is None and self.trial.should_prune():
            self._prune = True
