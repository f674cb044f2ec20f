"""Contract checks for plugin authors: call them from your plugin's own tests.

::

    from automl.plugin import check_dataset, check_plugin, check_trainer, plugin_host
    import my_plugin

    def test_trainer():
        check_trainer(plugin_host(my_plugin).trainers.get("my_model"))

    def test_installed():  # after `pip install -e .`
        check_plugin("my_plugin", provides={"trainer": ["my_model"]})

Each check raises :class:`ContractError` (an ``AssertionError``, so pytest shows it as a
failed assertion) naming the promise that was broken, and returns what it saw. The
promises :func:`check_trainer` checks are the ones :class:`automl.plugin.Trainer`
declares, with the metrics of :func:`automl.plugin.required_epoch_metrics` and
:func:`automl.plugin.required_final_metrics`: one contract, written down once.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from automl.data import Dataset, DataSplits, Task, make_splits
from automl.engine.stopping import EarlyStopping
from automl.errors import ContractError
from automl.plugin.dataset_checks import check_dataset
from automl.plugin.host import PluginHost, PluginInfo
from automl.plugin.trainer import (
    TASK_METRICS,
    Decision,
    HasDefaultSpace,
    StopReason,
    Trainer,
    TrialContext,
    required_epoch_metrics,
    required_final_metrics,
)

if TYPE_CHECKING:
    from automl.spec import Spec

__all__ = [
    "ContractError",
    "TrainerCheck",
    "check_dataset",
    "check_plugin",
    "check_space",
    "check_trainer",
    "plugin_host",
    "tiny_dataset",
]

TASKS: tuple[Task, ...] = ("classification", "regression")
_PREFIXES = ("val_", "train_", "test_")


def _fail(what: str, message: str) -> ContractError:
    return ContractError(f"{what}: {message}")


# -- data for checks -----------------------------------------------------------------------

def tiny_dataset(task: Task = "classification", *, n: int = 120, n_features: int = 6,
                 n_classes: int = 3, image_shape: tuple[int, ...] | None = None,
                 seed: int = 0) -> Dataset:
    """A small, learnable synthetic dataset for trainer checks (milliseconds to train).

    ``image_shape`` (for example ``(1, 8, 8)``) makes image-shaped samples for models
    that need them; otherwise samples have ``n_features`` columns.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, not {task!r}")
    rng = np.random.default_rng(seed)
    shape = image_shape or (n_features,)
    if task == "classification":
        y = np.arange(n) % n_classes
        rng.shuffle(y)
        centers = rng.normal(0.0, 1.5, size=(n_classes, *shape))
        x = centers[y] + rng.normal(0.0, 1.0, size=(n, *shape))
        return Dataset(name="tiny", x=x.astype(np.float32), y=y.astype(np.int64),
                       task="classification",
                       class_names=tuple(f"class_{i}" for i in range(n_classes)))
    x = rng.normal(size=(n, *shape))
    weights = rng.normal(size=shape)
    y = (x * weights).reshape(n, -1).sum(axis=1) + rng.normal(0.0, 0.1, size=n)
    return Dataset(name="tiny", x=x.astype(np.float32), y=y.astype(np.float32),
                   task="regression")


# -- trainers --------------------------------------------------------------------------------

@dataclass
class TrainerCheck:
    """What :func:`check_trainer` saw for one task."""

    task: Task
    reports: list[dict[str, float]] = field(default_factory=list)  # one per epoch
    result: dict[str, Any] = field(default_factory=dict)  # what fit returned
    evaluated: dict[str, float] = field(default_factory=dict)  # evaluate() on val
    # what fit returned with default_config(task); empty for a trainer with no default space
    default_result: dict[str, Any] = field(default_factory=dict)


