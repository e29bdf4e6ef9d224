"""Strategy: parameters as class attributes, overridable by name, and the hooks a strategy may override."""

from __future__ import annotations

import ast
import copy
import difflib
import importlib.util
import inspect
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from .errors import SeqalphaError
from .registry import did_you_mean


class StrategyError(SeqalphaError, ValueError):
    """A strategy file or parameter is wrong; the message says which."""


class Strategy:
    """Base strategy. Subclass it and set class attributes; every attribute below is a parameter.

    Override ``universe``, ``features`` or ``target_weights`` to go further (docs/design.md, "Strategy files").
    """

    data: str = "synthetic"
    feature_set: str | list[str] | None = "columns"  # a registered feature set ("columns", "raw", "classic",
    #   "alpha158"), a list of them side by side (["raw", "alpha158"]), or None (expressions alone)
    expressions: dict = {}  # {name: Qlib expression}: factors added to the feature set's (docs/factors.md)
    factors: list[str] | None = None  # which features to keep (None: all of the feature set and expressions)
    market_context: dict | None = None  # e.g. {"lookbacks": [5, 20, 60]}: the date's market features in every window
    model: str = "lstm"
    model_params: dict = {}
    window: int = 20  # L, bars of history per sample
    horizon: int = 5  # h, bars the label looks ahead
    rebalance: str | int = "W"
    retrain: str | int = "QS"
    train_window: int | None = None  # bars of sample dates to train on; None = expanding
    valid_fraction: float = 0.2  # the last part of each training window, for early stopping
    train_start: str | None = None  # first training sample date; None: as early as the window and train_window allow
    valid_start: str | None = None  # a fixed validation span from this sample date (Qlib's segments) instead of
    valid_end: str | None = None  # valid_fraction; it ends at valid_end (None: the retrain's last labelled date)
    min_train_bars: int = 120  # bars of labelled history before the first test date
    test_start: str | None = None  # first decision date; None = as soon as min_train_bars allow
    test_end: str | None = None
    normalize: str | None = "zscore"  # per date across assets: "zscore", "rank"; "robust": fitted per retrain; None
    clip: float | None = 3.0
    target: str = "zscore"  # what the model fits, per date: "zscore" of the label (CSZScoreNorm), "rank" (CSRankNorm)
    target_clip: float | None = 3.0  # bound of the z-scored targets; None: unclipped, as Qlib's CSZScoreNorm
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
    lot_size: int | None = None  # shares per lot (100 in China): orders are rounded to whole lots; None: any size
    benchmark: str | None = None  # None: the equal-weight universe; a code (e.g. "SH000300"): the data's benchmark
    data_policy: str = "warn"  # the data-quality scan's errors: "warn" (use as is), "mask" (NaN), "refuse" (stop)
    data_thresholds: dict = {}  # the scan's thresholds to change, e.g. {"spike_sigmas": 8.0} (data/quality.py Thresholds)
    seed: int = 0
    seeds: list[int] | None = None  # a seed ensemble: one model per seed, scores averaged (overrides seed)
    cache: bool = True  # reuse fitted models from the model cache ($SEQALPHA_CACHE_DIR) when nothing changed

    #: Names of a strategy's own parameters (for its hooks); see "Custom parameters" in docs/design.md.
    custom_params: tuple[str, ...] = ()

    # ---- parameters ------------------------------------------------------------------------
    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Refuse a class attribute that looks like a misspelt parameter (``rebalence``, ``windw``): it would
        otherwise be kept as a custom parameter and the run would silently use the default."""
        super().__init_subclass__(**kwargs)
        builtin = Strategy.builtin_names()
        declared = set(cls.custom_params)
        for name, value in vars(cls).items():
            if name in builtin or name in declared or not _is_param(name, value):
                continue
            close = difflib.get_close_matches(name, builtin, n=1, cutoff=0.8)
            if close:
                raise StrategyError(
                    f"{cls.__name__}: class attribute {name!r} is not a strategy parameter. Did you mean "
                    f"{close[0]!r}? (To keep {name!r} as a parameter of your own, list it in custom_params.)")

    @classmethod
    def builtin_names(cls) -> list[str]:
        """The parameters every strategy has (the attributes of ``Strategy`` itself)."""
        return [n for n, v in vars(Strategy).items() if _is_param(n, v) and n != "custom_params"]

    @classmethod
    def param_names(cls) -> list[str]:
        names = []
        for klass in reversed(cls.__mro__):
            for name, value in vars(klass).items():
                if _is_param(name, value) and name != "custom_params" and name not in names:
                    names.append(name)
        return names

    @classmethod
    def own_param_names(cls) -> list[str]:
        """The strategy's custom parameters: declared in custom_params, or attributes far from every built-in."""
        builtin = set(cls.builtin_names())
        return [n for n in cls.param_names() if n not in builtin]

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

    def quality_thresholds(self):
        """The data-quality scan's thresholds with this strategy's ``data_thresholds`` applied (StrategyError for an
        unknown name, with "did you mean", or a value that is not a positive number)."""
        from dataclasses import fields, replace

        from .data.quality import Thresholds

        if not isinstance(self.data_thresholds, dict):
            raise StrategyError(f"data_thresholds must be a dict such as {{'spike_sigmas': 8.0}}, got "
                                f"{self.data_thresholds!r}")
        known = {f.name: f.type for f in fields(Thresholds)}
        for key, value in self.data_thresholds.items():
            if key not in known:
                raise StrategyError(f"data_thresholds: {key!r} is not a threshold of the data-quality scan."
                                    f"{did_you_mean(str(key), list(known))} Thresholds: {', '.join(known)}")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or \
                    (known[key] in ("int", int) and not isinstance(value, int)):
                raise StrategyError(f"data_thresholds[{key!r}] must be a positive {known[key]}, got {value!r}")
        return replace(Thresholds(), **self.data_thresholds)

    def validate(self) -> None:
        """Check every built-in parameter's type and range before any data is loaded; one message per problem."""
        _int(self, "window", 1)
        _int(self, "horizon", 1)
        _int(self, "min_train_bars", 0)
        _int(self, "delist_after", 1)
        _int(self, "seed", 0)
        if self.train_window is not None:
            _int(self, "train_window", 1, "None (expanding) or ")
        if self.lot_size is not None:
            _int(self, "lot_size", 1, "None or ")
        for name in ("data", "model", "portfolio", "feature_set"):
            if name == "feature_set" and self.feature_set is None and self.expressions:
                continue  # expressions alone
            if name == "feature_set" and isinstance(self.feature_set, (list, tuple)):
                _feature_set_list(self.feature_set)
                continue
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                also = " (None only with expressions)" if name == "feature_set" else ""
                raise StrategyError(f"{name} must be a non-empty string{also}, got {getattr(self, name)!r}")
        from .features.context import check_context

        check_context(self.market_context)
        self.expression_program()  # every expression parses and reads no future row, before any data loads
        for name in ("model_params", "portfolio_params"):
            if not isinstance(getattr(self, name), dict):
                raise StrategyError(f"{name} must be a dict of parameters, e.g. {{'k': 10}}; got "
                                    f"{type(getattr(self, name)).__name__} {getattr(self, name)!r}")
        if self.factors is not None and (isinstance(self.factors, str) or not isinstance(self.factors, (list, tuple))
                                         or not all(isinstance(f, str) for f in self.factors)):
            raise StrategyError(f"factors must be None or a list of column names, e.g. ['mom', 'vol']; got "
                                f"{self.factors!r}")
        for name in ("rebalance", "retrain"):
            _schedule(self, name, allow_none=name == "retrain")
        _choice(self, "normalize", ("zscore", "rank", "robust", None))
        _choice(self, "target", ("zscore", "rank"), "per-date label normalisation")
        _choice(self, "execution", ("close", "open"))
        _choice(self, "data_policy", ("warn", "mask", "refuse"), "what to do with data-quality errors")
        self.quality_thresholds()  # every data_thresholds key is a threshold of the scan, with a value of its type
        for name in ("fees", "slippage", "buy_cost", "sell_cost"):
            _number(self, name, low=0.0, high=1.0, high_open=True, meaning="a rate per order, e.g. 0.001 for 0.1%")
        _number(self, "min_cost", low=0.0, meaning="cash units per order")
        _number(self, "init_cash", low=0.0, low_open=True, meaning="the starting cash")
        _number(self, "valid_fraction", low=0.0, high=1.0, high_open=True, meaning="a share of each training window")
        if self.limit_threshold is not None:
            _number(self, "limit_threshold", low=0.0, high=1.0, low_open=True, high_open=True,
                    meaning="a price move, e.g. 0.095 for China's 10% limit, or None")
        if self.clip is not None:
            _number(self, "clip", low=0.0, low_open=True, meaning="a z-score bound, or None")
        for name in ("test_start", "test_end", "train_start", "valid_start", "valid_end"):
            value = getattr(self, name)
            if value is not None:
                try:
                    pd.Timestamp(value)
                except (ValueError, TypeError):
                    raise StrategyError(f"{name} must be a date such as '2017-01-01', got {value!r}") from None
        if self.valid_end is not None and self.valid_start is None:
            raise StrategyError(f"valid_end={self.valid_end!r} needs valid_start (the fixed validation span's first "
                                "date); without it the validation slice is the last valid_fraction of each window")
        order = [(a, b) for a, b in (("train_start", "valid_start"), ("valid_start", "valid_end"),
                                     ("train_start", "valid_end"))
                 if getattr(self, a) is not None and getattr(self, b) is not None]
        for a, b in order:
            if pd.Timestamp(getattr(self, a)) >= pd.Timestamp(getattr(self, b)):
                raise StrategyError(f"{a}={getattr(self, a)!r} must be before {b}={getattr(self, b)!r}")
        if self.target_clip is not None:
            _number(self, "target_clip", low=0.0, low_open=True, meaning="a z-score bound of the targets, or None")
        if self.benchmark is not None and not isinstance(self.benchmark, str):
            raise StrategyError(f"benchmark must be None or a code such as 'SH000300', got {self.benchmark!r}")
        if not isinstance(self.cache, bool):
            raise StrategyError(f"cache must be True or False, got {self.cache!r}")
        if self.seeds is not None and (not isinstance(self.seeds, (list, tuple)) or not self.seeds
                                       or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool)
                                                  and s >= 0 for s in self.seeds)):
            raise StrategyError(f"seeds must be None or a non-empty list of ints >= 0, got {self.seeds!r}")

    def expression_program(self):
        """The strategy's ``expressions``, parsed and checked (``features.expr_engine.Program``)."""
        from .features.expr_engine import compile_expressions

        return compile_expressions(self.expressions, where=f"{type(self).__name__}.expressions")

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


