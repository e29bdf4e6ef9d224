"""Market context: the same date's market features in every stock's window (``Strategy.market_context``).

For each lookback n (bars), from rows <= t only:

* ``mkt_ret_n``: the benchmark's log return over the last n bars, log(B[t] / B[t-n]);
* ``mkt_vol_n`` (n >= 2): the standard deviation of its daily log returns over the last n bars;
* ``mkt_breadth_n``: the share of the universe's names (on date t) whose n-bar return is positive;
* ``mkt_disp_n``: the cross-sectional standard deviation of those names' n-bar log returns.

The benchmark B is the strategy's (``benchmark``), else the data's (``panel.benchmark``), else the equal-weight
universe (the mean of the day's simple returns over the names in the universe on that date, compounded). The values
are the same for every asset on a date: per-date normalisation would make them 0, so the Dataset keeps them out of
it and normalises them over time instead, fitted on each retrain's training windows (docs/factors.md, "Market
context").
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..errors import SeqalphaError
from ..registry import did_you_mean

KINDS = ("ret", "vol", "breadth", "dispersion")
DEFAULT_LOOKBACKS = (5, 20, 60)
_PREFIX = {"ret": "mkt_ret", "vol": "mkt_vol", "breadth": "mkt_breadth", "dispersion": "mkt_disp"}


class ContextError(SeqalphaError, ValueError):
    """A ``market_context`` setting that cannot be right; the message says which key and why."""


def check_context(config: dict | None) -> None:
    """Refuse a ``market_context`` that is not None or a dict of known keys with valid values."""
    if config is None:
        return
    if not isinstance(config, dict):
        raise ContextError(f"market_context must be None or a dict such as {{'lookbacks': [5, 20, 60]}}, got "
                           f"{config!r}")
    for key in config:
        if key not in ("lookbacks", "features"):
            raise ContextError(f"market_context: unknown key {key!r}.{did_you_mean(str(key), ['lookbacks', 'features'])}"
                               " Keys: lookbacks, features")
    lookbacks = config.get("lookbacks", DEFAULT_LOOKBACKS)
    if not isinstance(lookbacks, (list, tuple)) or not lookbacks or not all(
            isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 1 for n in lookbacks) \
            or len(set(lookbacks)) != len(lookbacks):
        raise ContextError(f"market_context['lookbacks'] must be a non-empty list of distinct bar counts >= 1, "
                           f"e.g. [5, 20, 60]; got {lookbacks!r}")
    kinds = config.get("features", KINDS)
    if not isinstance(kinds, (list, tuple)) or not kinds or any(k not in KINDS for k in kinds):
        bad = [k for k in kinds if k not in KINDS] if isinstance(kinds, (list, tuple)) else kinds
        raise ContextError(f"market_context['features'] must be a non-empty list of {list(KINDS)}; got {kinds!r}"
                           + (f" ({bad!r} unknown)" if bad else ""))


def _settings(config: dict) -> tuple[list[int], list[str]]:
    check_context(config)
    return [int(n) for n in config.get("lookbacks", DEFAULT_LOOKBACKS)], list(config.get("features", KINDS))


def context_names(config: dict | None) -> list[str]:
    """The context's feature names, by kind then lookback (``mkt_vol_1`` is left out: one return has no spread)."""
    if config is None:
        return []
    lookbacks, kinds = _settings(config)
    return [f"{_PREFIX[k]}_{n}" for k in KINDS if k in kinds for n in lookbacks if not (k == "vol" and n < 2)]


def equal_weight_index(close: np.ndarray, universe: np.ndarray) -> np.ndarray:
    """The equal-weight universe as a price series: 1 at the first date, then compounded by the mean simple return
    from t-1 to t of the names in the universe on t with both closes known (0 on a date without one)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.full(close.shape, np.nan)
        r[1:] = close[1:] / close[:-1] - 1.0
    r = np.where(universe & np.isfinite(r), r, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(r, axis=1)
    return np.cumprod(1.0 + np.nan_to_num(mean, nan=0.0))


def market_context(config: dict, close: np.ndarray, universe: np.ndarray,
                   benchmark: np.ndarray | None) -> tuple[list[str], np.ndarray]:
    """(names, float32[T, C]): the context features of ``config`` from the (T, N) closes, the point-in-time
    universe mask and the benchmark's prices (None: the equal-weight universe). Row t reads rows <= t only."""
    lookbacks, kinds = _settings(config)
    close = np.asarray(close, dtype=np.float64)
    bench = equal_weight_index(close, universe) if benchmark is None else np.asarray(benchmark, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        log_bench = np.log(np.where(bench > 0, bench, np.nan))
        log_close = np.log(np.where(close > 0, close, np.nan))
    daily = pd.Series(np.r_[np.nan, np.diff(log_bench)])
    columns: dict[str, np.ndarray] = {}
    for n in lookbacks:
        if "ret" in kinds:
            ret = np.full(len(bench), np.nan)
            ret[n:] = log_bench[n:] - log_bench[:-n]
            columns[f"mkt_ret_{n}"] = ret
        if "vol" in kinds and n >= 2:
            columns[f"mkt_vol_{n}"] = daily.rolling(n, min_periods=max(2, n // 2)).std().to_numpy()
        if "breadth" in kinds or "dispersion" in kinds:
            stock = np.full(close.shape, np.nan)
            stock[n:] = log_close[n:] - log_close[:-n]
            stock = np.where(universe & np.isfinite(stock), stock, np.nan)
            count = np.isfinite(stock).sum(axis=1)
            with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
                warnings.simplefilter("ignore", RuntimeWarning)
                if "breadth" in kinds:
                    columns[f"mkt_breadth_{n}"] = np.where(count > 0, (stock > 0).sum(axis=1) / count, np.nan)
                if "dispersion" in kinds:
                    columns[f"mkt_disp_{n}"] = np.where(count >= 2, np.nanstd(stock, axis=1), np.nan)
    names = context_names(config)
    values = np.stack([columns[n] for n in names], axis=1)
    values[~np.isfinite(values)] = np.nan
    return names, values.astype(np.float32)