class _Recorder:
    """Plays the engine's side of ``ctx.report``: records, judges, and checks each report."""

    def __init__(self, what: str, task: Task, max_epochs: int, stop_at: int | None) -> None:
        self.what = what
        self.task = task
        self.max_epochs = max_epochs
        self.stop_at = stop_at
        self.reports: list[dict[str, float]] = []
        self.best_epoch: int | None = None
        self.stopped_at: int | None = None
        self.after_stop: list[int] = []
        self.stopper = EarlyStopping("val_loss", "min", patience=max_epochs + 1)

    def __call__(self, epoch: int, metrics: Mapping[str, Any]) -> Decision:
        if self.stopped_at is not None:
            self.after_stop.append(epoch)
        expected = len(self.reports) + 1
        if epoch != expected:
            raise _fail(self.what, f"reported epoch {epoch} where epoch {expected} was due "
                                   "(epochs count from 1, one report per epoch)")
        if epoch > self.max_epochs:
            raise _fail(self.what, f"reported epoch {epoch}, past ctx.max_epochs="
                                   f"{self.max_epochs}")
        clean = _numbers(self.what, f"the metrics reported at epoch {epoch}", metrics)
        missing = [m for m in required_epoch_metrics(self.task) if m not in clean]
        if missing:
            raise _fail(self.what, f"epoch {epoch} did not report {', '.join(missing)} "
                                   f"(reported: {', '.join(sorted(clean)) or 'nothing'}); "
                                   f"early stopping and pruning need them every epoch")
        self.reports.append(clean)
        if self.stop_at is None:
            decision = self.stopper.update(epoch, clean)
            if decision.improved:
                self.best_epoch = epoch
            return Decision(improved=decision.improved)
        # Only the first epoch counts as an improvement; at stop_at the engine says stop.
        improved = epoch == 1
        if improved:
            self.best_epoch = 1
        if epoch >= self.stop_at:
            self.stopped_at = self.stopped_at or epoch
            return Decision(stop=True, reason=StopReason.EARLY_STOPPED, improved=improved)
        return Decision(improved=improved)


def _numbers(what: str, where: str, metrics: Any) -> dict[str, float]:
    if not isinstance(metrics, Mapping):
        raise _fail(what, f"{where} are a {type(metrics).__name__}, not a mapping")
    out: dict[str, float] = {}
    for key, value in metrics.items():
        if not isinstance(key, str):
            raise _fail(what, f"{where}: metric name {key!r} is not a string")
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer,
                                                             np.floating)):
            continue
        if not math.isfinite(float(value)):
            raise _fail(what, f"{where}: {key} is {value}")
        out[key] = float(value)
    return out


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-6)


def _check_attributes(trainer: Any) -> str:
    name = getattr(trainer, "name", None)
    what = f"trainer {name!r}"
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "_-." for c in name):
        raise _fail(what, "name must be a non-empty string of letters, digits, _ - or .")
    tasks = getattr(trainer, "tasks", None)
    if not isinstance(tasks, (tuple, list)) or not tasks or any(t not in TASKS for t in tasks):
        raise _fail(what, f"tasks must be a non-empty tuple drawn from {TASKS}, got {tasks!r}")
    if not isinstance(getattr(trainer, "description", None), str):
        raise _fail(what, "description must be a string (one line for `automl plugins list`)")
    for method in ("fit", "evaluate"):
        if not callable(getattr(trainer, method, None)):
            raise _fail(what, f"has no {method}() method")
    if not isinstance(trainer, Trainer):
        raise _fail(what, "does not satisfy automl.plugin.Trainer")
    return what


def _fit(trainer: Trainer, what: str, params: dict[str, Any], splits: DataSplits,
         workdir: Path, run: str, max_epochs: int, stop_at: int | None, device: str,
         seed: int = 7) -> tuple[_Recorder, dict[str, Any], Path]:
    recorder = _Recorder(what, splits.info.task, max_epochs, stop_at)
    checkpoint = workdir / run / "trial_0.pt"
    ctx = TrialContext(number=0, device=device, seed=seed, max_epochs=max_epochs,
                       checkpoint_path=checkpoint, restore_best=True, reporter=recorder)
    result = trainer.fit(dict(params), splits.for_trial(), ctx)
    if not recorder.reports:
        raise _fail(what, "fit() returned without calling ctx.report(epoch, metrics)")
    if recorder.after_stop:
        raise _fail(what, f"kept training after ctx.report answered stop at epoch "
                          f"{recorder.stopped_at} (reported epoch {recorder.after_stop[0]})")
    return recorder, dict(_numbers(what, "the metrics fit() returned", result)), checkpoint


