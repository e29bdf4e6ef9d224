"""The audit's checks of ``target_weights``: the weights decided at t come from data up to t only (truncation),
and they earn no more than the scores they are decided from (skill). Both read one run of the strategy's own
model over its first NEED rebalances and a few more (``skill_run``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..backtest.clock import checked_weights
from ..backtest.dataset import Dataset
from ..backtest.walkforward import WalkForward
from ..data import Panel
from ..metrics import ic_by_date
from ..runs import BacktestResult
from ..strategy import Strategy, StrategyError
from .checks import Check, scrambled_after, timed

NEED = 120  # decision bars the skill check needs before it may pass or fail
EXTRA = 10  # rebalances run beyond NEED, for dates whose IC is undefined (every weight equal, too few names)


@dataclass
class Decisions:
    """A run's rebalances, in order: the scores target_weights was handed at each decision bar and the weights
    it decided, as the run recorded them (the names held; NaN: no order, the position drifts)."""

    bars: list[int]
    scores: dict[int, pd.Series]
    weights: dict[int, pd.Series]
    kwargs: dict  # the parameters the run was made with (a replay builds the strategy with the same)
    calendar: WalkForward  # the strategy's whole test calendar (holding periods end at its next rebalance)

    @classmethod
    def of(cls, result: BacktestResult, dates: pd.DatetimeIndex, kwargs: dict, calendar: WalkForward) -> Decisions:
        bars = [int(b) for b in dates.get_indexer(pd.DatetimeIndex(result.rebalances["date"]))]
        scores = {int(dates.get_loc(d)): pd.Series(g["score"].to_numpy(np.float64), index=pd.Index(g["asset"]))
                  for d, g in result.scores.groupby("date", sort=False)}
        weights = {int(dates.get_loc(d)): pd.Series(g["weight"].to_numpy(np.float64), index=pd.Index(g["asset"]))
                   for d, g in result.weights.groupby("date", sort=False)}
        empty = pd.Series(dtype=float)
        return cls(bars, {t: scores.get(t, empty) for t in bars}, {t: weights.get(t, empty) for t in bars},
                   kwargs, calendar)


def skill_run(strategy_cls: type[Strategy], overrides: dict, panel: Panel, plugins, need: int = NEED) -> Decisions:
    """The strategy's own model, fitted once at the first decision bar, and its own target_weights over its first
    ``need + EXTRA`` rebalances (the whole test period when it holds fewer)."""
    from ..backtest import run_backtest

    strategy = strategy_cls(**overrides)
    calendar = WalkForward.of(strategy, panel.dates)
    bars = sorted(calendar.rebalance_bars)
    last = bars[min(len(bars), need + EXTRA) - 1]
    span = {"test_start": str(panel.dates[calendar.t0].date()), "test_end": str(panel.dates[last].date()),
            "cache": False, "retrain": None}
    kwargs = {**overrides, **span}
    result = run_backtest(strategy_cls, data=panel, plugins=plugins, progress=False, **kwargs)
    return Decisions.of(result, panel.dates, kwargs, calendar)


def _difference(a: pd.Series, b: pd.Series) -> tuple[str, float, float] | None:
    """The first asset whose weight differs between two decisions (absent = 0, NaN equals NaN), or None."""
    names = a.index.union(b.index, sort=False)
    x, y = a.reindex(names, fill_value=0.0).to_numpy(), b.reindex(names, fill_value=0.0).to_numpy()
    same = np.isclose(x, y, rtol=1e-9, atol=1e-12) | (np.isnan(x) & np.isnan(y))
    if same.all():
        return None
    k = int(np.nonzero(~same)[0][0])
    return str(names[k]), float(x[k]), float(y[k])


@timed
def truncation(strategy_cls: type[Strategy], panel: Panel, features, decisions: Decisions,
               rule_of: Callable[[Strategy], Callable], n: int = 4) -> Check:
    """target_weights, replayed from the run's first rebalance up to each of ``n`` cut bars on the panel with every
    value after the cut replaced (universe() and features() called on it, as a run calls them, and only the scores
    up to the cut handed over), decides at every bar what the run decided."""
    bars, dates = decisions.bars, panel.dates
    if not bars:
        return Check("target_weights", "warn", "the run made no rebalance: target_weights was never called")
    cuts = sorted({bars[int(k)] for k in np.linspace(0, len(bars) - 1, n).round()})
    replayed = 0
    for c in cuts:
        strategy = strategy_cls(**decisions.kwargs)
        Dataset.build(strategy, scrambled_after(panel, c), features)
        rule, current = rule_of(strategy), pd.Series(dtype=float)
        for t in (b for b in bars if b <= c):
            scores = decisions.scores[t]
            try:
                weights = checked_weights(strategy.target_weights(scores, current, rule), scores, dates[t])
            except StrategyError as exc:  # the run took its weights: only the later data can have changed them
                return Check("target_weights", "fail", f"target_weights at {dates[t].date()} is refused when every "
                             f"value after {dates[c].date()} is replaced ({exc}): it reads data after its date")
            current = weights[weights != 0]
            replayed += 1
            diff = _difference(current, decisions.weights[t])
            if diff is not None:
                asset, now, before = diff
                return Check("target_weights", "fail",
                             f"target_weights at {dates[t].date()} gives {asset!r} the weight {now:.6g} instead of "
                             f"{before:.6g} when every value after {dates[c].date()} is replaced: it reads data "
                             "after its date (through the panel it was handed, or the scores), or it is not "
                             "deterministic")
    shown = ", ".join(str(dates[c].date()) for c in cuts)
    return Check("target_weights", "pass", f"{replayed} decisions replayed up to {len(cuts)} cut dates ({shown}) "
                 "equal those of the run with every value after the cut replaced")


def holding_returns(strategy: Strategy, panel: Panel, decisions: Decisions) -> dict[int, np.ndarray]:
    """Per decision bar t, each asset's return over the holding period its weights earn: from the execution at
    t + 1 to the execution after the next rebalance (the end of the simulated span after the last one)."""
    price = (panel.field("open") if strategy.execution == "open" else panel.close).astype(np.float64)
    full = sorted(decisions.calendar.rebalance_bars)
    ends = dict(zip(full, [b + 1 for b in full[1:]] + [decisions.calendar.t1 + 1]))
    out = {}
    for t in decisions.bars:
        start, end = t + 1, ends.get(t, t + 1)
        if end > start:
            with np.errstate(invalid="ignore", divide="ignore"):
                out[t] = price[end] / price[start] - 1.0
    return out


def weight_and_score_ic(strategy: Strategy, panel: Panel, decisions: Decisions) -> pd.DataFrame:
    """Per decision bar: the Spearman correlation across the scored assets of the weights decided (NaN: what was
    held) with the holding-period returns (weight_ic), and of the scores with the same returns (score_ic); only the
    dates where both are defined."""
    returns = holding_returns(strategy, panel, decisions)
    held, rows = pd.Series(dtype=float), []
    for t in decisions.bars:
        decided = decisions.weights[t]
        held = decided.fillna(held.reindex(decided.index)).fillna(0.0)  # no order: the name keeps its weight
        scores = decisions.scores[t]
        if t not in returns or not len(scores):
            continue
        ret = returns[t][panel.assets.get_indexer(scores.index)]
        rows.append(pd.DataFrame({"date": panel.dates[t], "asset": scores.index, "score": scores.to_numpy(),
                                  "weight": held.reindex(scores.index, fill_value=0.0).to_numpy(), "label": ret}))
    if not rows:
        return pd.DataFrame(columns=["date", "weight_ic", "score_ic"])
    frame = pd.concat(rows, ignore_index=True)
    w = ic_by_date(frame[["date", "weight", "label"]].rename(columns={"weight": "score"}))
    s = ic_by_date(frame[["date", "score", "label"]])
    return w[["date", "rank_ic"]].rename(columns={"rank_ic": "weight_ic"}).merge(
        s[["date", "rank_ic"]].rename(columns={"rank_ic": "score_ic"}), on="date")


@timed
def skill(strategy: Strategy, panel: Panel, decisions: Decisions, need: int = NEED, z: float = 3.0,
          floor: float = 0.1, shown: int = 5) -> Check:
    """The weights earn no more than the scores they come from: fails when the mean of (weight IC - score IC)
    exceeds ``z`` standard errors of its per-date values and the mean weight IC exceeds ``floor``; warns when
    fewer than ``need`` decision bars have both."""
    ic = weight_and_score_ic(strategy, panel, decisions)
    n = len(ic)
    if n == 0:
        return Check("skill", "warn", f"no decision bar with a weight IC and a score IC (the check needs {need}): "
                     "the run held no weights that differ across names")
    d = (ic["weight_ic"] - ic["score_ic"]).to_numpy()
    mean_w, mean_s, mean_d = float(ic["weight_ic"].mean()), float(ic["score_ic"].mean()), float(d.mean())
    se = float(d.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    apart = mean_d / se if se > 0 else (np.inf if mean_d > 0 else 0.0)
    measured = (f"weight IC {mean_w:+.3f}, score IC {mean_s:+.3f} over {n} decision bars ({apart:+.1f} standard "
                "errors apart)")
    data = {"weight_ic": mean_w, "score_ic": mean_s, "n_dates": n, "standard_errors": float(apart)}
    if n < need:
        total = len(decisions.calendar.rebalance_bars)
        return Check("skill", "warn", f"not checked: only {n} decision bars with a weight IC and a score IC, the "
                     f"check needs {need} (the test period holds {total} rebalances with rebalance="
                     f"{strategy.rebalance!r}: lengthen it or rebalance more often); measured {measured}", data=data)
    if mean_d > z * se and mean_w > floor:
        worst = ic.assign(diff=d).nlargest(shown, "diff")
        named = ", ".join(f"{r.date.date()} (weight IC {r.weight_ic:+.2f}, score IC {r.score_ic:+.2f})"
                          for r in worst.itertuples())
        data["worst"] = [str(x.date()) for x in worst["date"]]
        return Check("skill", "fail", f"target_weights uses information the scores do not carry: {measured}; the "
                     f"{shown} worst dates: {named}", data=data)
    return Check("skill", "pass", f"{measured}: the weights earn nothing the scores do not (fails above {z:g} "
                 f"standard errors with a weight IC above {floor:g})", data=data)
