"""Greedy ensemble selection (Caruana, Niculescu-Mizil, Crew and Ksikes, "Ensemble selection
from libraries of models", ICML 2004), over the validation predictions of the top trials.

Pure functions of arrays: the finishing step (:mod:`automl.engine.ensemble_step`) gets the
predictions and scores the result on the test split.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from automl.metrics import classification_metrics, regression_metrics

__all__ = ["Selection", "ensemble_score", "prediction_metric", "select_ensemble"]

# A score, or a tuple of scores compared in order (the objective, then a tie-breaker).
Score = Callable[[np.ndarray], "float | tuple[float, ...]"]


@dataclass(frozen=True)
class Selection:
    """The chosen members (indices into the candidates) with their weights (summing to 1),
    the ensemble's score and each round's score (``trace``), of the first score where
    ``score`` gives several."""

    weights: dict[int, float]
    score: float
    trace: tuple[float, ...]


def prediction_metric(objective: str, task: str) -> str | None:
    """The metric of predictions that ``objective`` (``val_accuracy``) names, as
    :func:`automl.metrics.classification_metrics` / ``regression_metrics`` key it; the
    loss is the log loss (classification) or the RMSE (regression); ``None`` for an
    objective that is no function of the predictions (``n_params``, ``latency_ms``)."""
    name = objective.removeprefix("val_")
    if name == "loss":
        return "log_loss" if task == "classification" else "rmse"
    keys = ("accuracy", "balanced_accuracy", "f1_macro", "log_loss") \
        if task == "classification" else ("rmse", "mae", "r2")
    return name if objective.startswith("val_") and name in keys else None


def ensemble_score(y: np.ndarray, outputs: np.ndarray, task: str) -> dict[str, float]:
    """Every metric of the task for averaged ``outputs`` (probabilities or predictions)."""
    if task == "classification":
        return classification_metrics(y, outputs)
    return regression_metrics(y, outputs)


def select_ensemble(outputs: Sequence[np.ndarray], score: Score, *, size: int,
                    maximize: bool) -> Selection:
    """Greedy forward selection with replacement: ``size`` rounds, each adding the
    candidate whose addition scores best (ties: the earlier candidate, i.e. the better
    ranked trial); the result is the best round's ensemble, so it scores at least as well
    as the best single candidate (round one picks it).

    ``outputs[i]``: candidate ``i``'s validation outputs (``(n, classes)`` probabilities or
    ``(n,)`` predictions), ordered best trial first; ``score(mean outputs)``: the metric,
    or a tuple of metrics compared in order, all in the direction ``maximize`` says
    (accuracy moves in steps of one sample, so many candidates tie on it: a tie-breaker
    such as the log loss makes the rounds count).
    """
    if not outputs:
        raise ValueError("no candidates to select an ensemble from")
    if size < 1:
        raise ValueError(f"ensemble size must be at least 1, got {size}")
    stack = np.stack([np.asarray(o, dtype=np.float64) for o in outputs])
    sign = 1.0 if maximize else -1.0

    def key(out: np.ndarray) -> tuple[float, ...]:
        raw = score(out)
        values = raw if isinstance(raw, tuple) else (raw,)
        return tuple(sign * v if v == v else -np.inf for v in values)  # NaN: never picked

    total = np.zeros_like(stack[0])
    picks: list[int] = []
    trace: list[float] = []
    best_round: int = 0
    best: tuple[float, ...] | None = None
    for round_ in range(1, size + 1):
        # Every candidate's ensemble of this round: (total + candidate) / round.
        keys = [key((total + stack[i]) / round_) for i in range(len(stack))]
        pick = max(range(len(keys)), key=lambda i: (keys[i], -i))  # ties: the better trial
        picks.append(pick)
        total += stack[pick]
        trace.append(sign * keys[pick][0])
        if best is None or keys[pick] > best:
            best_round, best = round_, keys[pick]
    counts = Counter(picks[:best_round])
    weights = {i: n / best_round for i, n in sorted(counts.items())}
    assert best is not None
    return Selection(weights, sign * best[0], tuple(trace))