def check_trainer(trainer: Trainer, *, tasks: Iterable[Task] | None = None,
                  dataset: Dataset | None = None, params: Mapping[str, Any] | None = None,
                  max_epochs: int = 3, deterministic: bool = True, device: str = "cpu",
                  workdir: Path | None = None) -> list[TrainerCheck]:
    """Train tiny trials with ``trainer`` and check every promise the engine relies on.

    For each task (``tasks``, else the trainer's own, or ``dataset``'s task) it checks that
    ``fit``: reports epochs 1, 2, ... (at most ``max_epochs``), each with finite
    ``train_loss``, ``val_loss`` and ``val_accuracy`` (classification) or ``val_rmse``
    (regression); stops when ``ctx.report`` says stop; returns the metrics of the best
    epoch's model (``restore_best``); writes ``ctx.checkpoint_path``. And that
    ``evaluate`` reads that checkpoint back and scores the validation split as ``fit``
    did, with metric names without prefix. With ``deterministic``, two fits with the same
    seed must report the same numbers.

    For a trainer with a default search space (:class:`automl.plugin.HasDefaultSpace`) it
    also checks, for each task, that ``cost`` is a positive number, that
    ``default_space(task)`` is a valid ``params:`` section, that ``default_config(task)``
    lies inside it, and that a fit with exactly ``default_config(task)`` (not ``params``)
    keeps promise 1 and returns the final metrics (:attr:`TrainerCheck.default_result`).

    ``dataset`` defaults to :func:`tiny_dataset` (pass an image-shaped one for models
    that need images); ``params`` to ``{}``, so every param needs a default. ``device``
    is what ``ctx.device`` says (``"cuda"`` to check on a GPU, where bit-for-bit
    determinism may need ``deterministic=False``).
    """
    what = _check_attributes(trainer)
    _check_default_space_members(trainer, what)
    params = dict(params or {})
    if tasks is None:
        tasks = (dataset.task,) if dataset is not None else tuple(trainer.tasks)
    checks: list[TrainerCheck] = []
    with tempfile.TemporaryDirectory(prefix="automl-check-", dir=workdir) as tmp:
        for task in tasks:
            if task not in trainer.tasks:
                raise _fail(what, f"asked to check {task}, but tasks are {trainer.tasks}")
            data = dataset if dataset is not None else tiny_dataset(task)
            if data.task != task:
                raise ValueError(f"dataset {data.name!r} is a {data.task} task, not {task}")
            splits = make_splits(data, val=0.25, test=0.25, seed=0,
                                 stratify=task == "classification")
            config = (_check_default_space(trainer, f"{what} ({task})", task)
                      if isinstance(trainer, HasDefaultSpace) else None)
            check = _check_task(trainer, f"{what} ({task})", params, splits,
                                Path(tmp) / task, max_epochs, deterministic, device)
            if config is not None:
                check.default_result = _check_default_fit(
                    trainer, f"{what} ({task})", config, splits, Path(tmp) / task,
                    max_epochs, device)
            checks.append(check)
    return checks


_DEFAULT_SPACE_MEMBERS = ("cost", "default_space", "default_config")


def _check_default_space_members(trainer: Any, what: str) -> None:
    """All of HasDefaultSpace or none: with some only, isinstance() says no and a search
    would silently skip the trainer's default space."""
    present = [m for m in _DEFAULT_SPACE_MEMBERS if hasattr(trainer, m)]
    if present and len(present) < len(_DEFAULT_SPACE_MEMBERS):
        absent = [m for m in _DEFAULT_SPACE_MEMBERS if m not in present]
        raise _fail(what, f"has {', '.join(present)} but no {', '.join(absent)}: a default "
                          f"search space (automl.plugin.HasDefaultSpace) needs all of "
                          f"{', '.join(_DEFAULT_SPACE_MEMBERS)}")
    for method in ("default_space", "default_config"):
        if method in present and not callable(getattr(trainer, method)):
            raise _fail(what, f"{method} must be callable: {method}(task) -> dict")