def _is_param(name: str, value: Any) -> bool:
    return not (name.startswith("_") or callable(value) or isinstance(value, (classmethod, staticmethod, property)))


def _feature_set_list(value: list | tuple) -> None:
    """A list of feature sets: non-empty, of non-empty names, none twice."""
    if not value or not all(isinstance(v, str) and v for v in value):
        raise StrategyError(f"feature_set must be a name or a non-empty list of names, e.g. ['raw', 'alpha158']; "
                            f"got {value!r}")
    twice = sorted({v for v in value if list(value).count(v) > 1})
    if twice:
        raise StrategyError(f"feature_set lists {twice} twice: {list(value)!r}")


def _int(strategy: Strategy, name: str, low: int | None, also: str = "") -> None:
    value = getattr(strategy, name)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or (low is not None and value < low):
        need = "an int" if low is None else ("a positive int" if low == 1 else f"an int >= {low}")
        raise StrategyError(f"{name} must be {also}{need}, got {value!r}")


def _number(strategy: Strategy, name: str, low: float | None = None, high: float | None = None,
            low_open: bool = False, high_open: bool = False, meaning: str = "") -> None:
    value = getattr(strategy, name)
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating)) \
        and np.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        span = (f"{'(' if low_open else '['}{low if low is not None else '-inf'}, "
                f"{high if high is not None else 'inf'}{')' if high_open else ']'}")
        raise StrategyError(f"{name} must be a number in {span} ({meaning}), got {value!r}")


