"""Key paths into a spec, words for messages, and errors located at a key path.

A key path is a tuple of mapping keys (str) and list indices (int), for example
``("params", "conv", "params", "channels", "low")``. Users see it dotted:
``params.conv.params.channels.low``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

from automl.errors import SpecError
from automl.hints import did_you_mean

if TYPE_CHECKING:
    from automl.spec.yaml_loader import LineMap

__all__ = ["KeyPath", "Locator", "as_path", "did_you_mean", "format_path", "parse_path",
           "quote_list"]

KeyPath: TypeAlias = tuple[Any, ...]


def format_path(path: Sequence[Any]) -> str:
    """Dotted form of a key path: ``("enqueue", 0, "lr")`` -> ``"enqueue.0.lr"``."""
    return ".".join(str(part) for part in path)


def parse_path(text: str) -> KeyPath:
    """Inverse of :func:`format_path`; all-digit parts become list indices (ints)."""
    return tuple(int(part) if part.isdigit() else part for part in text.split("."))


def as_path(path: Sequence[Any] | str) -> KeyPath:
    """Accept a key path either dotted or as a sequence."""
    if isinstance(path, str):
        return parse_path(path) if path else ()
    return tuple(path)


def quote_list(items: Iterable[object]) -> str:
    """``a, b, c`` for listing valid keys or choices in a message."""
    return ", ".join(str(item) for item in items)


class Locator:
    """Builds SpecErrors that point at the file and line of a key path.

    Values that came from a ``--set a.b=v`` override have no line: their errors name the
    override instead, because that is where the user has to fix them.
    """

    def __init__(self, file: str | None = None, lines: LineMap | None = None) -> None:
        from automl.spec.yaml_loader import LineMap  # yaml_loader imports this module

        self.file = file
        self.lines = lines if lines is not None else LineMap()

    def error(self, path: Sequence[Any] | str, message: str) -> SpecError:
        """A SpecError for ``message`` at ``path`` (dotted string or key-path tuple)."""
        key = as_path(path)
        override = self.lines.override_for(key)
        if override is not None:
            label = "--set " + format_path(override)
            if override == key:
                return SpecError(message, path=label)
            return SpecError(message, file=label, path=format_path(key))
        return SpecError(
            message, file=self.file, path=format_path(key) or None, line=self.lines.line(key)
        )


def show(value: Any) -> str:
    """A value as the user wrote it in YAML, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return str(value)
