"""Plugin managers: built-ins and installed entry points discovered once per process, then one manager per run.

The process-wide ``pm`` holds the built-in plugins (``plugins.DEFAULT_PLUGINS``), every
installed ``[project.entry-points.seqalpha]`` module, and anything registered on it by hand
(``pm.register(obj)``, the llm/datasette pattern). A run never changes it: ``run_manager``
builds a fresh manager from those plugins plus the run's own (the strategy file's hookimpls,
``--plugins-dir`` files, ``run_backtest(plugins=...)``), so two runs in one process (threads,
a notebook, a Dask worker) cannot see each other's plugins.

Registration hooks are called through pluggy (``tryfirst``, ``trylast`` and wrappers behave
as pluggy documents); the host's ``register`` callback checks names, rejects duplicates
naming both plugins, and records which plugin supplied what.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import sys
import threading
import warnings
from dataclasses import dataclass

import pluggy

from . import hookspecs
from .registry import Registry

ENTRY_POINT_GROUP = "seqalpha"

pm = pluggy.PluginManager("seqalpha")
pm.add_hookspecs(hookspecs)

#: Plugins that failed to import: name -> error message (reported, never fatal).
load_errors: dict[str, str] = {}
_lock = threading.RLock()
_loaded = False


class PluginLoadWarning(UserWarning):
    """A plugin could not be imported; the others still work."""


def _register_module(module_name: str, plugin_name: str) -> None:
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # a broken plugin must not take the others down
        load_errors[plugin_name] = f"{type(exc).__name__}: {exc}"
        warnings.warn(f"seqalpha plugin {plugin_name!r} ({module_name}) failed to import: {exc}", PluginLoadWarning,
                      stacklevel=3)
        return
    if pm.get_plugin(plugin_name) is None and not pm.is_registered(module):
        pm.register(module, name=plugin_name)


def load_plugins() -> pluggy.PluginManager:
    """Register the built-ins (DEFAULT_PLUGINS) then every installed entry point on ``pm``, once per process."""
    global _loaded
    with _lock:
        if not _loaded:
            _loaded = True
            from plugins import DEFAULT_PLUGINS

            for module_name in DEFAULT_PLUGINS:
                _register_module(module_name, module_name)
            for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
                _register_module(ep.value, ep.name)
    return pm


def run_manager(*extra: object) -> pluggy.PluginManager:
    """A new manager for one run: the process-wide plugins, then ``extra`` plugin objects (modules or classes
    with @hookimpl functions) registered on it only."""
    load_plugins()
    manager = pluggy.PluginManager("seqalpha")
    manager.add_hookspecs(hookspecs)
    with _lock:
        shared = pm.list_name_plugin()
    for name, plugin in shared:
        if plugin is not None:  # None marks a blocked name
            manager.register(plugin, name=name)
    for plugin in extra:
        if manager.is_registered(plugin):
            continue
        name = getattr(plugin, "__name__", None) or repr(plugin)
        manager.register(plugin, name=name if manager.get_plugin(name) is None else f"{name}@{id(plugin):x}")
    return manager


@dataclass
class Registries:
    """Everything the plugins of one manager supplied."""

    models: Registry
    portfolios: Registry
    data_sources: Registry
    features: Registry


def _supplier(codes: dict, depth: int = 2) -> str:
    """The plugin whose hookimpl is calling ``register``: the nearest frame running one of its functions."""
    frame = sys._getframe(depth)
    while frame is not None:
        name = codes.get(frame.f_code)
        if name is not None:
            return name
        frame = frame.f_back
    return "<unknown plugin>"


def _collect(manager: pluggy.PluginManager, hook_name: str, registry: Registry) -> Registry:
    caller = getattr(manager.hook, hook_name)
    registry.order = {name: k for k, (name, _) in enumerate(manager.list_name_plugin())}
    codes = {getattr(impl.function, "__code__", None): impl.plugin_name for impl in caller.get_hookimpls()}

    def register(name, factory):
        registry.register(name, factory, _supplier(codes))

    caller(register=register)
    return registry


def collect_registries(manager: pluggy.PluginManager | None = None) -> Registries:
    """Ask every plugin of ``manager`` (default: a fresh run manager) to register what it supplies."""
    manager = manager if manager is not None else run_manager()
    return Registries(
        models=_collect(manager, "register_models", Registry("model")),
        portfolios=_collect(manager, "register_portfolios", Registry("portfolio")),
        data_sources=_collect(manager, "register_data_sources", Registry("data source")),
        features=_collect(manager, "register_features", Registry("feature set")),
    )


def list_plugins(manager: pluggy.PluginManager | None = None) -> list[tuple[str, str]]:
    """(plugin name, module name) of every plugin, in registration order."""
    manager = manager if manager is not None else run_manager()
    return [(name, getattr(p, "__name__", "?")) for name, p in manager.list_name_plugin() if p is not None]
