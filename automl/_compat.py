"""Import paths of automl 0.1 that moved, kept working with a ``DeprecationWarning``.

Every module below was a file in automl 0.1; its names now live where the right-hand
side says (the first module holding a name wins). ``import automl.torch`` or
``from automl.trainer import TrialContext`` still work: an import hook made here builds
the old module on demand, warns once that it moved, and hands out the names from their
new homes. So a plugin written against automl 0.1 runs unchanged, while the package's
files show only the current layout. New code imports from :mod:`automl.plugin` (plugin
authors) or from the new modules.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType
from typing import Any

# old module -> (the modules its names now live in, renamed names: old -> new)
MOVED: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "automl.plugins": (("automl.plugin.host",), {}),
    "automl.hookspecs": (("automl.plugin.hookspecs",), {}),
    "automl.trainer": (("automl.plugin.trainer",), {}),
    "automl.algorithms": (("automl.plugin.algorithms", "automl.engine.algorithms"), {}),
    "automl.testing": (("automl.plugin.testing", "automl.plugin.trainer"),
                       {"TASK_METRIC": "TASK_METRICS"}),
    "automl.plugin_docs": (("automl.plugin.docs",), {}),
    "automl.scaffold": (("automl.plugin.scaffold",), {}),
    "automl.torch": (("automl.training", "automl.training.trainer", "automl.training.steps",
                      "automl.training.predictor", "automl.training.loop"), {}),
    "automl.batches": (("automl.training.feeds",), {}),
    "automl.stopping": (("automl.engine.stopping", "automl.plugin.trainer"), {}),
    "automl.judge": (("automl.engine.supervisor",), {"TrialJudge": "TrialSupervisor"}),
    "automl.controller": (("automl.engine.controller", "automl.engine.components",
                           "automl.engine.interrupts"), {}),
    "automl.space": (("automl.engine.space",), {}),
    "automl.components": (("automl.engine.components",), {}),
    "automl.studies": (("automl.engine.studies", "automl.engine.keys"),
                       {"ATTR": "STUDY_RECORD", "RESULT": "TRIAL_RESULT"}),
    "automl.evaluation": (("automl.engine.finish", "automl.execution.messages",
                           "automl.engine.keys"), {"attr_key": "test_metrics_key"}),
    "automl.pool": (("automl.execution.process_pool", "automl.execution.inline_pool",
                     "automl.execution.pool", "automl.execution.messages"), {}),
    "automl.worker": (("automl.execution.worker", "automl.execution.runner",
                       "automl.execution.messages", "automl.plugin.trainer"),
                      {"Judge": "Reporter"}),
    "automl.devices": (("automl.execution.devices",), {}),
    "automl.checkpoints": (("automl.reports.artifacts",), {}),
    "automl.progress": (("automl.cli.progress",), {}),
    "automl.cli.plugins": (("automl.cli.plugin_commands",), {}),
}


class _MovedModule(ModuleType):
    """An automl 0.1 module: its names, looked up where they live now."""

    def __init__(self, name: str, targets: tuple[str, ...], renames: dict[str, str]) -> None:
        super().__init__(name, f"Deprecated: moved to {', '.join(targets)}.")
        self._targets = targets
        self._renames = renames

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        wanted = self._renames.get(name, name)
        for target in self._targets:
            module = importlib.import_module(target)
            if hasattr(module, wanted):
                return getattr(module, wanted)
        raise AttributeError(f"module {self.__name__!r} has no attribute {name!r} (it moved "
                             f"to {', '.join(self._targets)})")

    def __dir__(self) -> list[str]:
        names = set(self._renames)
        for target in self._targets:
            names |= {n for n in dir(importlib.import_module(target)) if not n.startswith("_")}
        return sorted(names)


class _MovedFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds the modules of :data:`MOVED` (and only those)."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None
                  ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        targets, renames = MOVED[spec.name]
        return _MovedModule(spec.name, targets, renames)

    def exec_module(self, module: ModuleType) -> None:
        targets = MOVED[module.__name__][0]
        warnings.warn(f"{module.__name__} moved to {targets[0]}; plugins import from "
                      "automl.plugin (the old path keeps working for now)",
                      DeprecationWarning, stacklevel=_caller_level())


def _caller_level() -> int:
    """The stack level of the first frame outside the import machinery, so the warning
    points at the ``import`` line."""
    frame, level = sys._getframe(1), 1
    while frame is not None and (frame.f_code.co_filename.startswith("<frozen")
                                 or frame.f_code.co_filename in (__file__, importlib.__file__)):
        frame, level = frame.f_back, level + 1  # type: ignore[assignment]
    return level


def install() -> None:
    """Put the finder in front of the import system (once)."""
    if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _MovedFinder())
