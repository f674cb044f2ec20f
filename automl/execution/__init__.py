"""Where trials run: worker processes and the messages they exchange with the controller.

``options`` (how trials train, one frozen object), ``messages`` (every task, report and
result that crosses a pipe), ``pool`` (the interface) with ``process_pool`` and
``inline_pool`` (its two implementations), ``worker`` (a worker process's body),
``runner`` (running a task in whatever process), ``fit`` (one trial's fit and its
errors), ``devices`` (placing workers on GPUs and cores).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from automl._lazy import lazy_exports

if TYPE_CHECKING:
    from automl.execution.fit import fit_trial, is_out_of_memory
    from automl.execution.messages import FitResult
    from automl.execution.options import ExecutionOptions

__all__ = ["ExecutionOptions", "FitResult", "fit_trial", "is_out_of_memory"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "ExecutionOptions": "automl.execution.options",
    "FitResult": "automl.execution.messages",
    "fit_trial": "automl.execution.fit",
    "is_out_of_memory": "automl.execution.fit",
}, moved={name: "automl.engine.outcome" for name in ("State", "TrialOutcome", "make_outcome")})
