"""How each metric is computed; its name, label and convention are in catalogue.py (docs/metrics.md)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def periods_per_year(dates: pd.DatetimeIndex) -> int:
    """252 for daily bars, 52 weekly, 12 monthly, 4 quarterly: from the median bar spacing."""
    if len(dates) < 2:
        return 252
    gap = float(np.median(np.diff(dates.values).astype("timedelta64[s]").astype(np.float64))) / 86400.0
    for limit, ppy in ((4.5, 252), (10, 52), (40, 12), (120, 4)):
        if gap <= limit:
            return ppy
    return 1


def ic_by_date(scores: pd.DataFrame) -> pd.DataFrame:
    """Per date: Pearson (ic) and Spearman (rank_ic) correlation of score and label across assets. Dates with
    fewer than 3 pairs, or whose scores or labels are all equal, have no IC (left out). One vectorised pass over
    all dates (grouped sums), not a loop per date."""
    df = scores.loc[scores["score"].notna() & scores["label"].notna(), ["date", "score", "label"]]
    if df.empty:
        return pd.DataFrame({"date": pd.Series([], dtype="datetime64[ns]"), "ic": [], "rank_ic": []})
    codes, dates = pd.factorize(df["date"], sort=True)
    s, y = df["score"].to_numpy(np.float64), df["label"].to_numpy(np.float64)
    ranks = df.groupby(codes, sort=False)[["score", "label"]].rank(method="average").to_numpy(np.float64)
    n = np.bincount(codes, minlength=len(dates))
    keep = (n >= 3) & _varies(s, codes, len(dates)) & _varies(y, codes, len(dates))
    ic = _pearson_by_group(s, y, codes, n)
    rank_ic = _pearson_by_group(ranks[:, 0], ranks[:, 1], codes, n)
    return pd.DataFrame({"date": dates[keep], "ic": ic[keep], "rank_ic": rank_ic[keep]}).reset_index(drop=True)


def _varies(x: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """bool per group: its values are not all equal (exactly: max > min)."""
    hi = np.full(n_groups, -np.inf)
    lo = np.full(n_groups, np.inf)
    np.maximum.at(hi, codes, x)
    np.minimum.at(lo, codes, x)
    return hi > lo


def _pearson_by_group(x: np.ndarray, y: np.ndarray, codes: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Pearson correlation of x and y within each group (NaN for an empty group)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        dx = x - (np.bincount(codes, x, len(n)) / n)[codes]
        dy = y - (np.bincount(codes, y, len(n)) / n)[codes]
        sxy = np.bincount(codes, dx * dy, len(n))
        sxx = np.bincount(codes, dx * dx, len(n))
        syy = np.bincount(codes, dy * dy, len(n))
        return sxy / np.sqrt(sxx * syy)


def _ratio(mean: float, std: float) -> float:
    return float(mean / std) if std and np.isfinite(std) and std > 0 else float("nan")


def ic_summary(ic: pd.DataFrame) -> dict[str, float]:
    out = {}
    for col in ("ic", "rank_ic"):
        v = ic[col].to_numpy(np.float64) if len(ic) else np.array([])
        out[col] = float(v.mean()) if len(v) else float("nan")
        out[f"{col}ir"] = _ratio(v.mean(), v.std(ddof=1)) if len(v) > 1 else float("nan")
    return out


def mean_standard_error(values: np.ndarray, horizon: int = 1) -> float:
    """Standard error of the mean of a daily series whose neighbours are correlated (docs/metrics.md, rank_ic_se).

    Newey-West (Bartlett weights) with L = max(horizon, floor(4 (n / 100) ** (2 / 9))) lags, at most n - 1: labels
    of h bars overlap on h - 1 bars, so daily ICs are correlated at least that far, and a persistent signal
    further. Never below the i.i.d. figure std(ddof=1) / sqrt(n) (a negative autocorrelation does not shrink it).
    NaN for fewer than two values."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    n = len(v)
    if n < 2:
        return float("nan")
    iid = float(v.std(ddof=1) / np.sqrt(n))
    d = v - v.mean()
    lags = min(max(int(horizon), int(np.floor(4.0 * (n / 100.0) ** (2.0 / 9.0)))), n - 1)
    long_run = float(d @ d) / n
    for j in range(1, lags + 1):
        long_run += 2.0 * (1.0 - j / (lags + 1.0)) * float(d[j:] @ d[:-j]) / n
    return max(iid, float(np.sqrt(max(long_run, 0.0) / n)))


def ic_standard_errors(ic: pd.DataFrame, horizon: int = 1) -> dict[str, float | int]:
    """The standard errors of the mean daily IC and rank IC (``mean_standard_error``) and the number of dates."""
    out: dict[str, float | int] = {}
    for col in ("ic", "rank_ic"):
        out[f"{col}_se"] = mean_standard_error(ic[col].to_numpy(np.float64) if len(ic) else np.array([]), horizon)
    out["n_ic_dates"] = int(len(ic))
    return out


