"""A value computed on first read: a dataclass field that may hold a deferred call instead of its value.

The engine gives each simulation its vectorbt Portfolio this way: building one imports
vectorbt (seconds), and a run needs the Portfolio only when a user asks for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Later:
    """``fn(*args)``, called when asked for (picklable when ``fn`` is a module-level function)."""

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        self.fn, self.args = fn, args

    def __call__(self) -> Any:
        return self.fn(*self.args)


class BuiltOnRead:
    """A dataclass field (``name: object = BuiltOnRead()``, default None) whose value, given as a ``Later``,
    is computed on the first read and kept; any other value is stored and read as it is."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = f"_{name}_value"

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return None  # the field's default
        value = obj.__dict__.get(self.slot)
        if isinstance(value, Later):
            value = obj.__dict__[self.slot] = value()
        return value

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__[self.slot] = value

    @staticmethod
    def raw(obj: Any, name: str) -> Any:
        """``obj``'s field ``name`` as stored: the deferred call itself if nothing was built yet (to pass it on)."""
        slot = f"_{name}_value"
        return obj.__dict__[slot] if slot in obj.__dict__ else getattr(obj, name)

    @staticmethod
    def pending(obj: Any, name: str) -> bool:
        """Whether ``obj``'s field ``name`` is still a deferred call (nothing built yet)."""
        return isinstance(BuiltOnRead.raw(obj, name), Later)
