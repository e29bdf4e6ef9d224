"""The ``blend`` model: member models (each its own feature set, window and parameters) fitted at the same
retrains, their per-date rank scores averaged with weights (framework/model/blend.py, framework/backtest/blend.py).
Registered by import path: listing it imports nothing heavy."""

from __future__ import annotations

from seqalpha.hookspecs import hookimpl


@hookimpl
def register_models(register):
    register("blend", "seqalpha.model.blend:Blend")