def _check_default_space(trainer: Trainer, what: str, task: Task) -> dict[str, Any]:
    """The :class:`HasDefaultSpace` promises that need no training (checked first, being
    cheap); returns ``default_config(task)``."""
    # Here, not at the top: the engine's space module imports optuna, and importing
    # automl.plugin must stay cheap.
    from automl.engine.space import check_config
    from automl.errors import SpecError
    from automl.spec.space_parser import parse_space

    cost = getattr(trainer, "cost", None)
    if isinstance(cost, bool) or not isinstance(cost, (int, float)) \
            or not math.isfinite(cost) or cost <= 0:
        raise _fail(what, f"cost must be a positive number (the relative cost of a trial at "
                          f"default_config, about 1 for a linear model), got {cost!r}")
    spaced: Any = trainer  # a HasDefaultSpace, which mypy cannot narrow a Trainer to
    raw = _call(what, f"default_space({task!r})", spaced.default_space, task)
    try:
        space = parse_space(raw, path=("params", trainer.name))
    except SpecError as exc:
        raise _fail(what, f"default_space({task!r}) is not a valid params section: "
                          f"{exc}") from None
    config = _call(what, f"default_config({task!r})", spaced.default_config, task)
    try:
        check_config(space, config, path=("default_config",))
    except SpecError as exc:
        raise _fail(what, f"default_config({task!r}) is not inside default_space({task!r}): "
                          f"{exc}") from None
    return config


def _check_default_fit(trainer: Trainer, what: str, config: dict[str, Any],
                       splits: DataSplits, workdir: Path, max_epochs: int,
                       device: str) -> dict[str, Any]:
    """A fit with exactly the default configuration keeps promise 1 and returns the final
    metrics; returns them."""
    task = splits.info.task
    label = f"{what} with default_config"
    try:
        _, result, _ = _fit(trainer, label, dict(config), splits, workdir, "default",
                            max_epochs, None, device)
    except ContractError:
        raise
    except Exception as exc:  # say that it was the default configuration that failed
        raise _fail(label, f"fit() raised {type(exc).__name__}: {exc}") from exc
    missing = [m for m in required_final_metrics(task) if m not in result]
    if missing:
        raise _fail(label, f"fit() returned no {', '.join(missing)} (returned: "
                           f"{', '.join(sorted(result)) or 'nothing'})")
    return result


def _call(what: str, call: str, method: Any, task: Task) -> dict[str, Any]:
    """``method(task)``, which must return a mapping; a ContractError otherwise."""
    try:
        value = method(task)
    except Exception as exc:  # any failure here breaks the promise: say which call
        raise _fail(what, f"{call} raised {type(exc).__name__}: {exc}") from None
    if not isinstance(value, Mapping):
        raise _fail(what, f"{call} returned a {type(value).__name__}, not a mapping of "
                          f"param names")
    return dict(value)