def _choice(strategy: Strategy, name: str, options: tuple, meaning: str = "") -> None:
    value = getattr(strategy, name)
    if value not in options:
        listed = " or ".join(repr(o) for o in options)
        raise StrategyError(f"{name} must be {listed}{f' ({meaning})' if meaning else ''}, got {value!r}")


def _schedule(strategy: Strategy, name: str, allow_none: bool) -> None:
    from .schedule import schedule_bars

    value = getattr(strategy, name)
    if value is None and allow_none:
        return
    try:
        if value is None:
            raise ValueError("None")
        schedule_bars(pd.bdate_range("2020-01-01", periods=3), value)
    except (ValueError, TypeError, AttributeError):
        raise StrategyError(f"{name} must be a schedule: a pandas offset alias ('D', 'W', 'MS', 'QS', 'YS') or a "
                            f"positive int of bars{', or None' if allow_none else ''}; got {value!r}") from None


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
    """Import a strategy file; return its Strategy subclass and module: the one named, else the file's only strategy
    (``file_strategies``); several are refused with their names. A syntax or import error is one line."""
    path = Path(path)
    if path.is_dir():
        raise StrategyError(f"{str(path)!r} is a folder; give the strategy's .py file (e.g. {str(path / 'my_strategy.py')!r})")
    if not path.is_file():
        raise StrategyError(f"strategy file {str(path)!r} not found")
    module_name = f"seqalpha_strategy_{path.stem}_{abs(hash(str(path.resolve()))):x}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:  # the file itself, or a module it imports (then named too)
        sys.modules.pop(module_name, None)
        other = exc.filename and Path(exc.filename).resolve() != path.resolve()
        where = f"in {exc.filename} " if other else ""
        raise StrategyError(f"{path}: syntax error {where}at line {exc.lineno}, column {exc.offset}: "
                            f"{exc.msg}") from exc
    except ImportError as exc:
        sys.modules.pop(module_name, None)
        missing = f"module {exc.name!r}" if exc.name else "a module"
        raise StrategyError(f"{path}: cannot import {missing}: {exc}") from exc
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
        raise StrategyError(f"{path}: defines no subclass of seqalpha.Strategy")
    leaves = file_strategies(classes)
    if len(leaves) > 1:
        names = ", ".join(c.__name__ for c in leaves)
        raise StrategyError(f"{path} defines {len(leaves)} strategies ({names}): choose one with --strategy NAME "
                            f"(from Python: load_strategy_file(path, name))")
    return leaves[0], module


def file_strategies(classes: list[type[Strategy]]) -> list[type[Strategy]]:
    """The runnable strategies among the classes a file defines: those no other class of the same file subclasses
    (a base and its subclass in one file are one strategy, the subclass), in the order they are defined."""
    return [c for c in classes if not any(o is not c and issubclass(o, c) for o in classes)]
