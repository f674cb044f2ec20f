"""Python warnings (a library's deprecation, a convergence note) as one line each, held
back while a command checks its input.

A command that ends in a clear error prints that error alone: the warnings a library
raised on the way (Optuna deprecating a sampler option the spec then fails on, say) are
dropped, and shown only with ``-v``. Once the checks pass (:func:`release`), the held
warnings are printed and later ones go straight out, one line each and once each,
without the source line Python's default format adds. Nothing here is installed when
automl is used as a library: the application decides what its warnings look like.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from automl.log import get_logger

__all__ = ["discard", "held_back", "one_line", "release", "show_in_worker"]

logger = get_logger(__name__)


def one_line(message: Warning | str, category: type[Warning], filename: str) -> str:
    """``optuna FutureWarning: `gamma` has been deprecated ...``: the package that warned,
    the category and the message's first line."""
    first = (str(message).strip().splitlines() or [""])[0]
    return f"{_package(filename)} {category.__name__}: {first}".lstrip()


def _package(filename: str) -> str:
    parts = Path(filename).parts
    for marker in ("site-packages", "dist-packages"):
        if marker in parts:
            rest = parts[parts.index(marker) + 1:]
            return Path(rest[0]).stem if rest else ""
    return Path(filename).stem


class _Gate:
    """The ``warnings.showwarning`` of a command: holds, then logs, each warning once."""

    def __init__(self) -> None:
        self.holding = False
        self.held: list[str] = []
        self.seen: set[str] = set()

    def show(self, message: Warning | str, category: type[Warning], filename: str,
             lineno: int, file: TextIO | None = None, line: str | None = None) -> None:
        text = one_line(message, category, filename)
        if text in self.seen:
            return
        self.seen.add(text)
        if self.holding:
            self.held.append(text)
        else:
            logger.warning("%s", text)


_gate: _Gate | None = None


@contextmanager
def held_back() -> Iterator[None]:
    """A command's warnings, held from its start (the CLI's error boundary uses this).

    An error of exit code 2 (bad input: an :class:`~automl.errors.AutomlError` or a click
    usage error) drops what was held; any other end prints it. Python's own
    ``showwarning`` is back afterwards.
    """
    global _gate
    previous, outer = warnings.showwarning, _gate
    _gate = _Gate()
    _gate.holding = True
    warnings.showwarning = _gate.show
    try:
        yield
    except Exception as exc:
        if getattr(exc, "exit_code", None) == 2:  # automl's bad input, click's bad usage
            discard()
        raise
    finally:
        release()
        warnings.showwarning, _gate = previous, outer


def release() -> None:
    """The input passed its checks: print what was held, and later warnings as they come.
    A no-op outside :func:`held_back` (automl used as a library)."""
    if _gate is None:
        return
    _gate.holding = False
    held, _gate.held = _gate.held, []
    for text in held:
        logger.warning("%s", text)


def discard() -> None:
    """A clear error ends the command: what was held is noise before it (``-v`` shows it)."""
    if _gate is None:
        return
    held, _gate.held = _gate.held, []
    for text in held:
        logger.debug("held back: %s", text)


def show_in_worker(stream: TextIO | None = None) -> None:
    """A trial worker's warnings, one line each and once each, on its stderr."""
    seen: set[str] = set()

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: TextIO | None = None, line: str | None = None) -> None:
        text = one_line(message, category, filename)
        if text not in seen:
            from automl.redaction import redact_text

            seen.add(text)
            print(f"warning: {redact_text(text)}", file=stream or sys.stderr, flush=True)

    warnings.showwarning = show
