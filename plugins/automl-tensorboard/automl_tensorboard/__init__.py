"""The ``tensorboard`` tracker: each trial's learning curves and hparams as event files.

One folder per trial (``<dir>/trial_N``) with a scalar per epoch metric (step = epoch) and,
at the trial's end, its best epoch's metrics as ``final/<metric>`` and an HParams summary
of its params against those metrics. Files are written with
:class:`torch.utils.tensorboard.SummaryWriter`: torch comes with automl, and it needs
nothing but the ``tensorboard`` package.

Spec::

    tracking: [{name: tensorboard, dir: runs/iris}]

``dir`` defaults to ``<report dir>/tensorboard``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl.errors import UsageError
from automl.plugin import (
    RegisterTracker,
    Tracker,
    TrackerPlugin,
    TrackingContext,
    check_options,
    hookimpl,
)
from automl.plugin import flatten_params as flatten

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

__all__ = ["OPTIONS", "TensorBoardTracker", "flatten", "open_tracker", "register_trackers"]

#: The options a spec's ``tracking: [{name: tensorboard, ...}]`` entry takes.
OPTIONS = ("dir",)


def _number(value: Any) -> float | None:
    """``value`` as a finite float, or ``None`` (a NaN would break TensorBoard's charts)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _hparam(value: Any) -> bool:
    """Whether the HParams plugin takes ``value`` (a list or ``None`` it does not)."""
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, bool | int | str)


class TensorBoardTracker(Tracker):
    """Writes a search run's trials as TensorBoard runs (see the module docstring).

    Args:
        root: the folder the ``trial_N`` folders go in.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._writers: dict[int, SummaryWriter] = {}  # trial number -> its open writer
        self._params: dict[int, dict[str, Any]] = {}  # trial number -> its flat params

    def trial_started(self, number: int, params: Mapping[str, Any]) -> None:
        """Open the trial's writer (its folder and event file)."""
        self._params[number] = flatten(params)
        self._writer(number)

    def epoch_finished(self, number: int, epoch: int, metrics: Mapping[str, float]) -> None:
        """A scalar per metric at ``step=epoch``; with folds, as ``fold_K/<metric>``."""
        writer = self._writer(number)
        fold = _number(metrics.get("fold"))
        prefix = f"fold_{int(fold)}/" if fold is not None else ""
        for key, value in metrics.items():
            number_ = _number(value)
            if key not in ("fold", "epoch") and number_ is not None:
                writer.add_scalar(f"{prefix}{key}", number_, epoch)

    def trial_finished(self, number: int, state: str, values: list[float] | None,
                       attrs: Mapping[str, Any]) -> None:
        """The best epoch's metrics as ``final/<metric>``, the HParams summary, and the
        writer flushed and closed."""
        from torch.utils.tensorboard.summary import hparams

        writer = self._writer(number)
        params = self._params.pop(number, None)
        if params is None:  # a trial whose start this tracker did not see
            params = flatten(attrs.get("params") or {})
        step = attrs.get("best_epoch")
        step = step if isinstance(step, int) and not isinstance(step, bool) else 0
        final: dict[str, float] = {}
        for key, value in (attrs.get("metrics") or {}).items():
            number_ = _number(value)
            if number_ is not None:
                final[f"final/{key}"] = number_
        hparam_dict = {k: v for k, v in params.items() if _hparam(v)}
        experiment, start, end = hparams(hparam_dict, final)
        if state == "failed":
            _mark_failed(end)
        try:
            for summary in (experiment, start, end):
                writer.file_writer.add_summary(summary)
            # the HParams tab reads each metric's latest scalar in the run
            for tag, value in final.items():
                writer.add_scalar(tag, value, step)
        finally:
            self._writers.pop(number, None)
            writer.close()  # flushes

    def close(self) -> None:
        """Flush and close the writers of trials that did not finish (Ctrl-C, an error)."""
        writers, self._writers = self._writers, {}
        for writer in writers.values():
            writer.close()

    def _writer(self, number: int) -> SummaryWriter:
        writer = self._writers.get(number)
        if writer is None:
            from torch.utils.tensorboard import SummaryWriter

            writer = self._writers[number] = SummaryWriter(log_dir=str(self.root /
                                                                       f"trial_{number}"))
        return writer


def _mark_failed(end: Any) -> None:
    """Set the session-end summary's status (torch always writes success) to failure."""
    from tensorboard.plugins.hparams.api_pb2 import Status
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

    plugin_data = end.value[0].metadata.plugin_data
    content = HParamsPluginData.FromString(plugin_data.content)
    content.session_end_info.status = Status.Value("STATUS_FAILURE")
    plugin_data.content = content.SerializeToString()


def open_tracker(options: dict[str, Any], ctx: TrackingContext) -> TensorBoardTracker:
    """The ``tensorboard`` tracker for one search run.

    Raises:
        UsageError: an unknown option or a bad ``dir`` (the search stops with exit 2).
    """
    check_options(options, OPTIONS)
    folder = options.get("dir")
    if folder is None:
        root = Path(ctx.report_dir, "tensorboard")
    elif isinstance(folder, str | Path) and str(folder).strip():
        root = Path(folder).expanduser()
    else:
        raise UsageError(f"option 'dir' must be a folder path, got {folder!r}")
    if root.exists() and not root.is_dir():
        raise UsageError(f"option 'dir': {root} is a file, not a folder")
    # Fail here, before any trial, if the event files cannot be written (and torch or
    # tensorboard is missing): the search then runs without this tracker.
    import torch.utils.tensorboard  # noqa: F401

    root.mkdir(parents=True, exist_ok=True)
    return TensorBoardTracker(root)


@hookimpl
def register_trackers(register: RegisterTracker) -> None:
    """Register the ``tensorboard`` tracker."""
    register(TrackerPlugin("tensorboard", open_tracker,
                           "TensorBoard: each trial's learning curves and hparams"))
