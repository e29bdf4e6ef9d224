"""Built-in feature sets: ``columns`` (the data's factor columns), ``raw`` (Alpha360-like), ``classic`` and
``alpha158`` (Qlib's Alpha158 as factor expressions, in plugins/alpha158.py; docs/factors.md).

``raw``: log close, open, high and low relative to the window's last close, and log
volume relative to its last volume: Qlib's Alpha360 ($close/$close_t, ...) in log
space. Use it with ``normalize="robust"``.

``classic``: about twenty well-known daily factors, each a backward-looking rolling
statistic (row t uses rows <= t). Windows below are in bars.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from seqalpha.data import DataError, Panel
from seqalpha.feature_sets import FeatureSet
from seqalpha.hookspecs import hookimpl


def columns(panel: Panel) -> FeatureSet:
    """The panel's numeric non-price columns (the default model inputs)."""
    names = panel.factor_names
    if not names:
        raise DataError(f"data {panel.name!r} has no factor columns besides prices; list `factors` or pick a feature_set")
    return FeatureSet(panel.values[:, :, [panel.fields.index(n) for n in names]], names)


def _log(a: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log(a.astype(np.float32))
    out[~np.isfinite(out)] = np.nan
    return out


def raw(panel: Panel) -> FeatureSet:
    """Alpha360 with the fields that exist: prices / today's close and volume / today's volume (log)."""
    names, cols, ref = [], [], []
    for f in ("close", "open", "high", "low"):
        if panel.has(f):
            names.append(f"log_{f}_rel")
            cols.append(_log(panel.field(f)))
            ref.append(0)  # relative to the window's last log close
    if panel.has("volume"):
        names.append("log_volume_rel")
        cols.append(_log(panel.field("volume")))
        ref.append(len(names) - 1)
    return FeatureSet(np.stack(cols, axis=-1), names, ref)


def _frame(a: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(a.astype(np.float64))


def classic(panel: Panel) -> FeatureSet:
    """Momentum, reversal, volatility, volume, range, distance-to-extremes and beta factors (backward-looking)."""
    close = _frame(panel.close).ffill(limit=5)
    ret = close.pct_change(fill_method=None)
    logret = np.log1p(ret)
    high = _frame(panel.field("high")) if panel.has("high") else close
    low = _frame(panel.field("low")) if panel.has("low") else close
    vol = _frame(panel.field("volume")).where(lambda v: v > 0) if panel.has("volume") else None
    if panel.benchmark is not None:
        mkt = panel.benchmark.reset_index(drop=True).astype(float).pct_change(fill_method=None)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mkt = pd.Series(np.nanmean(ret.to_numpy(), axis=1))
    f: dict[str, pd.DataFrame] = {
        "mom_5": close / close.shift(5) - 1,
        "mom_20": close / close.shift(20) - 1,
        "mom_60": close / close.shift(60) - 1,
        "mom_120_skip_20": close.shift(20) / close.shift(120) - 1,
        "rev_1": -ret,
        "vol_20": ret.rolling(20, min_periods=10).std(),
        "vol_60": ret.rolling(60, min_periods=30).std(),
        "skew_20": ret.rolling(20, min_periods=10).skew(),
        "max_ret_20": ret.rolling(20, min_periods=10).max(),
        "min_ret_20": ret.rolling(20, min_periods=10).min(),
        "ma_ratio_20": close / close.rolling(20, min_periods=10).mean() - 1,
        "ma_ratio_60": close / close.rolling(60, min_periods=30).mean() - 1,
        "dist_high_60": close / high.rolling(60, min_periods=30).max() - 1,
        "dist_low_60": close / low.rolling(60, min_periods=30).min() - 1,
        "range_20": ((high - low) / close).rolling(20, min_periods=10).mean(),
    }
    mkt_var = mkt.rolling(60, min_periods=30).var()
    f["beta_60"] = ret.rolling(60, min_periods=30).cov(mkt).div(mkt_var, axis=0)
    if vol is not None:
        f["volume_ratio_5_60"] = vol.rolling(5, min_periods=3).mean() / vol.rolling(60, min_periods=30).mean() - 1
        f["volume_std_20"] = np.log(vol).rolling(20, min_periods=10).std()
        f["amihud_20"] = np.log1p((ret.abs() / (vol * close)).rolling(20, min_periods=10).mean() * 1e9)
        f["corr_price_volume_20"] = logret.rolling(20, min_periods=10).corr(np.log(vol).diff())
    names = list(f)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        values = np.stack([f[n].to_numpy(np.float64) for n in names], axis=-1)
    values[~np.isfinite(values)] = np.nan
    values[~panel.listed()] = np.nan
    return FeatureSet(values.astype(np.float32), names)


@hookimpl
def register_features(register):
    register("columns", columns)
    register("raw", raw)
    register("classic", classic)
    register("alpha158", "seqalpha.builtin_plugins.alpha158:alpha158")  # Qlib's Alpha158, as expressions
