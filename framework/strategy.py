"""Strategy: parameters as class attributes, overridable by name, and the hooks a strategy may override."""

from __future__ import annotations

import ast
import copy
import importlib.util
import inspect
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from .registry import did_you_mean


class StrategyError(ValueError):
    """A strategy file or parameter is wrong; the message says which."""


class Strategy:
    """Base strategy. Subclass it and set class attributes; every attribute below is a parameter.

    Override ``universe``, ``features`` or ``target_weights`` to go further (docs/design.md, "Strategy files").
    """

    data: str = "synthetic"
    feature_set: str = "columns"  # a registered feature set: "columns" (the data's factors), "raw", "classic"
    factors: list[str] | None = None  # which features to keep (None: all of the feature set)
    model: str = "lstm"
    model_params: dict = {}
    window: int = 20  # L, bars of history per sample
    horizon: int = 5  # h, bars the label looks ahead
    rebalance: str | int = "W"
    retrain: str | int = "QS"
    train_window: int | None = None  # bars of sample dates to train on; None = expanding
    valid_fraction: float = 0.2  # the last part of each training window, for early stopping
    min_train_bars: int = 120  # bars of labelled history before the first test date
    test_start: str | None = None  # first decision date; None = as soon as min_train_bars allow
    test_end: str | None = None
    normalize: str | None = "zscore"  # per date across assets: "zscore", "rank"; "robust": fitted per retrain; None
    clip: float | None = 3.0
    target: str = "zscore"  # what the model fits, per date: "zscore" of the label (CSZScoreNorm), "rank" (CSRankNorm)
    execution: str = "close"  # "close": next bar's close; "open": next bar's open
    portfolio: str = "topk"
    portfolio_params: dict = {"k": 10}
    fees: float = 0.001
    slippage: float = 0.0
    buy_cost: float = 0.0  # extra rate on buys (Qlib open_cost), on top of fees
    sell_cost: float = 0.0  # extra rate on sells (Qlib close_cost, e.g. stamp duty)
    min_cost: float = 0.0  # minimum cost per order, cash units (Qlib min_cost)
    limit_threshold: float | None = None  # e.g. 0.095: no buying at limit up, no selling at limit down
    init_cash: float = 1e8
    delist_after: int = 5  # bars in a row without a price after which a position is sold at its last price
    benchmark: str | None = None  # None: the equal-weight universe; a code (e.g. "SH000300"): the data's benchmark
    seed: int = 0
    seeds: list[int] | None = None  # a seed ensemble: one model per seed, scores averaged (overrides seed)
    cache: bool = True  # reuse fitted models from the model cache ($SEQALPHA_CACHE_DIR) when nothing changed

    # ---- parameters ------------------------------------------------------------------------
    @classmethod
    def param_names(cls) -> list[str]:
        names = []
        for klass in reversed(cls.__mro__):
            for name, value in vars(klass).items():
                if name.startswith("_") or callable(value) or isinstance(value, (classmethod, staticmethod, property)):
                    continue
                if name not in names:
                    names.append(name)
        return names

    def __init__(self, **overrides: Any) -> None:
        names = self.param_names()
        for key, value in overrides.items():
            if key not in names:
                raise StrategyError(
                    f"unknown strategy parameter {key!r}.{did_you_mean(key, names)} Parameters: {', '.join(names)}"
                )
            setattr(self, key, value)
        for key in names:  # copy mutable class defaults so instances never share them
            setattr(self, key, copy.deepcopy(getattr(self, key)))
        self.validate()

    def params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.param_names()}

    def validate(self) -> None:
        if not isinstance(self.window, int) or self.window < 1:
            raise StrategyError(f"window must be a positive int of bars, got {self.window!r}")
        if not isinstance(self.horizon, int) or self.horizon < 1:
            raise StrategyError(f"horizon must be a positive int of bars, got {self.horizon!r}")
        if self.normalize not in ("zscore", "rank", "robust", None):
            raise StrategyError(f"normalize must be 'zscore', 'rank', 'robust' or None, got {self.normalize!r}")
        if self.target not in ("zscore", "rank"):
            raise StrategyError(f"target must be 'zscore' or 'rank' (per-date label normalisation), got {self.target!r}")
        if self.execution not in ("close", "open"):
            raise StrategyError(f"execution must be 'close' or 'open', got {self.execution!r}")
        if not isinstance(self.delist_after, int) or isinstance(self.delist_after, bool) or self.delist_after < 1:
            raise StrategyError(f"delist_after must be a positive int of bars, got {self.delist_after!r}")
        if not 0 <= self.valid_fraction < 1:
            raise StrategyError(f"valid_fraction must be in [0, 1), got {self.valid_fraction!r}")
        if self.train_window is not None and (not isinstance(self.train_window, int) or self.train_window < 1):
            raise StrategyError(f"train_window must be None (expanding) or a positive int, got {self.train_window!r}")
        if self.seeds is not None and (not isinstance(self.seeds, (list, tuple)) or not self.seeds
                                       or not all(isinstance(s, int) and not isinstance(s, bool) for s in self.seeds)):
            raise StrategyError(f"seeds must be None or a non-empty list of ints, got {self.seeds!r}")

    # ---- hooks a strategy may override ----------------------------------------------------
    def universe(self, panel) -> np.ndarray:
        """(T, N) bool: which assets may be scored and held on each date (point-in-time)."""
        return panel.eligible()

    def features(self, panel):
        """Return a FeatureSet to compute features yourself (row t from rows <= t); None uses ``feature_set``."""
        return None

    def target_weights(self, scores: pd.Series, current: pd.Series, rule) -> pd.Series:
        """Target weights from today's scores; by default the portfolio plugin's rule."""
        return rule(scores, current)


def parse_value(text: str) -> Any:
    """A --set value: a Python literal when it parses as one (3, 0.1, None, [1,2], {'k': 5}), else the string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    out = {}
    for item in items or []:
        if "=" not in item:
            raise StrategyError(f"--set expects key=value, got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = parse_value(value.strip())
    return out


def load_strategy_file(path: str | Path, name: str | None = None) -> tuple[type[Strategy], ModuleType]:
    """Import a strategy file; return its Strategy subclass (the one named, or the only/last one) and module."""
    path = Path(path)
    if not path.is_file():
        raise StrategyError(f"strategy file {str(path)!r} not found")
    module_name = f"seqalpha_strategy_{path.stem}_{abs(hash(str(path.resolve()))):x}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception:
        sys.modules.pop(module_name, None)
        raise
    classes = [c for c in vars(module).values()
               if inspect.isclass(c) and issubclass(c, Strategy) and c is not Strategy and c.__module__ == module_name]
    if name:
        match = [c for c in classes if c.__name__ == name]
        if not match:
            raise StrategyError(f"{path}: no Strategy subclass {name!r}.{did_you_mean(name, [c.__name__ for c in classes])}")
        return match[0], module
    if not classes:
        raise StrategyError(f"{path}: defines no subclass of framework.Strategy")
    return classes[-1], module
