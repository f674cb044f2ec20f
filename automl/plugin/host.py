"""The plugin host: loads the ``automl`` entry-point group and owns the registries.

Built-in plugins are found exactly like third-party ones, through entry points. Every
hook is called through pluggy's hook callers, so hook wrappers and pluggy's tracing see
every call. A registration hook is called once per implementing plugin (with that
plugin's implementation alone, and every wrapper), with a ``register`` callback that knows
which plugin is calling, so a duplicate name is an error naming both plugins. Plugins are
loaded in a sorted order, and the order never decides who wins.

``AUTOML_TRACE_PLUGINS=1`` logs every hook call and result (pluggy's hook tracing) at
debug level (``automl -v ...`` shows them).
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Generic, TypeVar

import pluggy

from automl.data import DatasetLoader
from automl.errors import PluginError
from automl.hints import did_you_mean
from automl.log import get_logger
from automl.plugin import hookspecs
from automl.plugin.algorithms import PrunerPlugin, SamplerPlugin
from automl.plugin.tracking import TrackerPlugin
from automl.plugin.trainer import Trainer

logger = get_logger(__name__)

ENTRY_POINT_GROUP = "automl"

T = TypeVar("T")


@dataclass
class PluginInfo:
    """One loaded (or failed) plugin, for ``automl plugins list``."""

    name: str
    module: str
    distribution: str | None = None
    version: str | None = None
    error: str | None = None
    provides: dict[str, list[str]] = field(default_factory=dict)


class Registry(Generic[T]):
    """Name → object, remembering which plugin registered each name."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, tuple[T, str]] = {}

    def add(self, name: str, obj: T, plugin: str) -> None:
        if not isinstance(name, str) or not name:
            raise PluginError(f"plugin {plugin!r} registered a {self.kind} without a name")
        if name in self._items:
            other = self._items[name][1]
            raise PluginError(
                f"{self.kind} {name!r} is registered by two plugins: {other!r} and {plugin!r}; "
                f"uninstall or block one of them (AUTOML_PLUGINS / AUTOML_BLOCK_PLUGINS)"
            )
        self._items[name] = (obj, plugin)

    def get(self, name: str) -> T:
        """The object registered as ``name``; a :class:`KeyError` with a hint otherwise."""
        try:
            return self._items[name][0]
        except KeyError:
            raise KeyError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        known = ", ".join(sorted(self._items)) or "none installed"
        return f"unknown {self.kind} {name!r}{did_you_mean(name, self._items)}; known: {known}"

    def provider(self, name: str) -> str:
        return self._items[name][1]

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[tuple[str, T, str]]:
        for name in sorted(self._items):
            obj, plugin = self._items[name]
            yield name, obj, plugin

    def __len__(self) -> int:
        return len(self._items)


def _split_env(var: str) -> set[str] | None:
    raw = os.environ.get(var)
    if raw is None:
        return None
    return {p.strip() for p in raw.split(",") if p.strip()}


