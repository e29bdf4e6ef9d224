"""Built-in ``alstm`` (Qlib's ALSTM), registered by import path: listing it does not import torch. The torch code
is plugins/nets/alstm.py."""

from __future__ import annotations

from typing import Any

from seqalpha.builtin_plugins.nets import forwarded
from seqalpha.hookspecs import hookimpl

NETS = "seqalpha.builtin_plugins.nets.alstm"


@hookimpl
def register_models(register):
    register("alstm", f"{NETS}:ALSTM")


def __getattr__(name: str) -> Any:
    return forwarded(NETS, __name__, name)
