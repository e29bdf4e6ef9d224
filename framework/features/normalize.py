"""Per-date normalisation across assets: of features (point-in-time, date by date) and of training targets.

``cross_sectional_normalize`` works on the (T, N, F) feature array, each date from that
date's rows only. ``zscore_by_date`` and ``rank_by_date`` turn a sample vector's labels
into the per-date targets a model fits (Qlib's CSZScoreNorm and CSRankNorm).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd


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


def zscore_by_date(values: np.ndarray, dates: np.ndarray, clip: float | None = 3.0) -> np.ndarray:
    """Z-score a 1-D sample vector within each date (training targets: CSZScoreNorm in Qlib), bounded by +-clip
    (None: unbounded, as Qlib's)."""
    def zscore(seg: np.ndarray) -> np.ndarray | float:
        sd = seg.std()
        if not sd > 0:
            return 0.0
        z = (seg - seg.mean()) / sd
        return z if clip is None else np.clip(z, -clip, clip)
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
