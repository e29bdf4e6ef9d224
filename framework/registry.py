"""Named registries (models, portfolios, data sources) that remember which plugin supplied what."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import SeqalphaError


class RegistryError(SeqalphaError, ValueError):
    """A name was registered twice, is malformed, or is unknown."""


@dataclass(frozen=True)
class Entry:
    name: str
    factory: Callable[..., Any]
    plugin: str


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

    def register(self, name: str, factory: Callable[..., Any], plugin: str) -> None:
        if not isinstance(name, str) or not name or not name.replace("_", "").replace("-", "").isalnum():
            raise RegistryError(
                f"plugin {plugin!r} tried to register {self.kind} {name!r}: names must be non-empty "
                "strings of letters, digits, '_' or '-'"
            )
        if not callable(factory):
            raise RegistryError(f"plugin {plugin!r} registered {self.kind} {name!r} with a non-callable factory")
        if name in self.entries:
            first, second = sorted([self.entries[name].plugin, plugin], key=lambda p: self.order.get(p, len(self.order)))
            raise RegistryError(
                f"{self.kind} {name!r} is registered twice: by plugin {first!r} and by plugin {second!r}. "
                "Rename one of them."
            )
        self.entries[name] = Entry(name, factory, plugin)

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
