"""``framework``, seqalpha's old import name: every ``framework.X`` is the module ``seqalpha.X`` itself.

``import framework`` (an old strategy file, or the repository's own folder found on ``sys.path``)
warns once, makes ``sys.modules["framework"]`` the ``seqalpha`` package and installs a finder that
answers ``framework.X`` with the already imported ``seqalpha.X``: one copy of every module, so old
and new imports give the very same classes (``issubclass`` and ``isinstance`` hold across them).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType

OLD, NEW = "framework", "seqalpha"
MESSAGE = ("'framework' is seqalpha's old import name and will be removed: use `import seqalpha` / "
           "`from seqalpha import ...`")


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``framework.X`` and loads it as the module object ``seqalpha.X`` (imported if need be)."""

    def find_spec(self, fullname: str, path=None, target=None) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith(OLD + "."):
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(NEW + spec.name[len(OLD):])
        spec.loader_state = module.__spec__  # the import system sets __spec__ to the alias's: put it back
        return module

    def exec_module(self, module: ModuleType) -> None:
        module.__spec__ = module.__spec__.loader_state if module.__spec__.loader is self else module.__spec__


_FINDER = _Alias()


def install(stacklevel: int = 3) -> ModuleType:
    """Warn (FutureWarning: shown by default, unlike DeprecationWarning), alias ``framework`` and ``framework.X``
    to ``seqalpha`` and ``seqalpha.X``, and return the ``seqalpha`` package."""
    warnings.warn(MESSAGE, FutureWarning, stacklevel=stacklevel)
    package = importlib.import_module(NEW)
    if not any(f is _FINDER for f in sys.meta_path):
        sys.meta_path.insert(0, _FINDER)
    for name, module in list(sys.modules.items()):  # framework.X imported before under its own name: none should be
        if name.startswith(OLD + ".") and module is not sys.modules.get(NEW + name[len(OLD):]):
            sys.modules.pop(name)
    sys.modules[OLD] = package
    return package