def _check_task(trainer: Trainer, what: str, params: dict[str, Any], splits: DataSplits,
                workdir: Path, max_epochs: int, deterministic: bool,
                device: str) -> TrainerCheck:
    task = splits.info.task
    metric = TASK_METRICS[task]
    rec, result, checkpoint = _fit(trainer, what, params, splits, workdir, "run", max_epochs,
                                   None, device)
    missing = [m for m in required_final_metrics(task) if m not in result]
    if missing:
        raise _fail(what, f"fit() returned no {', '.join(missing)} (returned: "
                          f"{', '.join(sorted(result)) or 'nothing'})")
    best = rec.reports[(rec.best_epoch or len(rec.reports)) - 1]
    if not _close(result["val_" + metric], best["val_" + metric]):
        raise _fail(what, f"fit() returned val_{metric}={result['val_' + metric]:.6g}, but "
                          f"the best epoch ({rec.best_epoch}, lowest val_loss) reported "
                          f"{best['val_' + metric]:.6g}: restore the best epoch's model when "
                          f"ctx.restore_best is true")
    if not checkpoint.exists():
        raise _fail(what, f"fit() wrote no checkpoint at ctx.checkpoint_path ({checkpoint})")

    evaluated = _numbers(what, "the metrics evaluate() returned",
                         trainer.evaluate(dict(params), checkpoint, splits.val, splits.info))
    prefixed = [k for k in evaluated if k.startswith(_PREFIXES)]
    if prefixed:
        raise _fail(what, f"evaluate() must return metric names without a prefix (the engine "
                          f"adds test_); got {', '.join(prefixed)}")
    if metric not in evaluated:
        raise _fail(what, f"evaluate() returned no {metric} (returned: "
                          f"{', '.join(sorted(evaluated)) or 'nothing'})")
    for key, value in evaluated.items():
        if "val_" + key in result and not _close(value, result["val_" + key]):
            raise _fail(what, f"evaluate() on the validation split gives {key}={value:.6g}, "
                              f"but fit() returned val_{key}={result['val_' + key]:.6g}: the "
                              f"checkpoint is not the model fit() scored")
    if splits.test is not None:
        _numbers(what, "evaluate() on the test split",
                 trainer.evaluate(dict(params), checkpoint, splits.test, splits.info))

    if len(rec.reports) >= 2:
        stop, stop_result, _ = _fit(trainer, what, params, splits, workdir, "stop", max_epochs,
                                    2, device)
        if not _close(stop_result["val_" + metric], stop.reports[0]["val_" + metric]):
            raise _fail(what, f"stopped at epoch 2 with epoch 1 the best, fit() returned "
                              f"val_{metric}={stop_result['val_' + metric]:.6g}, not epoch 1's "
                              f"{stop.reports[0]['val_' + metric]:.6g}: restore the best "
                              f"epoch's model when ctx.restore_best is true")
    if deterministic:
        again, _, _ = _fit(trainer, what, params, splits, workdir, "again", max_epochs, None,
                           device)
        for epoch, (a, b) in enumerate(zip(rec.reports, again.reports, strict=False), start=1):
            diff = [k for k in a if k in b and not _close(a[k], b[k])]
            if diff or len(rec.reports) != len(again.reports):
                raise _fail(what, f"two fits with the same ctx.seed differ at epoch {epoch} "
                                  f"({', '.join(diff) or 'number of epochs'}): seed every "
                                  f"random source from ctx.seed, or pass deterministic=False")
    return TrainerCheck(task=task, reports=rec.reports, result=result, evaluated=evaluated)


# -- plugins and specs ---------------------------------------------------------------------------

def plugin_host(*plugins: object, entry_points: bool = False) -> PluginHost:
    """A plugin host with ``plugins`` (modules or objects with ``@hookimpl``
    functions) registered and their hooks called, as automl does for an installed plugin.

    With ``entry_points`` the installed plugins are loaded too (a search needs the built-in
    datasets, for example). Its ``trainers`` and ``datasets`` registries hold what the
    plugins registered.
    """
    host = PluginHost(entry_points=entry_points)
    for plugin in plugins:
        host.register(plugin)
    return host.collect()


def check_plugin(name: str, *, provides: Mapping[str, Iterable[str]] | None = None) -> PluginInfo:
    """Check that the installed plugin ``name`` (its entry point in the ``automl`` group)
    imports, registers without conflicts and provides at least ``provides`` (for example
    ``{"trainer": ["my_model"], "dataset": ["my_data"]}``)."""
    host = PluginHost()
    info = host.plugins.get(name)
    what = f"plugin {name!r}"
    if info is None:
        installed = ", ".join(sorted(host.plugins)) or "none"
        raise _fail(what, f"not found in the 'automl' entry-point group (installed: "
                          f"{installed}); is the package installed (pip install -e .) and "
                          f"allowed by AUTOML_PLUGINS / not blocked by AUTOML_BLOCK_PLUGINS?")
    if info.error:
        raise _fail(what, f"failed to import: {info.error}")
    host.collect()
    for kind, names in (provides or {}).items():
        missing = set(names) - set(info.provides.get(kind, []))
        if missing:
            raise _fail(what, f"does not register {kind} {', '.join(sorted(missing))} "
                              f"(it registers: {info.provides or 'nothing'})")
    return info


def check_space(path: str | Path, *, host: PluginHost | None = None) -> Spec:
    """Check a spec file the way ``automl validate`` does (its trainer, dataset, sampler and
    pruner must exist in ``host``, by default the installed plugins); returns the spec."""
    from automl.engine.components import check_spec
    from automl.plugin.host import get_plugin_host
    from automl.spec import load_spec

    spec = load_spec(Path(path))
    check_spec(spec, host or get_plugin_host())
    return spec
