"""How trials train: the spec's execution options, as one frozen object.

It is built once from the spec (:meth:`ExecutionOptions.from_spec`) and travels as it is
to each worker, into every trial's context, the test evaluation and the refit, so that no
path can lose a field on the way.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

__all__ = ["ExecutionOptions"]


@dataclass(frozen=True)
class ExecutionOptions:
    """Hints a trainer applies where they mean something (the engine's torch loop applies
    all of them; a scikit-learn trainer may ignore them).

    - ``compile``: ``torch.compile`` the model for its training steps.
    - ``amp``: bf16 autocast on a CUDA device that supports it (ignored on CPU).
    - ``threads``: torch intra-op threads per trial; ``None`` leaves the process setting
      (the engine sets one per worker from the cores it has).
    - ``data_on_device``: keep the data as tensors on the device for the whole trial
      (``True``), stream it through a DataLoader (``False``), or decide by its size
      (``None``; see :func:`automl.training.feeds.fits_on_device`).
    """

    compile: bool = False
    amp: bool = True
    threads: int | None = None
    data_on_device: bool | None = None

    @classmethod
    def from_spec(cls, execution: Any) -> ExecutionOptions:
        """The options of a spec's ``execution`` section (every field of this class is a
        key there of the same name)."""
        return cls(**{f.name: getattr(execution, f.name) for f in fields(cls)})

    def with_threads(self, threads: int | None) -> ExecutionOptions:
        """These options for a worker given ``threads`` cores (kept when ``None``)."""
        return self if threads is None else replace(self, threads=threads)
