"""Named registries (models, portfolios, data sources) that remember which plugin supplied what.

A factory is registered either as the object itself or, lazily, as its import path
``"package.module:Name"``: the module is imported the first time ``Entry.factory`` is read, and
``Entry.doc`` reads the first docstring line from the source without importing it, so listing
models never imports torch (docs/design.md, "Plugins").
"""

from __future__ import annotations

import ast
import difflib
import importlib
import importlib.util
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .errors import SeqalphaError

#: "package.module:Name" or "package.module:Outer.Name", as in entry points
IMPORT_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


class RegistryError(SeqalphaError, ValueError):
    """A name was registered twice, is malformed, or is unknown."""


@dataclass(frozen=True)
class Entry:
    """One registered name: its factory (or the factory's import path, resolved on first use) and its plugin."""

    name: str
    target: Callable[..., Any] | str  # the factory, or its import path "package.module:Name"
    plugin: str
    kind: str = "factory"

    @property
    def lazy(self) -> bool:
        """Whether the factory is named by import path and not imported yet."""
        return isinstance(self.target, str) and "factory" not in self.__dict__

    @cached_property
    def factory(self) -> Callable[..., Any]:
        """The factory; a lazy one is imported here, once."""
        if not isinstance(self.target, str):
            return self.target
        module, _, attr = self.target.partition(":")
        try:  # a missing module or library, or a misspelt name, is the user's to fix; any other error in the
            obj: Any = importlib.import_module(module)  # module is a bug and keeps its traceback
        except ImportError as exc:
            raise RegistryError(f"{self.kind} {self.name!r} of plugin {self.plugin!r}: cannot import "
                                f"{self.target!r}: {type(exc).__name__}: {exc}") from exc
        try:
            for part in attr.split("."):
                obj = getattr(obj, part)
        except AttributeError as exc:
            raise RegistryError(f"{self.kind} {self.name!r} of plugin {self.plugin!r}: cannot import "
                                f"{self.target!r}: {module} has no {attr!r}") from exc
        if not callable(obj):
            raise RegistryError(f"{self.kind} {self.name!r} of plugin {self.plugin!r}: {self.target!r} is a "
                                f"{type(obj).__name__}, not a callable factory")
        return obj

    @property
    def doc(self) -> str:
        """The first line of the factory's docstring ('' when it has none); a lazy factory's is read from its
        module's source, without importing it, when the source defines it."""
        if isinstance(self.target, str) and "factory" not in self.__dict__:
            found = source_docstring(self.target)
            if found is not None:
                return first_line(found)
        try:
            return first_line(getattr(self.factory, "__doc__", None) or "")
        except Exception as exc:  # a listing shows every model, the broken ones too
            return f"(cannot import: {(exc.__cause__ or exc) if isinstance(exc, RegistryError) else exc})"


def first_line(doc: str) -> str:
    lines = doc.strip().splitlines()
    return lines[0].strip() if lines else ""


def source_docstring(path: str) -> str | None:
    """The docstring of the class or function ``path`` ("package.module:Name") names, read from the module's
    source without executing it ('' when it has none); None when the source cannot be read or does not define
    the name there (then the caller imports it)."""
    module, _, attr = path.partition(":")
    try:
        spec = importlib.util.find_spec(module)  # imports the parent packages only
        source = spec.loader.get_source(module) if spec is not None and spec.loader is not None else None
    except Exception:  # any failure means: import it to find out
        return None
    if source is None:
        return None
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return None
    node: ast.AST | None = None
    for part in attr.split("."):
        node = next((n for n in body if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                     and n.name == part), None)
        if node is None:
            return None
        body = node.body
    return ast.get_docstring(node) or ""


def did_you_mean(name: str, choices) -> str:
    """A ' Did you mean ...?' suffix for an unknown name, or '' when nothing is close."""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=3, cutoff=0.5)
    return f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


@dataclass
class Registry:
    """One kind of registered thing: name -> factory, with the supplying plugin recorded."""

    kind: str
    entries: dict[str, Entry] = field(default_factory=dict)
    order: dict[str, int] = field(default_factory=dict)  # plugin name -> registration rank, for messages

    def register(self, name: str, factory: Callable[..., Any] | str, plugin: str) -> None:
        """Add ``name``; ``factory`` is the factory or its import path "package.module:Name" (imported on first
        use)."""
        if not isinstance(name, str) or not name or not name.replace("_", "").replace("-", "").isalnum():
            raise RegistryError(
                f"plugin {plugin!r} tried to register {self.kind} {name!r}: names must be non-empty "
                "strings of letters, digits, '_' or '-'"
            )
        if isinstance(factory, str):
            if not IMPORT_PATH.match(factory):
                raise RegistryError(f"plugin {plugin!r} registered {self.kind} {name!r} as {factory!r}: a factory "
                                    "named by import path is written 'package.module:Name'")
        elif not callable(factory):
            raise RegistryError(f"plugin {plugin!r} registered {self.kind} {name!r} with a non-callable factory")
        if name in self.entries:
            first, second = sorted([self.entries[name].plugin, plugin], key=lambda p: self.order.get(p, len(self.order)))
            raise RegistryError(
                f"{self.kind} {name!r} is registered twice: by plugin {first!r} and by plugin {second!r}. "
                "Rename one of them."
            )
        self.entries[name] = Entry(name, factory, plugin, self.kind)

    def get(self, name: str) -> Entry:
        try:
            return self.entries[name]
        except KeyError:
            known = ", ".join(sorted(self.entries)) or "none"
            raise RegistryError(
                f"unknown {self.kind} {name!r}.{did_you_mean(name, self.entries)} Registered: {known}."
            ) from None

    def create(self, name: str, **params: Any) -> Any:
        return self.get(name).factory(**params)

    def __contains__(self, name: object) -> bool:
        return name in self.entries

    def names(self) -> list[str]:
        return sorted(self.entries)
