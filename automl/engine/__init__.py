"""The search engine: the controller's loop and everything it decides.

(Not ``automl.search``: that name is the function that runs a search from Python.)

``controller`` (the loop) drives ``running`` (this controller's running trials, each
watched by a ``supervisor``: early stopping from ``stopping``, pruning through Optuna),
``recorder`` (a finished trial into the study), ``rules`` (when the run stops),
``interrupts`` (Ctrl-C), ``heartbeats`` and ``finish`` (top K on test, refit, ``best/``).
``space`` turns the spec's params into Optuna suggestions, ``algorithms`` and
``components`` build what the spec names, ``studies`` and ``study_setup`` hold the
storage, ``keys`` what is stored under which name, ``trials`` how trials are counted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from automl._lazy import lazy_exports

if TYPE_CHECKING:
    from automl.engine.controller import (
        Controller,
        Interrupted,
        SearchResult,
        TooManyFailures,
        join,
        search,
    )

__all__ = ["Controller", "Interrupted", "SearchResult", "TooManyFailures", "join", "search"]
__getattr__, __dir__ = lazy_exports(__name__, {n: "automl.engine.controller" for n in __all__})
