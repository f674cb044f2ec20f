"""Starting automl's own processes (trial workers, the study writer) with ``spawn``.

``spawn`` re-runs the parent's main script in every child, to find what the child may
need from it, so a script that calls ``automl.search`` without an
``if __name__ == "__main__":`` guard would start a search in each worker. automl's
processes run automl's code only (their targets and arguments live in automl's modules),
so the main script is hidden from ``multiprocessing`` while one of them starts.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["start_process"]

_lock = threading.Lock()
_MISSING = object()


@contextlib.contextmanager
def _main_hidden() -> Iterator[None]:
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    saved = {name: getattr(main, name, _MISSING) for name in ("__file__", "__spec__")}
    with _lock:
        try:
            for name, value in saved.items():
                if value is not _MISSING:
                    setattr(main, name, None) if name == "__spec__" else delattr(main, name)
            yield
        finally:
            for name, value in saved.items():
                if value is not _MISSING:
                    setattr(main, name, value)


def start_process(process: Any) -> None:
    """``process.start()``, without the child re-running the parent's main script."""
    with _main_hidden():
        process.start()
