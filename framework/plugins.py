"""Plugin managers: built-ins and installed entry points discovered once per process, then one manager per run.

The process-wide ``pm`` holds the built-in plugins (``seqalpha.builtin_plugins.DEFAULT_PLUGINS``), every
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

import hashlib
import importlib
import importlib.metadata
import importlib.util
import os
import sys
import tempfile
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import pluggy

from . import hookspecs
from .registry import Registry
from .util import atomic_write_text

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
            from seqalpha.builtin_plugins import DEFAULT_PLUGINS

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


def strategy_plugins(strategy) -> list[object]:
    """The modules of a strategy's class and its parents (a strategy may subclass another file's strategy) that
    hold @hookimpl functions, registered for its run only; modules already registered process-wide are left out."""
    cls = strategy if isinstance(strategy, type) else type(strategy)
    load_plugins()
    with _lock:
        shared = {id(p) for _, p in pm.list_name_plugin() if p is not None}
    found: list[object] = []
    for klass in cls.__mro__:
        module = sys.modules.get(klass.__module__)
        if module is None or id(module) in shared or any(m is module for m in found):
            continue
        if any(hasattr(getattr(module, n, None), "seqalpha_impl") for n in dir(module)):
            found.append(module)
    return found


@dataclass(frozen=True)
class PluginFiles:
    """The .py files of a ``--plugins-dir``, by name and source text: they travel with a run's tasks to Dask workers,
    which load the same code whether or not they can see the folder."""

    files: tuple[tuple[str, str], ...] = ()

    @classmethod
    def read(cls, folder: str | None) -> PluginFiles:
        if not folder:
            return cls()
        path = Path(folder)
        if not path.is_dir():
            from .strategy import StrategyError

            raise StrategyError(f"--plugins-dir {folder!r} is not a directory")
        return cls(tuple((f.name, f.read_text()) for f in sorted(path.glob("*.py"))))

    def load(self) -> list[object]:
        """Import the files (once per process for the same sources) and return their modules; a file that fails to
        import is named in a warning and the others keep working."""
        if not self.files:
            return []
        key = hashlib.sha256(repr(self.files).encode()).hexdigest()[:16]
        with _lock:
            if key not in _PLUGIN_DIRS:
                folder = Path(tempfile.gettempdir()) / f"seqalpha-plugins-{os.getuid()}-{key}"
                folder.mkdir(parents=True, exist_ok=True)
                for name, text in self.files:  # atomic: another process may be importing the same folder
                    if not (folder / name).is_file() or (folder / name).read_text() != text:
                        atomic_write_text(folder / name, text)
                _PLUGIN_DIRS[key] = load_plugin_dir(folder, prefix=f"seqalpha_local_plugin_{key}_")
            return list(_PLUGIN_DIRS[key])


_PLUGIN_DIRS: dict[str, list[object]] = {}


def load_plugin_dir(folder: str | Path, prefix: str = "seqalpha_local_plugin_") -> list[object]:
    """Import every .py file of ``folder`` as a plugin module for one run (not registered process-wide)."""
    modules = []
    for file in sorted(Path(folder).glob("*.py")):
        spec = importlib.util.spec_from_file_location(f"{prefix}{file.stem}", file)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # so its source can be read (code versions) and its classes pickled
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            sys.modules.pop(spec.name, None)
            warnings.warn(f"local plugin {file.name!r} failed to import: {exc}", PluginLoadWarning, stacklevel=2)
            continue
        modules.append(module)
    return modules
