"""Built-in recurrent models ``rnn``, ``lstm`` and ``gru``, registered by import path: listing them does not
import torch. The torch code (and why ``gate_init="chrono"`` is the default) is plugins/nets/recurrent.py."""

from __future__ import annotations

from typing import Any

from seqalpha.builtin_plugins.nets import forwarded
from seqalpha.hookspecs import hookimpl

NETS = "seqalpha.builtin_plugins.nets.recurrent"


@hookimpl
def register_models(register):
    register("rnn", f"{NETS}:RNN")
    register("lstm", f"{NETS}:LSTM")
    register("gru", f"{NETS}:GRU")


def __getattr__(name: str) -> Any:
    return forwarded(NETS, __name__, name)
