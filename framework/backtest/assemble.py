"""Result assembly: the clock's records and the engine's simulation turned into the run's tables and metrics."""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pandas as pd

from .. import metrics
from ..engine import Simulation
from ..lazy import BuiltOnRead
from ..resolved import ResolvedRun
from ..runs import BacktestResult, schema
from .clock import LoopState
from .dataset import Dataset
from .walkforward import WalkForward


def assemble(run: ResolvedRun, dataset: Dataset, calendar: WalkForward, state: LoopState, sim: Simulation,
             benchmark: np.ndarray, seconds: dict, wall0: float, extra_config: dict) -> BacktestResult:
    """The BacktestResult of a finished loop and simulation (tables as runs/schema.py says); its config is the
    resolved run's JSON form plus what the run measured (span, panel, creation time)."""
    panel = dataset.panel
    dates, assets = panel.dates, panel.assets
    t0, t1 = calendar.t0, calendar.t1
    decided = sorted(t for t, _ in state.decisions)
    returns = pd.DataFrame({"date": dates[t0 + 1:t1 + 2], "strategy": sim.returns.to_numpy(), "benchmark": benchmark})
    scores = _with_labels(_concat(state.scores, ["t", "i", "score"]), dataset)
    weights = _concat(state.weights, list(schema.TABLES["weights"])) if state.weights else schema.empty_table("weights")
    ic = metrics.ic_by_date(scores)
    ppy = metrics.periods_per_year(dates[:t1 + 2])  # the calendar up to the span's end only
    reb_bars = [t + 1 - (t0 + 1) for t in decided]  # every decision bar t <= t1 trades at t + 1 <= t1 + 1
    turn = metrics.turnover(sim.traded_value, sim.value, reb_bars, ppy, len(returns))
    rebalances = pd.DataFrame({"date": dates[decided] if decided else pd.DatetimeIndex([]),
                               "turnover": [float(turn["per_bar"].iloc[b]) for b in reb_bars]})
    rebalances["n_holdings"] = rebalances["date"].map(weights.groupby("date").size()).fillna(0).astype("int64")
    m = {**metrics.ic_summary(ic), **metrics.ic_standard_errors(ic, run.instance.horizon),
         **metrics.performance(returns["strategy"], returns["benchmark"], ppy),
         **metrics.qlib_conventions(returns["strategy"], returns["benchmark"], ppy),
         "turnover": turn["turnover"], "turnover_per_rebalance": turn["turnover_per_rebalance"],
         "n_rebalances": len(decided), "n_retrains": len(calendar.retrain_bars),
         "n_model_fits": sum(r["fits"] for r in state.retrains),
         "n_cache_hits": sum(r["cache_hits"] for r in state.retrains),
         "n_assets": int(dataset.universe[t0:t1 + 1].any(axis=0).sum()),  # in the universe on some decision bar
         "n_delisted_sold": sim.n_delisted_sold, "n_refused_at_limit": sim.n_refused_at_limit,
         "periods_per_year": ppy, "retrain_seconds": [round(r["seconds"], 3) for r in state.retrains]}
    seed_scores = schema.empty_table("seed_scores")
    if state.seed_scores:
        ss = pd.concat(state.seed_scores, ignore_index=True)
        seed_scores = _with_labels(ss[["t", "i", "seed", "score"]], dataset)
        m.update(metrics.seed_metrics(seed_scores))
    member_scores = schema.empty_table("member_scores")
    if state.member_scores:
        ms = pd.concat(state.member_scores, ignore_index=True)
        member_scores = _with_labels(ms, dataset)
        m.update(member_metrics(member_scores, [b["name"] for b in run.blend], [b["weight"] for b in run.blend]))
    m["seconds"] = {**seconds, "total": time.perf_counter() - wall0}
    config = {**run.as_json(),
              "span": [str(dates[t0].date()), str(dates[t1].date())],
              "simulated": [str(dates[t0 + 1].date()), str(dates[t1 + 1].date())],
              "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
              "panel": {"dates": len(dates), "assets": len(assets), "first": str(dates[0].date()),
                        "last": str(dates[-1].date())}, **extra_config}
    training = schema.conform(pd.DataFrame(state.training), "training") if state.training \
        else schema.empty_table("training")
    flow = pd.DataFrame(state.gradient_flow) if state.gradient_flow else schema.empty_table("gradient_flow")
    return BacktestResult(config=config, metrics=m, scores=scores, weights=weights, returns=returns, ic=ic,
                          rebalances=rebalances, training=training, gradient_flow=flow, seed_scores=seed_scores,
                          member_scores=member_scores,
                          portfolio=BuiltOnRead.raw(sim, "portfolio"))  # built when first read


def _concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({c: [] for c in columns})


def member_metrics(member_scores: pd.DataFrame, names: list[str], weights: list[float]) -> dict:
    """A blend's per-member IC metrics: ``blend_members``, ``blend_weights``, ``ic_per_member`` and
    ``rank_ic_per_member`` (each member's own score against the label, on the dates and assets it scored)."""
    ic, rank_ic = [], []
    for name in names:
        summary = metrics.ic_summary(metrics.ic_by_date(
            member_scores.loc[member_scores["member"] == name, ["date", "asset", "score", "label"]]))
        ic.append(summary["ic"])
        rank_ic.append(summary["rank_ic"])
    return {"blend_members": list(names), "blend_weights": [float(w) for w in weights], "ic_per_member": ic,
            "rank_ic_per_member": rank_ic}


def _with_labels(frame: pd.DataFrame, dataset: Dataset) -> pd.DataFrame:
    """(t, i, [seed,] [member,] score, [rank]) rows as (date, asset, [seed,] [member,] score, [rank,] label)."""
    t, i = frame["t"].to_numpy(np.int64), frame["i"].to_numpy(np.int64)
    out = pd.DataFrame({"date": dataset.panel.dates[t], "asset": dataset.panel.assets[i]})
    if "seed" in frame:
        out["seed"] = frame["seed"].to_numpy(np.int64)
    if "member" in frame:
        out["member"] = frame["member"].astype(object).to_numpy()
    out["score"] = frame["score"].to_numpy(np.float64)
    if "rank" in frame:
        out["rank"] = frame["rank"].to_numpy(np.float64)
    out["label"] = dataset.labels[t, i]
    return out
