"""The Python API: :func:`search` on a spec and in-memory data, and what it returns."""

from __future__ import annotations

import contextlib
import copy
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl.errors import UsageError

if TYPE_CHECKING:
    import optuna
    import pandas as pd

    from automl.engine.controller import SearchResult
    from automl.models.model import Model
    from automl.spec import Spec

__all__ = ["SearchRun", "search"]

DATA_DIR = "data"  # in the report folder: the data given to search(data=...)


@dataclass
class SearchRun:
    """What :func:`search` did, and handles on what it found.

    ``leaderboard`` (a DataFrame, best first), ``best`` (the best model, loaded: ``predict``
    and ``predict_proba``; ``None`` when no trial completed) and ``study`` (the Optuna study)
    are read when first asked for.
    """

    study_name: str
    storage: str
    report_dir: Path
    n_trials: int  # finished trials in the study (this run and earlier ones)
    n_new: int  # trials run by this call
    stop_reason: str
    duration_s: float
    best_trial: dict[str, Any] | None  # number, values, params, metrics
    counts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, result: SearchResult) -> SearchRun:
        return cls(study_name=result.study, storage=result.storage,
                   report_dir=result.report_dir, n_trials=result.n_trials,
                   n_new=result.n_new, stop_reason=result.stop_reason,
                   duration_s=result.duration_s, best_trial=result.best,
                   counts=dict(result.counts))

    @cached_property
    def study(self) -> optuna.Study:
        """The Optuna study."""
        from automl.engine.studies import load_study

        return load_study(self.study_name, self.storage)

    @property
    def leaderboard(self) -> pd.DataFrame:
        """One row per trial, best first (:func:`automl.leaderboard`)."""
        from automl.reports import leaderboard_frame

        return leaderboard_frame(self.study)

    @cached_property
    def best(self) -> Model | None:
        """The best trial's model (``best/`` in the report folder), or ``None``."""
        from automl.models.bundle import BUNDLE_FILE
        from automl.models.model import Model

        if self.best_trial is None or not (self.report_dir / "best" / BUNDLE_FILE).is_file():
            return None
        return Model.from_folder(self.report_dir / "best")

    @cached_property
    def ensemble(self) -> Model | None:
        """The ensemble of the top trials (``ensemble/`` in the report folder, where the
        spec's ``ensemble`` is on), or ``None``."""
        from automl.models.ensemble import ENSEMBLE_FILE, EnsembleModel

        folder = self.report_dir / "ensemble"
        return EnsembleModel.from_folder(folder) if (folder / ENSEMBLE_FILE).is_file() else None

    @property
    def best_model(self) -> Model | None:
        """The model to use: the ensemble where it scores better on validation than the
        best trial (the selection's own split, so an optimistic comparison, as AutoGluon's
        and auto-sklearn's), else the best trial's."""
        ensemble, best = self.ensemble, self.best
        if ensemble is None or best is None or self.best_trial is None:
            return best
        from automl.reports import objectives

        metric = objectives(self.study)[0]
        mine, theirs = ensemble.metrics.get(metric["metric"]), self.best_trial["values"][0]
        if mine is None:
            return best
        better = mine > theirs if metric["direction"] == "maximize" else mine < theirs
        return ensemble if better else best

    def __repr__(self) -> str:
        best = ""
        if self.best_trial:
            best = f", best trial {self.best_trial['number']} {self.best_trial['values']}"
        return (f"SearchRun({self.study_name!r}: {self.n_trials} trials, {self.n_new} new, "
                f"stopped: {self.stop_reason}{best})")


