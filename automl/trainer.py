"""The trainer contract: what a trainer plugin implements, and the context a trial runs in."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from automl.data import DataInfo, Split, Task, TrialData
from automl.stopping import Decision


@dataclass
class TrialContext:
    """Everything a trainer gets from the engine besides params and data.

    ``report(epoch, metrics)`` must be called once per epoch (epochs count from 1) with at
    least the monitored metric (``val_loss`` by default) and, for the overfitting rule,
    ``train_loss``; its :class:`~automl.stopping.Decision` says whether this epoch is the
    best so far (keep its weights) and whether to stop (pruned, early stopped,
    overfitting). A trainer saves its best model to ``checkpoint_path`` in any format its
    own :meth:`Trainer.evaluate` can read back.

    The execution options below are hints a trainer applies where they mean something
    (the engine's torch loop applies all of them; a scikit-learn trainer may ignore them):

    - ``compile``: ``torch.compile`` the model for its training steps (``execution.compile``).
    - ``amp``: bf16 autocast on a CUDA device that supports it (ignored on CPU).
    - ``threads``: torch intra-op threads for this trial (``execution.threads``); ``None``
      leaves the process setting alone.
    - ``data_on_device``: keep the data as tensors on the device for the whole trial
      (``True``), stream it through a DataLoader (``False``), or decide by its size
      (``None``, the default; see :func:`automl.batches.fits_on_device`).
    """

    number: int
    device: str
    seed: int
    max_epochs: int
    checkpoint_path: Path
    restore_best: bool = True
    compile: bool = False
    amp: bool = True
    threads: int | None = None
    data_on_device: bool | None = None
    _judge: Callable[[int, Mapping[str, float]], Decision] | None = field(default=None,
                                                                          repr=False)

    def report(self, epoch: int, metrics: Mapping[str, float]) -> Decision:
        """Report one epoch's metrics and get the engine's decision."""
        if self._judge is None:
            return Decision(improved=True)
        return self._judge(epoch, dict(metrics))


@runtime_checkable
class Trainer(Protocol):
    """What ``register_trainers`` registers.

    Attributes: ``name`` (unique, used in specs), ``tasks`` (the tasks it handles:
    ``classification``, ``regression``) and ``description`` (one line for
    ``automl plugins list``).
    """

    name: str
    tasks: tuple[Task, ...]
    description: str

    def fit(self, params: dict[str, Any], data: TrialData, ctx: TrialContext) -> Mapping[str, Any]:
        """Train one trial. Report each epoch through ``ctx.report`` and obey its decision.

        Returns the final metrics of the kept model (after restoring the best epoch), with
        ``val_`` prefixes, plus ``n_params`` where it means something. Raise
        :class:`automl.errors.TrialFailed` (or any exception) to fail only this trial.
        """
        ...

    def evaluate(self, params: dict[str, Any], checkpoint: Path, split: Split,
                 info: DataInfo) -> Mapping[str, float]:
        """Score the model saved at ``checkpoint`` on ``split``; metric names without prefix."""
        ...
