"""Point-in-time features and labels: per-date cross-sectional normalisation and forward excess returns.

Everything here is computed date by date from rows dated <= t (features) or, for
labels, from the execution prices strictly after t, exactly as the timing contract
in DESIGN.md says.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .panel import DataError


def cross_sectional_normalize(x: np.ndarray, mask: np.ndarray, method: str | None = "zscore",
                              clip: float | None = 3.0) -> np.ndarray:
    """Normalise each field across the assets in ``mask`` on each date; missing becomes 0.

    ``x`` is (T, N, F). ``zscore``: (x - mean) / std over that date's assets, clipped
    to +-clip. ``rank``: percentile rank scaled to unit variance. ``None``: raw values.
    NaN (missing factor, asset outside mask) is set to 0, the cross-sectional mean,
    so windows that reach before an asset listed see a neutral value.
    """
    x = np.where(mask[:, :, None], x, np.nan).astype(np.float32, copy=False)
    if method is None or method == "none":
        out = x.copy()
    elif method == "zscore":
        with np.errstate(invalid="ignore", divide="ignore"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                mean = np.nanmean(x, axis=1, keepdims=True)
                std = np.nanstd(x, axis=1, keepdims=True)
            out = (x - mean) / np.where(std > 0, std, np.nan)
    elif method == "rank":
        out = _cs_rank(x)
    else:
        raise ValueError(f"unknown normalisation {method!r}; use 'zscore', 'rank' or None")
    if clip is not None and method is not None:
        np.clip(out, -clip, clip, out=out)
    out[~np.isfinite(out)] = 0.0
    return out.astype(np.float32, copy=False)


def _cs_rank(x: np.ndarray) -> np.ndarray:
    """Per-date percentile rank across assets, centred and scaled to unit variance."""
    finite = np.isfinite(x)
    filled = np.where(finite, x, np.inf)
    ranks = filled.argsort(axis=1, kind="stable").argsort(axis=1, kind="stable").astype(np.float32)
    n = finite.sum(axis=1, keepdims=True).astype(np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = (ranks + 0.5) / n - 0.5
    return np.where(finite, pct * np.sqrt(12.0), np.nan).astype(np.float32)


def forward_returns(exec_price: np.ndarray, horizon: int) -> np.ndarray:
    """(T, N) return from the execution price at t+1 to the one h bars later; NaN when unknown.

    label_raw[t] = P[t+1+h] / P[t+1] - 1. The last h+1 rows are NaN (no future yet).
    """
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1 bar, got {horizon}")
    T = exec_price.shape[0]
    out = np.full(exec_price.shape, np.nan, dtype=np.float64)
    if T > horizon + 1:
        p = exec_price.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[: T - horizon - 1] = p[horizon + 1:] / p[1: T - horizon] - 1.0
    return out


def excess_labels(exec_price: np.ndarray, horizon: int, mask: np.ndarray,
                  benchmark_price: np.ndarray | None = None) -> np.ndarray:
    """Forward return minus the cross-sectional mean over ``mask`` (or minus the benchmark's same return)."""
    raw = forward_returns(exec_price, horizon)
    raw[~mask] = np.nan
    if benchmark_price is not None:
        bench = forward_returns(np.asarray(benchmark_price, dtype=np.float64)[:, None], horizon)
        return raw - bench
    with np.errstate(invalid="ignore"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(raw, axis=1, keepdims=True)
    return raw - mean


def history_count(listed: np.ndarray, window: int) -> np.ndarray:
    """(T, N) number of listed bars in the window ending at t (inclusive)."""
    c = np.cumsum(listed, axis=0, dtype=np.int32)
    out = c.copy()
    out[window:] -= c[:-window]
    return out


def _per_date(values: np.ndarray, dates: np.ndarray, transform) -> np.ndarray:
    """float32 ``transform(segment)`` applied to each date's samples of a 1-D vector, in the input order."""
    out = np.zeros(len(values), dtype=np.float32)
    if len(values) == 0:
        return out
    order = np.argsort(dates, kind="stable")
    d = dates[order]
    starts = np.flatnonzero(np.r_[True, d[1:] != d[:-1]])
    ends = np.r_[starts[1:], len(d)]
    v = values[order].astype(np.float64)
    for s, e in zip(starts, ends):
        out[order[s:e]] = transform(v[s:e])
    return out


def zscore_by_date(values: np.ndarray, dates: np.ndarray, clip: float = 3.0) -> np.ndarray:
    """Z-score a 1-D sample vector within each date (training targets: CSZScoreNorm in Qlib)."""
    def zscore(seg: np.ndarray) -> np.ndarray | float:
        sd = seg.std()
        return np.clip((seg - seg.mean()) / sd, -clip, clip) if sd > 0 else 0.0
    return _per_date(values, dates, zscore)


def rank_by_date(values: np.ndarray, dates: np.ndarray) -> np.ndarray:
    """Rank a 1-D sample vector within each date, scaled to unit variance (training targets: CSRankNorm in Qlib).

    Mid-point percentile ranks ((rank - 0.5) / n, ties averaged) minus 0.5, times sqrt(12) ~ 3.46, so a date's
    targets are uniform on about [-1.73, 1.73] with mean exactly 0: an outlier return counts no more than the
    next-best stock. (Qlib uses rank / n, which shifts every date's targets up by 1.73 / n.)
    """
    def centred_rank(seg: np.ndarray) -> np.ndarray:
        pct = (pd.Series(seg).rank(method="average").to_numpy() - 0.5) / len(seg)
        return (pct - 0.5) * np.sqrt(12.0)
    return _per_date(values, dates, centred_rank)


def check_window(window: int, horizon: int, n_dates: int) -> None:
    if window < 1:
        raise DataError(f"window must be >= 1 bar, got {window}")
    if window + horizon + 2 > n_dates:
        raise DataError(f"the panel has {n_dates} dates: too few for window={window} and horizon={horizon}")
