"""Durations as people write them: ``90`` (seconds), ``90s``, ``20m``, ``1h30m``, ``1.5h``."""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["parse_duration"]

_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([dhms])")
_WHOLE = re.compile(r"^\s*(?:(?:\d+(?:\.\d*)?|\.\d+)\s*[dhms]\s*)+$")


def parse_duration(value: Any) -> float | None:
    """Seconds as a float (``None`` stays ``None``); ValueError with the accepted forms otherwise.

    Units go from the largest down, each at most once (``1h30m``, not ``30m1h``).
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(_bad(value))
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = _from_text(value)
    else:
        raise ValueError(_bad(value))
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"a duration must be positive, got {value!r}")
    return seconds


def _from_text(text: str) -> float:
    stripped = text.strip()
    try:
        return float(stripped)
    except ValueError:
        pass
    if not _WHOLE.match(stripped):
        raise ValueError(_bad(text))
    parts = _PART.findall(stripped)
    order = [unit for _, unit in parts]
    ranks = [list(_UNITS).index(unit) for unit in order]
    if ranks != sorted(set(ranks)):
        raise ValueError(_bad(text) + "; give each unit once, largest first")
    return sum(float(number) * _UNITS[unit] for number, unit in parts)


def _bad(value: Any) -> str:
    return f"expected a duration such as 90s, 20m, 1h30m, 2h or a number of seconds, got {value!r}"
