"""The one JSON form of everything seqalpha writes or hashes, and the code versions of a run's sources.

``canonical(value)`` turns parameters, configs and metrics into plain JSON values the same
way in every process: dict keys sorted as text, tuples as lists, numpy scalars as numbers,
non-finite floats as null, dates as ISO text, paths as text, and a callable as its qualified
name and the sha256 of its source (never ``<function ... at 0x...>``, which differs per process).
``dumps`` writes it (config.json, metrics.json, listings, sweep files); ``digest`` hashes it
(model-cache keys, checkpoint fingerprints, a run's identity).

Code versions hash source text, never the path a module was imported from: the same plugin
loaded from a folder or from an installed package has one version, and editing an installed
plugin changes it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import inspect
import json
import math
import sys
from pathlib import Path, PurePath
from typing import Any

#: Top-level packages whose code is versioned by their release, not by their source.
_LIBRARIES = frozenset(sys.stdlib_module_names) | {"builtins", "torch", "numpy", "pandas", "vectorbt", "numba",
                                                   "pluggy", "sklearn", "scipy", "lightgbm", "_pytest", "pytest"}


def canonical(value: Any) -> Any:
    """A JSON-able, process-independent form of ``value`` (see the module's docstring)."""
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((canonical(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, bool) or value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return canonical({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    if hasattr(value, "isoformat") and hasattr(value, "year"):  # pandas Timestamp
        return value.isoformat()
    if hasattr(value, "item") and hasattr(value, "dtype"):  # numpy scalar or 0-d array
        try:
            return canonical(value.item())
        except (ValueError, AttributeError):
            pass
    if hasattr(value, "tolist") and hasattr(value, "dtype"):  # numpy array
        return canonical(value.tolist())
    if callable(value):
        return {"callable": getattr(value, "__qualname__", type(value).__qualname__),
                "source": source_digest(value)}
    return repr(value)


def dumps(value: Any, indent: int | None = 2) -> str:
    """``value`` as canonical JSON text (what every JSON file seqalpha writes holds)."""
    return json.dumps(canonical(value), indent=indent, sort_keys=True, allow_nan=False)


def digest(value: Any) -> str:
    """sha256 of ``value``'s canonical JSON: equal values give equal digests in every process."""
    return hashlib.sha256(json.dumps(canonical(value), sort_keys=True, separators=(",", ":")).encode()).hexdigest()


# ---- source and code versions ------------------------------------------------------------------
def source_of(obj: Any) -> str | None:
    """Source text of the module defining ``obj`` (module-level helpers count), else of ``obj``; None if unknown."""
    for target in (inspect.getmodule(obj), obj):
        if target is None:
            continue
        try:
            return inspect.getsource(target)
        except (OSError, TypeError):
            continue
    return None


def source_digest(obj: Any) -> str:
    """sha256 of ``obj``'s source (its repr when the source cannot be read)."""
    return hashlib.sha256((source_of(obj) or repr(obj)).encode()).hexdigest()


def is_library(module_name: str) -> bool:
    """Whether a module belongs to the standard library or a numeric library versioned by its release."""
    return module_name.split(".")[0] in _LIBRARIES


def code_version(factory: Any, *extra: Any) -> str | None:
    """sha256 of the source behind ``factory``: the modules of its classes (MRO) outside the standard library and
    the numeric libraries, wherever they were imported from, plus ``extra`` objects' modules. None when a source
    cannot be read."""
    h = hashlib.sha256()
    classes = [c for c in inspect.getmro(factory) if not is_library(c.__module__)] if inspect.isclass(factory) \
        else [factory]
    seen: set[str] = set()
    for obj in [*classes, *extra]:
        src = source_of(obj)
        if src is None:
            return None
        if src in seen:
            continue
        seen.add(src)
        h.update(hashlib.sha256(src.encode()).digest())
    return h.hexdigest()


def _library_roots() -> list[Path]:
    import site
    import sysconfig

    roots = {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    roots.update(site.getsitepackages() if hasattr(site, "getsitepackages") else [])
    roots.add(site.getusersitepackages() if hasattr(site, "getusersitepackages") else "")
    return [Path(r).resolve() for r in roots if r]


_SEQALPHA_ROOTS = [Path(__file__).resolve().parent, Path(__file__).resolve().parent.parent / "plugins"]


def user_modules(module: Any) -> list[Any]:
    """The modules of the user's own files that ``module`` (a strategy file) reaches through its imports, itself
    included: followed through module objects and the modules of imported functions and classes, leaving out
    installed packages, the standard library and seqalpha itself. Their sources make the strategy's code version,
    so editing a helper module the strategy imports is seen by the checkpoint and the caches."""
    roots = _library_roots()

    def own(mod: Any) -> bool:
        file = getattr(mod, "__file__", None)
        if not file or not str(file).endswith(".py") or is_library(getattr(mod, "__name__", "")):
            return False
        path = Path(file).resolve()
        return not any(path.is_relative_to(r) for r in [*roots, *_SEQALPHA_ROOTS])

    found, queue = {}, [module]
    while queue:
        mod = queue.pop()
        name = getattr(mod, "__name__", None)
        if name in found or not own(mod):
            continue
        found[name] = mod
        for value in list(vars(mod).values()):
            if inspect.ismodule(value):
                queue.append(value)
            else:
                owner = getattr(value, "__module__", None)
                if isinstance(owner, str) and owner in sys.modules and (inspect.isclass(value) or callable(value)):
                    queue.append(sys.modules[owner])
    return [found[n] for n in sorted(found)]


def strategy_code_version(strategy_cls: type) -> str | None:
    """sha256 of a strategy's source: its class hierarchy outside seqalpha, and every module of the user's own
    files that the strategy's file imports (``user_modules``)."""
    module = sys.modules.get(strategy_cls.__module__)
    parents = [c for c in inspect.getmro(strategy_cls) if not is_library(c.__module__)]
    modules = user_modules(module) if module is not None else []
    for cls in parents:
        mod = sys.modules.get(cls.__module__)
        if mod is not None:
            modules += [m for m in user_modules(mod) if m not in modules]
    sources = []
    for obj in [*parents, *modules]:
        src = source_of(obj)
        if src is None:
            return None
        sources.append(hashlib.sha256(src.encode()).hexdigest())
    return hashlib.sha256("".join(sorted(set(sources))).encode()).hexdigest()
