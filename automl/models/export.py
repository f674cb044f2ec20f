"""Exporting any trial of a study as a model bundle (``automl export``, ``automl.load``).

The bundle is built from the trial's checkpoint where the search kept it (the top K keep
theirs; ``best/`` holds the best one's). Otherwise the trial is trained again from its
params with its own training seed for its best epoch count, keeping the best epoch's
weights: on CPU, where training is deterministic, that is the very model the search
scored; on a GPU, a model of the same config, close to it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from automl.errors import AutomlError, UsageError
from automl.log import get_logger
from automl.models.bundle import BUNDLE_FILE, read_bundle
from automl.plugin.trainer import Decision, StopReason

__all__ = ["FORMATS", "bundle_dir", "export_trial"]

logger = get_logger(__name__)

FORMATS = ("bundle", "onnx")
ONNX_FILE = "model.onnx"

# Called with (epoch, epochs) as a retraining goes.
Progress = Callable[[int, int], None]


def bundle_dir(report_dir: Path, trial: int) -> Path:
    """Where ``automl export`` puts trial ``trial``'s bundle by default."""
    return report_dir / "bundles" / f"trial_{trial}"


def export_trial(study: str, trial: int | None = None, *, storage: str | None = None,
                 out: str | Path | None = None, format: str = "bundle",
                 progress: Progress | None = None) -> Path:
    """Write trial ``trial``'s (default: the best trial's) model bundle and return its folder.

    ``out`` defaults to ``reports/<study>/bundles/trial_<N>``; ``format="onnx"`` adds
    ``model.onnx`` (where the trainer can export one: :class:`automl.plugin.ExportsOnnx`).
    ``progress`` is told each epoch when the trial has to be trained again.
    """
    if format not in FORMATS:
        raise UsageError(f"--format {format!r}: expected one of {', '.join(FORMATS)}")
    from automl.engine.finish import write_trial_bundle
    from automl.engine.keys import TRIAL_RESULT, test_metrics_key
    from automl.engine.studies import load_study, report_dir_of, resolve_storage
    from automl.engine.study_setup import stored_spec
    from automl.plugin.host import get_plugin_host

    url = resolve_storage(study, storage)
    optuna_study = load_study(study, url)
    spec = stored_spec(study, url)
    host = get_plugin_host().collect()
    trials = optuna_study.get_trials(deepcopy=False)
    number = _trial_number(optuna_study, trial, trials)
    result = trials[number].user_attrs.get(TRIAL_RESULT) or {}
    if not result.get("params") and trials[number].state.name != "COMPLETE":
        raise UsageError(f"trial {number} of study {study!r} is {trials[number].state.name.lower()}"
                         " and has no result to export")
    params = dict(result.get("params", {}))
    test = optuna_study.user_attrs.get(test_metrics_key(number), {})
    metrics = {**result.get("metrics", {}), **{f"test_{k}": v for k, v in test.items()}}
    report_dir = report_dir_of(spec, study)
    folder = Path(out) if out is not None else bundle_dir(report_dir, number)

    from automl.engine.components import load_splits

    splits = load_splits(spec, host)
    with tempfile.TemporaryDirectory(prefix="automl-export-") as tmp:
        checkpoint = _kept_checkpoint(report_dir, number, spec)
        if checkpoint is None:
            checkpoint = Path(tmp) / "model.pt"
            _retrain(spec, host, splits, number, params, result, checkpoint, progress)
        trainer, own = spec.trial_trainer(params)
        write_trial_bundle(folder, host=host, trainer=trainer, checkpoint=checkpoint,
                           params=own, metrics=metrics, splits=splits, study=study,
                           trial=number)
    if format == "onnx":
        export_onnx(folder)
    return folder


def export_onnx(folder: Path) -> Path:
    """Add ``model.onnx`` to the bundle in ``folder`` (its input: the encoded features,
    :meth:`automl.models.Model.encode`)."""
    from automl.plugin.host import get_plugin_host

    record = read_bundle(folder)
    host = get_plugin_host().collect()
    if record.trainer not in host.trainers:
        raise UsageError(f"trainer {record.trainer!r} is not installed")
    trainer = host.trainers.get(record.trainer)
    exporter = getattr(trainer, "export_onnx", None)
    if not callable(exporter):
        raise UsageError(f"trainer {record.trainer!r} cannot export ONNX models (it has no "
                         "export_onnx(); automl.plugin.ExportsOnnx)")
    path = record.folder / ONNX_FILE
    exporter(record.params, record.model_path, record.info, path)
    return path


def _trial_number(study: Any, trial: int | None, trials: list[Any]) -> int:
    if trial is None:
        from automl.reports import leaderboard_frame, top_numbers

        top = top_numbers(leaderboard_frame(study), 1)
        if not top:
            raise UsageError(f"study {study.study_name!r} has no completed trial to export")
        return top[0]
    if not 0 <= trial < len(trials):
        raise UsageError(f"study {study.study_name!r} has no trial {trial} (trials 0 to "
                         f"{len(trials) - 1})")
    return trial


def _kept_checkpoint(report_dir: Path, number: int, spec: Any) -> Path | None:
    """Trial ``number``'s weights where the search kept them: its checkpoint (in the
    shared artifact folder where the spec names one), or ``best/``."""
    from automl.reports import artifacts

    path = artifacts.checkpoint_path(artifacts.store_root(spec, report_dir), number)
    if path.is_file():
        return path
    best = report_dir / "best"
    if (best / BUNDLE_FILE).is_file():
        record = read_bundle(best)
        if record.trial == number and record.model_path.is_file():
            return record.model_path
    return None


def _retrain(spec: Any, host: Any, splits: Any, number: int, params: dict[str, Any],
             result: Mapping[str, Any], checkpoint: Path, progress: Progress | None) -> None:
    from automl.engine.trials import training_seed
    from automl.execution.devices import resolve_device
    from automl.execution.fit import fit_trial
    from automl.execution.runner import TrialRunner

    # The trial's own max_epochs (schedules and growth plans depend on it), stopped at its
    # best epoch, whose weights are the ones kept.
    best = int(result.get("best_epoch") or result.get("epochs") or spec.budget.max_epochs)
    logger.info("trial %d's weights were not kept: training it again to epoch %d",
                number, best)
    runner = TrialRunner(spec, host, splits, resolve_device(spec.execution.device))

    def report(epoch: int, metrics: Mapping[str, float]) -> Decision:
        if progress is not None:
            progress(epoch, best)
        if epoch >= best:
            return Decision(stop=True, reason=StopReason.EARLY_STOPPED, improved=True)
        return Decision()

    ctx = runner.context(number, training_seed(spec, number), checkpoint,
                         restore_best=True, reporter=report)
    trainer, own = runner.trainer_for(params)
    fitted = fit_trial(trainer, own, splits.for_trial(), ctx)
    if fitted.error:
        raise AutomlError(f"trial {number} failed when trained again: {fitted.error}")
    if not checkpoint.exists():
        raise AutomlError(f"trial {number}: trainer {trainer.name!r} saved no checkpoint")

