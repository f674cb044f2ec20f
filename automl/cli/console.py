"""One terminal console for the CLI's tables."""

from __future__ import annotations

from rich.console import Console


def console() -> Console:
    """A rich console; wide when not a terminal, so piped tables are not cut to 80 columns.

    Markup is off: what is printed is mostly the user's own strings (choices, study names,
    dataset columns), and ``[/x]`` in one would crash rich, ``[bold]`` vanish. Style goes
    through ``style=`` arguments and :class:`rich.text.Text`, never through markup.
    """
    c = Console(highlight=False, markup=False)
    return c if c.is_terminal else Console(highlight=False, markup=False, width=240)
