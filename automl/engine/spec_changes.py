"""What changed in a spec since its study began, and whether a resumed study may take it.

A study's trials are only comparable if they were sampled from one space, trained on one
split of one dataset and scored by one objective: an edit to any of those in a study that
already has trials would mix two experiments under one leaderboard, so it is refused. The
budget, where and how fast the trials run, and what the reports show may change at any time
(``--trials 100`` to extend a study is the common case): those edits are applied and said.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from automl.errors import UsageError

__all__ = ["SpecChange", "check_resumed_spec", "spec_changes"]

# Sections (or single keys) a resumed study may change. budget.max_epochs is not among them:
# the pruner and the leaderboard compare trials epoch by epoch, on one epoch budget.
SAFE_KEYS: tuple[str, ...] = ("budget.trials", "budget.timeout", "budget.no_improvement_trials",
                              "budget.target", "budget.max_failures", "budget.total_epochs",
                              "execution", "report", "ensemble", "tracking")
_SHOWN = 6  # changes listed in one error line; the rest are counted


@dataclass(frozen=True)
class SpecChange:
    """One key whose value differs between the stored spec and the current one."""

    path: str
    old: Any
    new: Any

    @property
    def safe(self) -> bool:
        """Whether a study that already has trials may take this change."""
        return any(self.path == key or self.path.startswith(key + ".") for key in SAFE_KEYS)

    def __str__(self) -> str:
        return f"{self.path}: {_show(self.old)} -> {_show(self.new)}"


def _show(value: Any) -> str:
    if value is _MISSING:
        return "(absent)"
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


class _Missing:
    def __repr__(self) -> str:
        return "(absent)"


_MISSING: Any = _Missing()


def _plain(data: Any) -> Any:
    # The stored spec went through JSON (tuples became lists, odd values strings): compare
    # the current one in the same form.
    return json.loads(json.dumps(data, default=str))


def spec_changes(stored: Mapping[str, Any], current: Mapping[str, Any]) -> list[SpecChange]:
    """Every leaf key whose value differs, as dotted paths (list items by index).

    A top-level section that the stored spec lacks (a study begun by an older automl) is not a
    change: its trials ran with that section's defaults.
    """
    changes: list[SpecChange] = []
    old_data, new_data = _plain(dict(stored)), _plain(dict(current))
    for key in new_data:
        if key in old_data:
            _walk(old_data[key], new_data[key], key, changes)
    return changes


def _walk(old: Any, new: Any, path: str, out: list[SpecChange]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in [*old, *(k for k in new if k not in old)]:
            _walk(old.get(key, _MISSING), new.get(key, _MISSING), f"{path}.{key}", out)
    elif old != new and not (_is_nan(old) and _is_nan(new)):
        out.append(SpecChange(path, old, new))


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and value != value


def check_resumed_spec(study: str, stored: Mapping[str, Any], current: Mapping[str, Any],
                       ) -> list[SpecChange]:
    """The safe changes a resumed ``study`` takes; any other change is a :class:`UsageError`.

    ``stored`` is the spec the study was created with (its record), ``current`` the spec of
    this run (after ``--set`` and the command line's options).
    """
    changes = spec_changes(stored, current)
    refused = [c for c in changes if not c.safe]
    if refused:
        listed = "; ".join(str(c) for c in refused[:_SHOWN])
        more = f" (and {len(refused) - _SHOWN} more)" if len(refused) > _SHOWN else ""
        raise UsageError(
            f"study {study!r} was begun with another spec, and its trials would no longer "
            f"compare: {listed}{more}. Only the budget (but max_epochs), execution, report "
            f"and ensemble may change on resume: undo the edit, or start another study "
            f"with --study NEW")
    return changes
