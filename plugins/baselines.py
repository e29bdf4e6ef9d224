"""The tabular baselines ``lightgbm`` (gradient-boosted trees, plugins/lightgbm_model.py) and ``mlp`` (a
feed-forward network, plugins/nets/mlp.py), both on the current bar's factors. Registered by import path:
listing them imports neither lightgbm nor torch."""

from __future__ import annotations

from seqalpha.hookspecs import hookimpl


@hookimpl
def register_models(register):
    register("lightgbm", "seqalpha.builtin_plugins.lightgbm_model:LightGBM")
    register("mlp", "seqalpha.builtin_plugins.nets.mlp:MLP")
