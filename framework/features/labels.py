"""Labels and sample eligibility: forward excess returns from the execution price after t (docs/design.md, Timing).

The label of (t, i) with horizon h is the return from the execution price at t+1 to the
one h bars later, minus the cross-sectional mean (or the benchmark's same return): it is
known only at t + 1 + h, which is why a model retrained at t trains on s <= t - h - 1.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..data.panel import DataError


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


def check_window(window: int, horizon: int, n_dates: int) -> None:
    if window < 1:
        raise DataError(f"window must be >= 1 bar, got {window}")
    if window + horizon + 2 > n_dates:
        raise DataError(f"the panel has {n_dates} dates: too few for window={window} and horizon={horizon}")
