"""Market rules the engine applies from prices alone: price limits, exits without a price, the equal-weight benchmark.

Each reads bars <= t for its value at t (point-in-time).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd


def ffill(a: np.ndarray) -> np.ndarray:
    """Forward-fill NaN down the rows of a (T, N) array."""
    return pd.DataFrame(a).ffill().to_numpy()


def limit_moves(close: np.ndarray, exec_price: np.ndarray, threshold: float | None) -> tuple[np.ndarray, np.ndarray]:
    """(limit_up, limit_down) per bar: the execution price moved at least +-threshold from the previous close."""
    if not threshold:
        z = np.zeros(close.shape, dtype=bool)
        return z, z
    prev = np.vstack([np.full((1, close.shape[1]), np.nan), ffill(close.astype(np.float64))[:-1]])
    with np.errstate(invalid="ignore", divide="ignore"):
        change = exec_price / prev - 1.0
    eps = 1e-4
    return change >= threshold - eps, change <= -threshold + eps


def exits_without_price(listed: np.ndarray, after: int) -> np.ndarray:
    """(T, N) bool: the bars where an asset has gone ``after`` bars in a row without a price since it last had one.

    Its position is closed there at its last price (a delisting, or a gap too long to carry).
    Point-in-time: the flag at t reads ``listed[:t + 1]`` only, so it never depends on whether
    the name trades again later, nor on where the data ends.
    """
    if after < 1:
        raise ValueError(f"delist_after must be a positive number of bars, got {after!r}")
    T, N = listed.shape
    out = np.zeros((T, N), dtype=bool)
    missing = np.zeros(N, dtype=np.int64)  # bars in a row without a price, since the last price
    seen = np.zeros(N, dtype=bool)  # had a price before (nothing to close before the first listing)
    for t in range(T):
        missing = np.where(listed[t], 0, missing + 1)
        out[t] = seen & (missing == after)
        seen |= listed[t]
    return out


def equal_weight_benchmark(close: np.ndarray, universe: np.ndarray) -> np.ndarray:
    """Per-bar return of the equal-weight universe: mean close-to-close return of members at t-1."""
    c = close.astype(np.float64)
    r = np.full(c.shape, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        r[1:] = c[1:] / c[:-1] - 1.0
    r[1:][~universe[:-1]] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = np.nanmean(r, axis=1)
    return np.nan_to_num(out, nan=0.0)
