"""Built-in ``tcn`` (temporal convolutional network), registered by import path: listing it does not import
torch. The torch code is plugins/nets/tcn.py."""

from __future__ import annotations

from typing import Any

from framework.hookspecs import hookimpl
from plugins.nets import forwarded

NETS = "plugins.nets.tcn"


@hookimpl
def register_models(register):
    register("tcn", f"{NETS}:TCN")


def __getattr__(name: str) -> Any:
    return forwarded(NETS, __name__, name)
