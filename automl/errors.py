"""Error types, caught at one boundary (the CLI), which turns each into a line and an exit code."""

from __future__ import annotations


class AutomlError(Exception):
    """Base class of every error automl raises on purpose."""

    exit_code = 1


class SpecError(AutomlError):
    """A search-space file (or a command-line override of it) is invalid.

    The message is complete and user-facing: ``file:line: key.path: what was expected``.
    """

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        path: str | None = None,
        line: int | None = None,
    ) -> None:
        self.file = file
        self.path = path
        self.line = line
        self.detail = message
        super().__init__(self._format())

    def _format(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "") + ": "
        elif self.line:
            where = f"line {self.line}: "
        key = f"{self.path}: " if self.path else ""
        return f"{where}{key}{self.detail}"


class UsageError(AutomlError):
    """A bad command: an unknown study, a missing file, a bad option value."""

    exit_code = 2


class PluginError(AutomlError):
    """A plugin is broken or conflicts with another (for example two trainers with one name)."""

    exit_code = 2


class StorageError(AutomlError):
    """The storage cannot be opened or read at run time: a server that does not answer, a
    damaged database file (exit 1; a bad URL is a :class:`UsageError`, exit 2)."""


class DataError(AutomlError):
    """A dataset cannot be loaded or split as asked."""

    exit_code = 2


class TrialFailed(Exception):  # noqa: N818 - the name reads as the event it signals
    """Raised inside a trial to fail that trial (and only it) with a reason; the study goes on."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class ContractError(AssertionError):
    """A plugin breaks a promise automl relies on; the message says which (raised by the
    contract checks of :mod:`automl.plugin.testing`; an ``AssertionError``, so pytest
    shows it as a failed assertion)."""