def max_drawdown(returns: np.ndarray) -> float:
    """Largest peak-to-trough fall of compounded equity (a negative number)."""
    if len(returns) == 0:
        return float("nan")
    equity = np.cumprod(1.0 + returns)
    peak = np.maximum.accumulate(np.r_[1.0, equity])[1:]
    return float((equity / peak - 1.0).min())


def performance(returns: pd.Series, benchmark: pd.Series, ppy: int) -> dict[str, float]:
    """Return, risk and active-return metrics on per-bar simple returns."""
    r = returns.to_numpy(np.float64)
    b = benchmark.to_numpy(np.float64)
    n = len(r)
    active = r - b
    sd = r.std(ddof=1) if n > 1 else float("nan")
    asd = active.std(ddof=1) if n > 1 else float("nan")
    growth = float(np.prod(1.0 + r)) if n else float("nan")
    bgrowth = float(np.prod(1.0 + b)) if n else float("nan")
    return {
        "annual_return": growth ** (ppy / n) - 1.0 if n else float("nan"),
        "annual_volatility": float(sd * np.sqrt(ppy)),
        "sharpe": _ratio(r.mean(), sd) * np.sqrt(ppy) if n > 1 else float("nan"),
        "max_drawdown": max_drawdown(r),
        "benchmark_annual_return": bgrowth ** (ppy / n) - 1.0 if n else float("nan"),
        "excess_annual_return": float(active.mean() * ppy) if n else float("nan"),
        "information_ratio": _ratio(active.mean(), asd) * np.sqrt(ppy) if n > 1 else float("nan"),
        "benchmark_max_drawdown": max_drawdown(b),
        "excess_max_drawdown": max_drawdown(active),  # of compounded active returns (Qlib: summed)
        "total_return": growth - 1.0,
    }


#: Qlib's bars a year by frequency (qlib.contrib.evaluate.risk_analysis): 238 trading days, 50 weeks, 12 months.
QLIB_PERIODS = {252: 238, 52: 50, 12: 12}


def qlib_conventions(returns: pd.Series, benchmark: pd.Series, ppy: int) -> dict[str, float]:
    """The excess-return figures as Qlib's risk_analysis reports them, for comparing like with like: summed
    (not compounded) returns, 238 days a year, drawdown of the cumulative sum."""
    active = returns.to_numpy(np.float64) - benchmark.to_numpy(np.float64)
    n = len(active)
    if n < 2:
        return {"qlib_excess_annual_return": float("nan"), "qlib_information_ratio": float("nan"),
                "qlib_excess_max_drawdown": float("nan")}
    periods = QLIB_PERIODS.get(ppy, ppy)
    summed = np.cumsum(active)
    return {
        "qlib_excess_annual_return": float(active.mean() * periods),
        "qlib_information_ratio": _ratio(active.mean(), active.std(ddof=1)) * float(np.sqrt(periods)),
        "qlib_excess_max_drawdown": float((summed - np.maximum.accumulate(summed)).min()),
    }


def turnover(traded_value: pd.Series, value: pd.Series, rebalance_bars: list, ppy: int, n_bars: int) -> dict:
    """Turnover = traded value / portfolio value, per rebalance (mean) and annualised (sum per year)."""
    per = (traded_value / value.replace(0, np.nan)).fillna(0.0)
    per_reb = per.iloc[rebalance_bars] if len(rebalance_bars) else per.iloc[:0]
    years = n_bars / ppy if n_bars else float("nan")
    return {
        "turnover_per_rebalance": float(per_reb.mean()) if len(per_reb) else 0.0,
        "turnover": float(per.sum() / years) if years else float("nan"),
        "per_bar": per,
    }


def seed_metrics(seed_scores: pd.DataFrame) -> dict:
    """Per-seed IC metrics from a (date, asset, seed, score, label) table: ``ic_per_seed`` and
    ``rank_ic_per_seed`` (lists in seed order), and their mean and spread (std, ddof=1) across seeds."""
    if seed_scores.empty:
        return {}
    seeds, ic, rank_ic = [], [], []
    for seed, g in seed_scores.groupby("seed", sort=False):
        summary = ic_summary(ic_by_date(g[["date", "asset", "score", "label"]]))
        seeds.append(int(seed))
        ic.append(summary["ic"])
        rank_ic.append(summary["rank_ic"])

    def spread(v: list[float]) -> float:
        return float(np.std(v, ddof=1)) if len(v) > 1 else float("nan")

    return {"seeds": seeds, "ic_per_seed": ic, "rank_ic_per_seed": rank_ic,
            "ic_seed_mean": float(np.mean(ic)), "ic_seed_std": spread(ic),
            "rank_ic_seed_mean": float(np.mean(rank_ic)), "rank_ic_seed_std": spread(rank_ic)}
