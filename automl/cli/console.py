"""One terminal console for the CLI's tables."""

from __future__ import annotations

from rich.console import Console


def console() -> Console:
    """A rich console; wide when not a terminal, so piped tables are not cut to 80 columns."""
    c = Console(highlight=False)
    return c if c.is_terminal else Console(highlight=False, width=240)