class PluginHost:
    """Loads plugins and collects what they register.

    Args:
        entry_points: load the ``automl`` entry-point group (off in some tests).
        allow: only these plugin names (default: ``AUTOML_PLUGINS``, comma-separated).
        block: never these plugin names (default: ``AUTOML_BLOCK_PLUGINS``).
    """

    def __init__(self, *, entry_points: bool = True, allow: Iterable[str] | None = None,
                 block: Iterable[str] | None = None) -> None:
        self.pm = pluggy.PluginManager("automl")
        self.pm.add_hookspecs(hookspecs)
        if os.environ.get("AUTOML_TRACE_PLUGINS", "") not in ("", "0"):
            self.pm.trace.root.setwriter(lambda line: logger.debug("%s", line.rstrip()))
            self.pm.enable_tracing()
        self.plugins: dict[str, PluginInfo] = {}
        self.trainers: Registry[Trainer] = Registry("trainer")
        self.datasets: Registry[DatasetLoader] = Registry("dataset")
        self.samplers: Registry[SamplerPlugin] = Registry("sampler")
        self.pruners: Registry[PrunerPlugin] = Registry("pruner")
        self.trackers: Registry[TrackerPlugin] = Registry("tracker")
        self._allow = set(allow) if allow is not None else _split_env("AUTOML_PLUGINS")
        self._block = set(block) if block is not None else (_split_env("AUTOML_BLOCK_PLUGINS")
                                                            or set())
        self._collected = False
        if entry_points:
            self.load_entry_points()
            self.load_modules(_split_env("AUTOML_PLUGIN_MODULES") or ())

    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> None:
        """Import and register every entry point of ``group``; a broken one is skipped."""
        eps = sorted(md.entry_points(group=group), key=lambda e: e.name)
        for ep in eps:
            if ep.name in self.plugins or self._skipped(ep.name):
                continue
            dist = getattr(ep, "dist", None)
            info = PluginInfo(name=ep.name, module=ep.value,
                              distribution=dist.name if dist else None,
                              version=dist.version if dist else None)
            try:
                module = ep.load()
            except Exception as exc:  # noqa: BLE001 - any import failure skips only this plugin
                info.error = f"{type(exc).__name__}: {exc}"
                logger.warning("plugin %r (%s) failed to import and is skipped: %s",
                               ep.name, ep.value, info.error)
                self.plugins[ep.name] = info
                continue
            self._register(module, info)

    def load_modules(self, modules: Iterable[str]) -> None:
        """Import and register plugin modules by name, without packaging them (like pytest's
        ``-p``); ``AUTOML_PLUGIN_MODULES=a.b,c`` does this for every automl process,
        trial workers included. A module that fails to import is reported and skipped."""
        for module_name in sorted(modules):
            if module_name in self.plugins or self._skipped(module_name):
                continue
            info = PluginInfo(name=module_name, module=module_name)
            try:
                module = importlib.import_module(module_name)
            except Exception as exc:  # noqa: BLE001 - skip only this plugin
                info.error = f"{type(exc).__name__}: {exc}"
                logger.warning("plugin module %r failed to import and is skipped: %s",
                               module_name, info.error)
                self.plugins[module_name] = info
                continue
            self._register(module, info)

    def register(self, plugin: ModuleType | object, name: str | None = None) -> str:
        """Register a module or object holding ``@hookimpl`` functions (tests, apps)."""
        name = name or getattr(plugin, "__name__", None) or f"plugin-{id(plugin)}"
        self._register(plugin, PluginInfo(name=name, module=getattr(plugin, "__name__", name)))
        return name

    def _skipped(self, name: str) -> bool:
        return name in self._block or (self._allow is not None and name not in self._allow)

    def _register(self, plugin: Any, info: PluginInfo) -> None:
        if self._collected:
            raise PluginError(f"plugin {info.name!r} registered after the registries were built")
        self.pm.register(plugin, name=info.name)
        self.plugins[info.name] = info

    def collect(self) -> PluginHost:
        """Call the registration hooks once; later calls do nothing."""
        if self._collected:
            return self
        self._collected = True
        self.pm.check_pending()
        self._call_register_hook("register_trainers", self.trainers)
        self._call_register_hook("register_datasets", self.datasets)
        self._call_register_hook("register_samplers", self.samplers)
        self._call_register_hook("register_pruners", self.pruners)
        self._call_register_hook("register_trackers", self.trackers)
        return self

    def _callers(self, hook_name: str) -> Iterator[tuple[str, pluggy.HookCaller]]:
        """``(plugin name, hook caller)`` for each plugin implementing ``hook_name``, in
        name order: a caller with that plugin's implementation, and every wrapper."""
        impls = getattr(self.pm.hook, hook_name).get_hookimpls()
        plain = [i for i in impls if not (i.hookwrapper or i.wrapper)]
        for impl in sorted(plain, key=lambda i: i.plugin_name):
            others = [i.plugin for i in plain if i.plugin is not impl.plugin]
            yield impl.plugin_name, self.pm.subset_hook_caller(hook_name, others)

    def _call_register_hook(self, hook_name: str, registry: Registry[Any]) -> None:
        for plugin, caller in self._callers(hook_name):

            def register(obj: Any, _plugin: str = plugin) -> None:
                registry.add(getattr(obj, "name", None), obj, _plugin)  # type: ignore[arg-type]
                provides = self.plugins[_plugin].provides.setdefault(registry.kind, [])
                provides.append(obj.name)

            try:
                caller(register=register)
            except PluginError:
                raise
            except Exception as exc:
                raise PluginError(f"plugin {plugin!r} raised in {hook_name}: "
                                  f"{type(exc).__name__}: {exc}") from exc

    def notify(self, hook_name: str, disabled: set[str] | None = None, **kwargs: Any) -> None:
        """Call an observer hook, each plugin on its own: one plugin's exception is logged
        with its name and does not keep the others from being called.

        ``disabled`` (the caller's, one per search run): plugins in it are skipped, and a
        plugin that raises is added to it, so a broken observer is logged once and then
        left alone instead of failing, and logging, at every epoch."""
        for plugin, caller in self._callers(hook_name):
            if disabled is not None and plugin in disabled:
                continue
            try:
                caller(**kwargs)
            except Exception as exc:  # noqa: BLE001 - observers never stop a study
                off = ""
                if disabled is not None:
                    disabled.add(plugin)
                    off = "; its observer hooks are off for the rest of this run"
                logger.warning("plugin %r raised in %s: %s: %s%s", plugin, hook_name,
                               type(exc).__name__, exc, off)

    def trainer(self, name: str) -> Trainer:
        return self.collect().trainers.get(name)

    def dataset(self, name: str) -> DatasetLoader:
        return self.collect().datasets.get(name)


_default: PluginHost | None = None


def get_plugin_host() -> PluginHost:
    """The process-wide host, loaded on first use."""
    global _default
    if _default is None:
        _default = PluginHost().collect()
    return _default


def reset_plugin_host() -> None:
    """Forget the process-wide host (tests; after installing a plugin)."""
    global _default
    _default = None


