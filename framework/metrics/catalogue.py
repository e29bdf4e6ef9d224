"""The one catalogue of metrics: name, label, display format and convention of everything in metrics.json.

The terminal table (``seqalpha run``), the report, ``seqalpha runs`` and docs/metrics.md all
read this list; a test checks the docs name every entry. P is the number of bars a year,
from the calendar's spacing (252 daily, 52 weekly, 12 monthly): ``periods_per_year``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    name: str  # the key in metrics.json
    label: str  # a short human label
    fmt: str  # display: "f4", "f2", "pct", "int", "seconds", "list"
    convention: str  # how it is computed, and where Qlib differs
    terminal: bool = False  # a row of the table `seqalpha run` prints
    listed: bool = False  # a column of `seqalpha runs`
    headline: bool = False  # a card at the top of the report


CATALOGUE: tuple[Metric, ...] = (
    Metric("ic", "IC (Pearson, mean by date)", "f4",
           "Mean over dates of the cross-sectional Pearson correlation between the scores at t and the labels "
           "(excess return from the t+1 execution price over the horizon).", terminal=True, listed=True,
           headline=True),
    Metric("icir", "ICIR", "f2", "mean(IC) / std(IC, ddof=1) over dates; not annualised (as Qlib).", terminal=True),
    Metric("rank_ic", "rank IC (Spearman)", "f4", "As ic, with the Spearman (rank) correlation.", terminal=True,
           listed=True, headline=True),
    Metric("rank_icir", "rank ICIR", "f2", "mean(rank IC) / std(rank IC, ddof=1) over dates.", terminal=True),
    Metric("ic_se", "IC standard error", "f4",
           "Standard error of ic, the mean of the daily IC series: Newey-West with L = max(h, floor(4 (n / 100) ** "
           "(2 / 9))) lags (h the horizon, n the dates; overlapping labels correlate neighbouring days), never below "
           "std(IC, ddof=1) / sqrt(n)."),
    Metric("rank_ic_se", "rank IC standard error", "f4",
           "As ic_se, of rank_ic. A rank IC within 2 of these of zero is no evidence of a signal; a sweep combines it "
           "with the spread over seeds (docs/metrics.md).", terminal=True),
    Metric("n_ic_dates", "IC dates", "int", "Dates with an IC (3 or more scored, labelled assets that differ)."),
    Metric("annual_return", "annual return (compounded)", "pct",
           "prod(1 + r) ** (P / n) - 1 over the n bars of the test span. Qlib: mean return x 238 (summed).",
           terminal=True, listed=True, headline=True),
    Metric("annual_volatility", "annual volatility", "pct", "std(r, ddof=1) x sqrt(P). Qlib: x sqrt(238).",
           terminal=True),
    Metric("sharpe", "Sharpe", "f2",
           "mean(r) / std(r, ddof=1) x sqrt(P), no risk-free rate (use excess-return data for that). Qlib's "
           "'information_ratio' of a return series is the same ratio x sqrt(238).", terminal=True, listed=True,
           headline=True),
    Metric("max_drawdown", "max drawdown", "pct",
           "Largest peak-to-trough fall of compounded equity (negative). Qlib: of summed returns.", terminal=True,
           listed=True, headline=True),
    Metric("total_return", "total return", "pct", "Compounded return over the whole test span."),
    Metric("benchmark_annual_return", "benchmark annual return", "pct",
           "The benchmark (the named one, else the equal-weight universe rebalanced every bar), annualised like "
           "annual_return.", terminal=True),
    Metric("benchmark_max_drawdown", "benchmark max drawdown", "pct", "max_drawdown of the benchmark."),
    Metric("excess_annual_return", "excess annual return", "pct",
           "mean(r - b) x P: arithmetic, not compounded, so not annual_return - benchmark_annual_return. Qlib's "
           "'annualized_return' of excess return, with P where Qlib uses 238.", terminal=True, listed=True,
           headline=True),
    Metric("information_ratio", "information ratio", "f2", "mean(r - b) / std(r - b, ddof=1) x sqrt(P).",
           terminal=True),
    Metric("excess_max_drawdown", "excess max drawdown", "pct",
           "max_drawdown of compounded active returns r - b. Qlib's benchmark tables report drawdown of summed "
           "excess returns.", terminal=True),
    Metric("qlib_excess_annual_return", "excess return, Qlib's way", "pct",
           "mean(r - b) x 238 (Qlib's risk_analysis: 238 trading days a year; 50 for weekly, 12 for monthly bars).",
           terminal=True),
    Metric("qlib_information_ratio", "information ratio, Qlib's way", "f2",
           "mean(r - b) / std(r - b, ddof=1) x sqrt(238), as Qlib's risk_analysis.", terminal=True),
    Metric("qlib_excess_max_drawdown", "excess max drawdown, Qlib's way", "pct",
           "Largest fall of the cumulative sum of r - b from its running peak (summed, not compounded), as "
           "Qlib's risk_analysis.", terminal=True),
    Metric("turnover", "turnover (annualised)", "f2",
           "Traded value / portfolio value summed over the test span, per year (bars / P).", terminal=True),
    Metric("turnover_per_rebalance", "turnover per rebalance", "pct",
           "Traded value (|size x price| of all fills on the execution bar) / portfolio value, mean over "
           "rebalances. Buying a whole book from cash is 100%; swapping it entirely is 200%.", terminal=True),
    Metric("n_rebalances", "rebalances", "int", "Decision bars on which target weights were set.", terminal=True),
    Metric("n_retrains", "retrains", "int", "Retrain bars in the test period (one model, or one ensemble, each).",
           terminal=True),
    Metric("n_model_fits", "models fitted", "int", "Models fitted or loaded: one per seed per retrain."),
    Metric("n_cache_hits", "models from the cache", "int", "Of n_model_fits, those loaded from the model cache."),
    Metric("n_assets", "assets", "int", "Assets in the universe on some decision bar of the test period."),
    Metric("n_delisted_sold", "delisted positions sold", "int",
           "Positions sold at their last price after delist_after bars in a row without a price.", terminal=True),
    Metric("n_refused_at_limit", "orders refused at the limit", "int",
           "Orders not placed because they would buy at limit up or sell at limit down (limit_threshold)."),
    Metric("periods_per_year", "bars a year (P)", "int",
           "From the calendar's median spacing: 252 daily, 52 weekly, 12 monthly, 4 quarterly."),
    Metric("retrain_seconds", "seconds per retrain", "list", "Wall seconds of each retrain (fit or cache load)."),
    Metric("seconds", "wall seconds per phase", "seconds",
           "Wall seconds per phase: data (load, features, labels), train, predict, simulate; total is the run."),
    Metric("seeds", "ensemble seeds", "list", "The seeds of a seed ensemble (Strategy.seeds)."),
    Metric("ic_per_seed", "IC per seed", "list", "ic of each ensemble member's own scores, in seeds order."),
    Metric("rank_ic_per_seed", "rank IC per seed", "list", "rank_ic of each member's own scores."),
    Metric("ic_seed_mean", "IC, mean over seeds", "f4", "Mean of ic_per_seed (not the ensemble's ic)."),
    Metric("ic_seed_std", "IC, std over seeds", "f4", "std(ic_per_seed, ddof=1): the seed noise."),
    Metric("rank_ic_seed_mean", "rank IC, mean over seeds", "f4", "Mean of rank_ic_per_seed."),
    Metric("rank_ic_seed_std", "rank IC, std over seeds", "f4", "std(rank_ic_per_seed, ddof=1)."),
    Metric("blend_members", "blend members", "list", "The members of a blend (model='blend'), in order."),
    Metric("blend_weights", "blend weights", "list", "Each member's weight in the blend of per-date ranks."),
    Metric("ic_per_member", "IC per member", "list", "ic of each blend member's own scores, in members order."),
    Metric("rank_ic_per_member", "rank IC per member", "list", "rank_ic of each blend member's own scores."),
)

BY_NAME: dict[str, Metric] = {m.name: m for m in CATALOGUE}
TERMINAL = [m for m in CATALOGUE if m.terminal]
LISTED = [m.name for m in CATALOGUE if m.listed]
HEADLINE = [m.name for m in CATALOGUE if m.headline]


def fmt_of(name: str) -> str:
    """The display format of a metric (nested 'seconds.x' keys are seconds; unknown names general)."""
    if name.startswith("seconds."):
        return "f2"
    return BY_NAME[name].fmt if name in BY_NAME else "g"


def convention_of(name: str) -> str:
    if name.startswith("seconds."):
        return f"Wall-clock seconds spent in the {name.split('.', 1)[1]} phase."
    return BY_NAME[name].convention if name in BY_NAME else ""
