"""automl: plugin-based AutoML and hyperparameter search on Optuna.

Public API: :func:`search` to run a spec from Python, :func:`leaderboard` and
:func:`load_study` for results. Plugin authors import from :mod:`automl.plugin`
(:data:`hookimpl` is also here, where automl 0.1 had it).

The package, by job: ``spec/`` (reading and validating a spec file), ``search/`` (the
controller and what it decides), ``execution/`` (worker processes, devices, the messages
between them), ``training/`` (the torch loop), ``plugin/`` (the plugin API, the plugin
host, contract checks), ``reports/`` (leaderboards, HTML, files), ``cli/`` (the command
line, automl's one error boundary).
"""

from __future__ import annotations

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

    from automl.search.controller import SearchResult


def leaderboard(study: str | optuna.Study, storage: str | None = None) -> pd.DataFrame:
    """The leaderboard of a study as a DataFrame (one row per trial, best first).

    ``study`` is a study name (found in ``reports/<study>/study.db`` unless ``storage``
    is given) or an ``optuna.Study``. The columns are ``leaderboard.csv``'s, in the same
    order (README: "Leaderboard columns"); dtypes: ``rank``, ``epochs``, ``best_epoch``,
    ``n_params`` and ``pareto_rank`` nullable ``Int64``; ``trial`` ``int64``; ``state``,
    ``stop_reason``, ``device`` and ``error`` ``string``; ``feasible`` and ``pareto``
    nullable ``boolean``; metrics and ``duration_s`` ``float64``; params as sampled.
    """
    from automl.reports import leaderboard_frame
    from automl.search.studies import load_study as _load

    if isinstance(study, str):
        study = _load(study, storage)
    return leaderboard_frame(study)


def load_study(study: str, storage: str | None = None) -> optuna.Study:
    """The Optuna study behind a search, for anything custom."""
    from automl.search.studies import load_study as _load

    return _load(study, storage)


def search(space: str, overrides: dict[str, Any] | None = None) -> SearchResult:
    """Run (or resume) the search a spec file describes; ``overrides`` are ``--set`` pairs."""
    from automl.search.controller import search as _search
    from automl.spec import load_spec, resolve_space_path

    return _search(load_spec(resolve_space_path(space),
                             {k: str(v) for k, v in (overrides or {}).items()}))


__all__ = ["__version__", "hookimpl", "leaderboard", "load_study", "search"]
