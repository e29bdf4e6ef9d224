"""The torch code of the built-in sequence models. Importing a module here imports torch; the light plugin
modules (plugins/recurrent.py, alstm.py, tcn.py, transformer.py) register these classes by import path."""

from __future__ import annotations

import importlib
from typing import Any


def forwarded(target: str, module: str, name: str) -> Any:
    """``name`` from the torch module ``target``: lets ``from seqalpha.builtin_plugins.<module> import Name``
    (the layout before the torch code moved here) keep working; it imports torch then."""
    if not name.startswith("__"):
        try:
            return getattr(importlib.import_module(target), name)
        except AttributeError:
            pass
    raise AttributeError(f"module {module!r} has no attribute {name!r}")
