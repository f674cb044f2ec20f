"""'Did you mean' hints for misspelled names and keys."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(name: object, candidates: Iterable[object]) -> str:
    """``" (did you mean 'x'?)"`` for the closest candidate, or ``""`` when none is close."""
    close = difflib.get_close_matches(str(name), [str(c) for c in candidates], n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
