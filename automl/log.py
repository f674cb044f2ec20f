"""The library logger (Optuna's pattern): the engine logs, only the CLI decides where it goes."""

from __future__ import annotations

import logging

_ROOT = "automl"


def get_logger(name: str) -> logging.Logger:
    """Return a child of the ``automl`` logger for a module (pass ``__name__``)."""
    if not name.startswith(_ROOT):
        name = f"{_ROOT}.{name}"
    return logging.getLogger(name)


class _Formatter(logging.Formatter):
    """Plain messages for INFO, a lowercase level prefix otherwise (``warning: ...``)."""

    def format(self, record: logging.LogRecord) -> str:
        from automl.redaction import redact_text

        # A message (or a driver's error in it) may quote a storage URL: never its password.
        msg = redact_text(super().format(record))
        return msg if record.levelno == logging.INFO else f"{record.levelname.lower()}: {msg}"


def configure(verbosity: int = 0) -> None:
    """Send automl's log records to stderr (called by the CLI, never by the library)."""
    root = logging.getLogger(_ROOT)
    if any(getattr(h, "_automl", False) for h in root.handlers):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(_Formatter())
    handler._automl = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbosity > 0 else logging.INFO)
