"""Running tasks for one spec on one device, in whatever process that is: a trial, a test
evaluation, a refit. A worker process holds one runner; ``execution.workers: 0`` runs
one in the controller."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from automl.data import DataSplits, TrialData, concat_splits
from automl.execution.fit import fit_trial
from automl.execution.folds import Fold, fold_count, fold_data, oof_path
from automl.execution.messages import (
    EvalTask,
    FitResult,
    RefitResult,
    RefitTask,
    TrialTask,
    WorkerInit,
)
from automl.execution.options import ExecutionOptions
from automl.log import get_logger
from automl.plugin.host import PluginHost
from automl.plugin.trainer import Decision, Reporter, StopReason, Trainer, TrialContext

__all__ = ["TrialRunner"]

logger = get_logger(__name__)

# A fold that stops for one of these reasons hands over to the next fold; any other stop
# (pruned, timeout, interrupted) ends the trial.
FOLD_ENDS = (StopReason.COMPLETED, StopReason.EARLY_STOPPED, StopReason.OVERFITTING, None)

# What a refit keeps of the trainer's own numbers (the rest are about the validation
# split, which a refit trains on).
REFIT_KEPT = ("n_params", "train_time_s", "latency_ms")


class TrialRunner:
    """Runs trials, evaluations and refits of one spec with one trainer on one device.

    Args:
        spec: the validated spec.
        host: the plugin host holding the spec's trainer.
        splits: the spec's data, split.
        device: what trainers get as ``ctx.device``.
        options: how trials train (the same object for every task of this runner).
    """

    def __init__(self, spec: Any, host: PluginHost, splits: DataSplits, device: str,
                 options: ExecutionOptions | None = None) -> None:
        from automl.engine.trainer_choice import lookup_trainers

        self.spec = spec
        self.trainers = lookup_trainers(spec, host)
        self.splits = splits
        self.device = device
        self.options = options or ExecutionOptions.from_spec(spec.execution)
        self.folds = fold_count(spec, splits)  # cross-validation: folds per trial, or None
        self._folds: list[Fold] | None = None  # made on first use

    @classmethod
    def from_init(cls, init: WorkerInit, shared: Path | None = None) -> TrialRunner:
        """Set up in a fresh worker process; ``shared``: the folder of the controller's
        splits (else the worker loads the dataset itself)."""
        import torch

        if init.options.threads:
            torch.set_num_threads(init.options.threads)
        from automl.engine.components import load_splits
        from automl.plugin.host import get_plugin_host
        from automl.spec import Spec

        spec = Spec.from_data(init.spec_data, source=init.source)
        host = get_plugin_host()
        if shared is not None:
            from automl.execution.shared_data import load_splits as load_shared

            splits = load_shared(shared)
        else:
            splits = load_splits(spec, host)
        return cls(spec, host, splits, init.device, init.options)

    @staticmethod
    def prepare(init: WorkerInit) -> None:
        """What a worker does before it knows where the data is: import torch and the
        plugins (seconds), while the controller loads and splits the data."""
        import torch  # noqa: F401 - the import is the point

        from automl.plugin.host import get_plugin_host

        get_plugin_host()

    def context(self, number: int, seed: int, checkpoint_path: Path, *,
                max_epochs: int | None = None, restore_best: bool | None = None,
                reporter: Reporter | None = None) -> TrialContext:
        """A trial's context: this runner's device and options, the spec's epochs and
        ``restore_best`` unless given."""
        return TrialContext(
            number=number, device=self.device, seed=seed,
            max_epochs=self.spec.budget.max_epochs if max_epochs is None else max_epochs,
            checkpoint_path=checkpoint_path,
            restore_best=(self.spec.early_stopping.restore_best if restore_best is None
                          else restore_best),
            options=self.options, reporter=reporter)

    def trainer_for(self, params: Mapping[str, Any]) -> tuple[Trainer, dict[str, Any]]:
        """The trainer of a trial with these (search) params, and the params it gets."""
        name, own = self.spec.trial_trainer(params)
        return self.trainers[name], own

    def trial(self, task: TrialTask, reporter: Reporter) -> FitResult:
        """Train one trial; each epoch goes to ``reporter``."""
        ctx = self.context(task.number, task.seed, Path(task.checkpoint_path),
                           reporter=reporter)
        trainer, params = self.trainer_for(task.params)
        if self.folds:
            return self._cross_validate(task, reporter, trainer, params)
        return fit_trial(trainer, params, self.splits.for_trial(), ctx)

    def _cross_validate(self, task: TrialTask, reporter: Reporter, trainer: Trainer,
                        params: dict[str, Any]) -> FitResult:
        """Train fold after fold, each report tagged with its ``fold`` (the controller's
        supervisor averages them); a fold that early-stops hands over to the next one, a
        pruned or timed-out trial stops. The checkpoint left is the last fold's model.

        Where the search ends with an ensemble, each fold's model also predicts its own
        validation rows; a trial that trained every fold keeps these out-of-fold
        predictions beside its checkpoint (:func:`~automl.execution.folds.oof_path`)."""
        if self._folds is None:
            sp = self.spec.split
            assert self.folds is not None
            self._folds = fold_data(self.splits, self.folds, sp.seed, sp.stratify)
        checkpoint = Path(task.checkpoint_path)
        oof = _OutOfFold(trainer, params, self.splits.info) if self.spec.builds_ensemble \
            else None
        last: list[Decision] = []
        duration, final = 0.0, {}
        for fold, part in enumerate(self._folds):
            data = part.data
            def report(epoch: int, metrics: Mapping[str, float], fold: int = fold) -> Decision:
                decision = reporter(epoch, {**metrics, "fold": fold})
                last[:] = [decision]
                return decision

            ctx = self.context(task.number, task.seed, checkpoint, reporter=report)
            fitted = fit_trial(trainer, params, data, ctx)
            duration += fitted.duration_s
            if fitted.error is not None:
                return FitResult(None, f"fold {fold + 1}: {fitted.error}", duration,
                                 oom=fitted.oom)
            # The fold's own validation numbers are the supervisor's to average.
            final = {k: v for k, v in (fitted.final or {}).items()
                     if not k.startswith(("val_", "train_"))}
            if last and last[0].stop and last[0].reason not in FOLD_ENDS:
                break
            if oof is not None:
                oof.add(checkpoint, data.val.x, part.val_rows)
        else:
            if oof is not None:
                oof.save(checkpoint)
        return FitResult(final, None, duration)

    def evaluate(self, task: EvalTask) -> dict[str, float]:
        """Score a trial's checkpoint on the test split (``{}`` without one)."""
        if self.splits.test is None:
            return {}
        trainer, params = self.trainer_for(task.params)
        metrics = trainer.evaluate(params, Path(task.checkpoint_path),
                                        self.splits.test, self.splits.info)
        return {k: float(v) for k, v in metrics.items()}

    def refit(self, task: RefitTask) -> RefitResult:
        """Train the plan's params on train + validation for its epochs; score it on test.

        Nobody judges the epochs (no early stopping, no pruning) and ``restore_best`` is
        off: the model after the last epoch is the one kept, in ``out_dir/model.pt``. The
        trainer still gets the validation split as ``val`` because the trainer API needs
        one; it is training data here, so whatever the trainer reports on it is discarded.
        """
        start = time.perf_counter()
        plan, splits = task.plan, self.splits
        train = concat_splits(splits.train, splits.val)
        data = TrialData(info=splits.info, train=train, val=splits.val)
        out_dir = Path(task.out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / "model.pt"
        ctx = self.context(plan.number, task.seed, path, max_epochs=plan.epochs,
                           restore_best=False)
        trainer, params = self.trainer_for(plan.params)
        fitted = trainer.fit(params, data, ctx) or {}
        metrics: dict[str, float] = {}
        for key in REFIT_KEPT:
            value = fitted.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                metrics[f"refit_{key}"] = float(value)
        if splits.test is not None:
            scored = trainer.evaluate(params, path, splits.test, splits.info)
            metrics.update({f"refit_test_{k}": float(v) for k, v in scored.items()})
        return RefitResult(trial=plan.number, epochs=plan.epochs, train_size=len(train),
                           metrics=metrics, checkpoint=str(path),
                           duration_s=time.perf_counter() - start)


class _OutOfFold:
    """Collects a cross-validated trial's out-of-fold predictions, fold by fold."""

    def __init__(self, trainer: Trainer, params: dict[str, Any], info: Any) -> None:
        predict = getattr(trainer, "predict", None)
        self.predict = predict if callable(predict) else None
        self.params, self.info = params, info
        self.parts: list[tuple[np.ndarray, np.ndarray]] | None = [] if self.predict else None

    def add(self, checkpoint: Path, x: Any, rows: np.ndarray) -> None:
        """Predict the fold's validation rows ``x`` (at positions ``rows``) with the fold's
        model, saved at ``checkpoint``."""
        if self.parts is None or self.predict is None:
            return
        if not checkpoint.is_file():  # the trainer saved no model: nothing to predict with
            self.parts = None
            return
        try:
            out = np.asarray(self.predict(self.params, checkpoint, x, self.info), np.float32)
        except Exception as exc:  # noqa: BLE001 - the trial stands; it is no ensemble member
            logger.debug("out-of-fold predictions left out: %s: %s", type(exc).__name__, exc)
            self.parts = None
            return
        self.parts.append((rows, out))

    def save(self, checkpoint: Path) -> None:
        """Write the predictions in train + val order (nothing if a fold has none)."""
        if not self.parts:
            return
        rows = np.concatenate([r for r, _ in self.parts])
        first = self.parts[0][1]
        out = np.empty((len(rows), *first.shape[1:]), np.float32)
        for r, part in self.parts:
            out[r] = part
        path = oof_path(checkpoint)
        tmp = path.with_name(f".{path.name}.tmp.npy")
        np.save(tmp, out, allow_pickle=False)
        tmp.replace(path)