def search(spec: str | Path | Mapping[str, Any], data: Any = None, *,
           target: str | None = None, task: str | None = None, study: str | None = None,
           trials: int | None = None, timeout: str | float | None = None,
           workers: int | None = None, seed: int | None = None, storage: str | None = None,
           overrides: Mapping[str, Any] | None = None,
           progress: bool | Callable[[dict[str, Any]], None] = True) -> SearchRun:
    """Run (or resume) a search from Python and return what it found.

    Args:
        spec: a spec file's path, the name of a bundled one (``"tabular"``), or the spec
            itself as a dict (the YAML's structure).
        data: what to search on instead of the spec's dataset: a pandas DataFrame (give
            ``target``, the column to predict), a pair ``(X, y)`` of arrays (or of a
            DataFrame and a Series), or a :class:`automl.plugin.Dataset`. It is saved in
            the report folder (``data/``) for the trial workers, which read it
            memory-mapped.
        target: the DataFrame's column to predict.
        task: ``"classification"`` or ``"regression"`` (default: guessed from the target).
        study, trials, timeout, workers, seed, storage: as the ``automl search`` options
            (``trials`` is the study's total; ``timeout`` seconds or ``"10m"``).
        overrides: more spec keys, dotted (``{"budget.max_epochs": 5}``), as ``--set``.
        progress: print a line per finished trial (plain text, fine in a notebook); a
            callable gets the progress snapshots instead; ``False``: silent.
    """
    from automl.engine.controller import search as run_search

    raw, source = _spec_data(spec)
    for key, value in {"study": study, "budget.trials": trials, "budget.timeout": timeout,
                       "execution.workers": workers, "sampler.seed": seed,
                       "execution.storage": storage, **dict(overrides or {})}.items():
        if value is not None:
            _set(raw, key, value)
    if data is not None:
        raw["dataset"] = {"name": "saved", "path": "(in memory)"}
    parsed = _validated(raw, source)
    if data is not None:
        raw["dataset"] = {"name": "saved",
                          "path": str(_save_data(parsed, data, target, task).resolve())}
        parsed = _validated(raw, source)
    elif target is not None or task is not None:
        raise UsageError("target= and task= go with data=")
    callback = _printer(parsed) if progress is True else (progress or None)
    with _optuna_quiet():
        return SearchRun.of(run_search(parsed, progress=callback))


@contextlib.contextmanager
def _optuna_quiet() -> Iterator[None]:
    """Optuna's INFO lines ("A new study created ...") are noise around a search call."""
    import optuna

    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(max(level, optuna.logging.WARNING))
    try:
        yield
    finally:
        optuna.logging.set_verbosity(level)


def _spec_data(spec: str | Path | Mapping[str, Any]) -> tuple[dict[str, Any], Path | None]:
    if isinstance(spec, Mapping):
        data = copy.deepcopy(dict(spec))
        data.setdefault("study", "search")
        return data, None
    from automl.spec import resolve_space_path
    from automl.spec.yaml_loader import load_yaml

    path = resolve_space_path(str(spec))
    data, _ = load_yaml(path)
    data.setdefault("study", path.stem)
    return data, path


def _validated(data: dict[str, Any], source: Path | None) -> Spec:
    from automl.spec import Spec

    return Spec.from_data(copy.deepcopy(data), source=source)


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    node = data
    parts = dotted.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[parts[-1]] = value


def _save_data(spec: Spec, data: Any, target: str | None, task: str | None) -> Path:
    from automl.engine.studies import report_dir_of
    from automl.reports.folder import claim_report_dir
    from automl.saved_data import as_dataset, fingerprint, save_dataset, saved_fingerprint

    report_dir = report_dir_of(spec)
    # Checked before the data is saved there: the folder may be another study's.
    claim_report_dir(report_dir, spec.study)
    dataset = as_dataset(data, target=target, task=task, name=spec.study)
    folder = report_dir / DATA_DIR
    known = saved_fingerprint(folder)
    if known is not None and known != fingerprint(dataset) and \
            (report_dir / "study.db").exists():
        raise UsageError(f"study {spec.study!r} ran on other data (saved in {folder}); "
                         "give study= a new name, or delete that report folder")
    return save_dataset(dataset, folder)


def _printer(spec: Spec) -> Callable[[dict[str, Any]], None]:
    """A line per finished trial on stdout: readable in a notebook and in a log."""
    metric = spec.objectives[0].metric
    seen = {"done": -1}

    def show(state: dict[str, Any]) -> None:
        if state["done"] in (seen["done"], 0):
            return
        seen["done"] = state["done"]
        best = state.get("best")
        best_text = f"; best {metric} {best:.4f} (trial {state['best_number']})" \
            if best is not None else ""
        print(f"trials {state['done']}/{state['total']}: {state['pruned']} pruned, "
              f"{state['failed']} failed{best_text}", file=sys.stdout, flush=True)

    return show
