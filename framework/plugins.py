"""The plugin manager: built-ins, installed entry points and per-run hookimpls, all through one set of hooks."""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType

import pluggy

from . import hookspecs
from .registry import Registry

ENTRY_POINT_GROUP = "seqalpha"

pm = pluggy.PluginManager("seqalpha")
pm.add_hookspecs(hookspecs)

#: Plugins that failed to import: name -> error message (reported, never fatal).
load_errors: dict[str, str] = {}
_loaded = False


class PluginLoadWarning(UserWarning):
    """A plugin could not be imported; the others still work."""


def _register_module(module_name: str, plugin_name: str) -> None:
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # a broken plugin must not take the others down
        load_errors[plugin_name] = f"{type(exc).__name__}: {exc}"
        warnings.warn(f"seqalpha plugin {plugin_name!r} ({module_name}) failed to import: {exc}", PluginLoadWarning, stacklevel=3)
        return
    if pm.get_plugin(plugin_name) is None and not pm.is_registered(module):
        pm.register(module, name=plugin_name)


def load_plugins() -> pluggy.PluginManager:
    """Register the built-ins (DEFAULT_PLUGINS) then every installed entry point, once per process."""
    global _loaded
    if _loaded:
        return pm
    _loaded = True
    from plugins import DEFAULT_PLUGINS

    for module_name in DEFAULT_PLUGINS:
        _register_module(module_name, module_name)
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        _register_module(ep.value, ep.name)
    return pm


@contextlib.contextmanager
def temporary_plugins(*modules: ModuleType | object) -> Iterator[None]:
    """Register plugin objects (a strategy module, a --plugins-dir file) for one run, then remove them."""
    load_plugins()
    added = []
    try:
        for module in modules:
            if not pm.is_registered(module):
                name = getattr(module, "__name__", None) or repr(module)
                if pm.get_plugin(name) is not None:
                    name = f"{name}@{id(module):x}"
                pm.register(module, name=name)
                added.append(module)
        yield
    finally:
        for module in added:
            pm.unregister(module)


@dataclass
class Registries:
    """Everything the registered plugins supplied, collected fresh for one run."""

    models: Registry
    portfolios: Registry
    data_sources: Registry
    features: Registry


def _collect(hook_name: str, registry: Registry) -> Registry:
    caller = getattr(pm.hook, hook_name)
    for impl in caller.get_hookimpls():  # registration order: built-ins first
        def register(name, factory, _plugin=impl.plugin_name):
            registry.register(name, factory, _plugin)

        impl.function(register=register)
    return registry


def collect_registries() -> Registries:
    """Ask every registered plugin to register its models, portfolios and data sources."""
    load_plugins()
    return Registries(
        models=_collect("register_models", Registry("model")),
        portfolios=_collect("register_portfolios", Registry("portfolio")),
        data_sources=_collect("register_data_sources", Registry("data source")),
        features=_collect("register_features", Registry("feature set")),
    )


def plugin_names() -> list[str]:
    load_plugins()
    return [pm.get_name(p) for p in pm.get_plugins()]


def plugin_module_names() -> dict[str, str]:
    """plugin name -> module name, for listings."""
    load_plugins()
    return {pm.get_name(p): getattr(p, "__name__", "?") for p in pm.get_plugins()}


