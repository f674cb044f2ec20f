"""automl: plugin-based AutoML and hyperparameter search on Optuna.

Public API: :func:`search` to run a spec from Python (on its dataset or on in-memory
data), :func:`load` for a model a search found (``predict``, ``predict_proba``),
:func:`leaderboard` and :func:`load_study` for results. Plugin authors import from
:mod:`automl.plugin` (:data:`hookimpl` is also here, where automl 0.1 had it).

The package, by job: ``spec/`` (reading and validating a spec file), ``engine/`` (the
controller and what it decides), ``execution/`` (worker processes, devices, the messages
between them), ``training/`` (the torch loop), ``plugin/`` (the plugin API, the plugin
host, contract checks), ``reports/`` (leaderboards, HTML, files), ``cli/`` (the command
line, automl's one error boundary), ``models/`` (bundles, loading, predicting, export).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

from automl import _compat

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("automl")
"""Marks a plugin function as the implementation of a hook in :mod:`automl.plugin.hookspecs`."""

_compat.install()  # automl 0.1's module paths (automl.torch, automl.trainer, ...) still import

if TYPE_CHECKING:
    import optuna
    import pandas as pd

    from automl.api import SearchRun
    from automl.models.model import Model


def leaderboard(study: str | optuna.Study, storage: str | None = None) -> pd.DataFrame:
    """The leaderboard of a study as a DataFrame (one row per trial, best first).

    ``study`` is a study name (found in ``reports/<study>/study.db`` unless ``storage``
    is given) or an ``optuna.Study``. The columns are ``leaderboard.csv``'s, in the same
    order (README: "Leaderboard columns"); dtypes: ``rank``, ``epochs``, ``best_epoch``,
    ``n_params`` and ``pareto_rank`` nullable ``Int64``; ``trial`` ``int64``; ``state``,
    ``stop_reason``, ``device`` and ``error`` ``string``; ``feasible`` and ``pareto``
    nullable ``boolean``; metrics and ``duration_s`` ``float64``; params as sampled.
    """
    from automl.engine.studies import load_study as _load
    from automl.reports import leaderboard_frame

    if isinstance(study, str):
        study = _load(study, storage)
    return leaderboard_frame(study)


def load_study(study: str, storage: str | None = None) -> optuna.Study:
    """The Optuna study behind a search, for anything custom."""
    from automl.engine.studies import load_study as _load

    return _load(study, storage)


def search(spec: str | Path | Mapping[str, Any], data: Any = None, **options: Any
           ) -> SearchRun:
    """Run (or resume) a search from a spec (a path, a bundled spec's name or a dict),
    on the spec's dataset or on in-memory ``data`` (a DataFrame with ``target=``, a pair
    ``(X, y)``, a Dataset); see :func:`automl.api.search` for every option. Returns a
    :class:`~automl.api.SearchRun` with ``.leaderboard``, ``.best`` and ``.study``."""
    from automl.api import search as _search

    return _search(spec, data, **options)


def load(path_or_study: str | Path | None = None, trial: int | None = None, *,
         study: str | None = None, storage: str | None = None) -> Model:
    """A trained model from a bundle folder, a report folder (its ``best/``) or a study
    (``trial=N`` for another trial than the best); see :func:`automl.models.load`.
    The result has ``predict``, ``predict_proba``, ``params``, ``metrics`` and ``schema``."""
    from automl.models.load import load as _load

    return _load(path_or_study, trial, study=study, storage=storage)


__all__ = ["__version__", "hookimpl", "leaderboard", "load", "load_study", "search"]
