"""predict: the decision the backtest would take at ``asof``, on the current holdings, as files to trade from.

Built from the resolved run (framework/resolved.py) like every entry point, with the backtest's own steps: the
data cut at asof (nothing after it is read), the Dataset, the trainer and its model cache, the clock's scoring of
a retrain's segment, and the strategy's ``target_weights`` with its portfolio rule (docs/design.md, "Predict").
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import PredictError
from ..strategy import Strategy, StrategyError
from ..threads import DEFAULT_THREADS
from .calendar import ModelBar, asof_bar, model_bar
from .holdings import Holdings, read_holdings

TARGET_COLUMNS = ["asset", "score", "rank", "target_weight", "current_weight"]


class UnscoredWarning(UserWarning):
    """Names in asof's universe that are not scored (no data in their window on asof), as in the backtest."""


@dataclass
class Prediction:
    """What predict decided: targets (asset, score, rank, target_weight, current_weight), orders, the record
    written as predict.json, and the folder (None when not written)."""

    targets: pd.DataFrame
    orders: pd.DataFrame
    record: dict
    out: Path | None = None
    positions: pd.DataFrame = field(default_factory=lambda: pd.DataFrame({"asset": [], "shares": []}))


def predict(strategy: Strategy | type[Strategy], asof: str | pd.Timestamp | None = None,
            holdings: str | Path | None = None, cash: float | None = None, out: str | Path | None = None,
            data=None, refit: bool = False, plugins: Iterable[object] = (), plugin_files: Iterable[str] = (),
            threads: int = DEFAULT_THREADS, cache_dir: str | Path | None = None, progress: bool | str | None = False,
            **overrides) -> Prediction:
    """Decide as the backtest would at ``asof`` (default: the data's last bar) from ``holdings`` (a CSV of
    asset,shares; a previous predict folder; a backtest run folder) plus ``cash``; with ``out``, write
    targets.parquet/.csv, orders.csv, positions.csv, predict.json and predict.html there. ``refit`` fits on every
    sample labelled by asof instead of using the schedule's model. ``overrides`` set strategy parameters."""
    from ..resolved import resolve_run

    run = resolve_run(strategy, overrides, data, threads=threads, plugins=plugins, plugin_files=plugin_files,
                      cache_dir=cache_dir)
    return decide(run, asof=asof, holdings=holdings, cash=cash, out=out, data=data, refit=refit, progress=progress)


def decide(run, asof=None, holdings=None, cash=None, out=None, data=None, refit: bool = False,
           progress: bool | str | None = False) -> Prediction:
    """predict on a resolved run (``predict``'s arguments)."""
    from ..backtest.blend import make_trainer
    from ..backtest.clock import LoopState, checked_weights, no_spread
    from ..backtest.dataset import Dataset
    from ..backtest.run import check_model_params, portfolio_rule
    from ..data import Panel, load_panel
    from ..data import quality as data_quality
    from ..engine.market import ffill
    from ..features.store import store_for
    from ..model import ModelCache
    from ..progress import Progress
    from ..threads import pin_threads

    wall0 = time.perf_counter()
    strategy = run.instance
    if out is not None:
        out = _check_out(Path(out))
    pin_threads(run.threads)
    check_model_params(run)  # the run's own check, as run_backtest makes it
    rule = portfolio_rule(strategy, run.registries)
    log = Progress(enabled=progress)
    source = data if data is not None else strategy.data
    full = source if isinstance(source, Panel) else load_panel(source, run.registries.data_sources)
    t = asof_bar(full.dates, asof)
    panel = full.slice_dates(None, full.dates[t])  # nothing after asof is read from here on
    panel, quality = data_quality.prepare(panel, strategy.data_policy, thresholds=strategy.quality_thresholds())
    price = pd.Series(ffill(panel.close.astype(np.float64))[t], index=panel.assets.astype(str))
    held = read_holdings(holdings, panel.assets, price, panel.dates[t], cash, strategy.init_cash)  # before any fit
    bars = model_bar(strategy, panel.dates, t, run.embargo, run.warm_start, refit)
    cache = ModelCache(run.cache_dir) if run.cache_dir is not None else None
    if cache is not None and not cache.writable():
        warnings.warn(f"the model cache {cache.root} cannot be written: predicting without it", RuntimeWarning,
                      stacklevel=2)
        cache = None
    store = store_for(run.cache, run.cache_dir) if cache is not None else None
    dataset = Dataset.build(strategy, panel, run.registries.features, store, definitions=run.features)
    run = run.with_data(panel, dataset.feature_names, dataset.data_digest, dataset.feature_key,
                        universe=dataset.universe if strategy.expression_program().cross_sectional else None,
                        quality_digest=quality.digest)
    trainer = make_trainer(run, dataset, cache, log, store)  # a blend builds its members' Datasets, as run does
    t_fit = time.perf_counter()
    fits = hits = 0
    try:
        for r in bars.chain:  # a warm-started model continues the chain of every earlier retrain
            fitted = trainer.retrain(r)
            fits, hits = fits + fitted.fits, hits + fitted.cache_hits
    except StrategyError as exc:
        if "no training samples" in str(exc):
            raise PredictError(f"no model can be trained for asof {panel.dates[t].date()}: {exc}") from None
        raise
    fit_seconds = time.perf_counter() - t_fit
    by_date = trainer.score_segment(fitted, bars.retrain, t + 1, LoopState())
    assets, date = panel.assets, panel.dates[t]
    today = by_date.get(t)
    scores = (pd.Series(today["score"].to_numpy(), index=assets[today["i"].to_numpy()])
              if today is not None else pd.Series(dtype=float))
    unscored = sorted(map(str, set(assets[dataset.universe[t]]) - set(scores.dropna().index)))
    if unscored:
        warnings.warn(f"{len(unscored)} name(s) in the universe on {date.date()} have no data in their window and "
                      f"are not scored, as in the backtest: {', '.join(unscored[:20])}"
                      f"{' ...' if len(unscored) > 20 else ''}", UnscoredWarning, stacklevel=2)
    if no_spread(scores):  # as the backtest: nothing tells the assets apart, positions kept
        warnings.warn(f"scores on {date.date()} have no spread across assets: no rebalance, positions kept",
                      RuntimeWarning, stacklevel=2)
        weights = held.weights
        rebalanced = False
    else:
        weights = checked_weights(strategy.target_weights(scores, held.weights, rule), scores, date)
        rebalanced = True
    prediction = _outcome(strategy, scores, weights, held, price, panel, t, dataset)
    prediction.record = _record(run, panel, full, t, bars, fitted, trainer, fits, hits, held, prediction,
                                rebalanced, unscored, refit, quality, fit_seconds, time.perf_counter() - wall0)
    if out is not None:
        from .write import write_prediction

        write_prediction(prediction, out)
    return prediction


def _check_out(out: Path) -> Path:
    """The predict folder: never a backtest's run folder (its files would mix), made if missing."""
    from ..runs import schema

    if (out / schema.METRICS).is_file() or (out / schema.CONFIG).is_file():
        raise PredictError(f"--out {out} holds a backtest run: choose another folder for predict's files")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PredictError(f"--out {out} cannot be made: {exc.strerror or exc}") from None
    return out.absolute()


def _outcome(strategy: Strategy, scores: pd.Series, weights: pd.Series, held: Holdings, price: pd.Series, panel,
             t: int, dataset) -> Prediction:
    """Targets (every scored name and every name held or targeted), orders and positions after them."""
    from .orders import estimated_shares, make_orders, trading_flags

    value = held.value if held.value is not None else float(
        (held.shares * price.reindex(held.shares.index).to_numpy(np.float64)).sum()) + held.cash
    shares = estimated_shares(held.weights, price, value) if held.source == "run" else held.shares
    current = (shares * price.reindex(shares.index).to_numpy(np.float64)) / value if value > 0 else shares * 0.0
    scored = scores.dropna()
    rank = scored.rank(ascending=False, method="first")
    names = pd.Index(scores.index.astype(str)).union(weights.index.astype(str)).union(current.index)
    targets = pd.DataFrame({
        "asset": names.to_numpy(str),
        "score": scores.reindex(names).to_numpy(np.float64),
        "rank": rank.reindex(names).to_numpy(np.float64),
        "target_weight": weights.reindex(names).to_numpy(np.float64),
        "current_weight": current.reindex(names).fillna(0.0).to_numpy(np.float64),
    })
    targets.loc[~names.isin(weights.index), "target_weight"] = 0.0  # left out: sold (NaN stays: no order)
    targets = targets.sort_values(["rank", "asset"], na_position="last", kind="stable").reset_index(drop=True)
    flags = trading_flags(panel.close.astype(np.float64), panel.tradable(), panel.assets, t,
                          strategy.limit_threshold)
    orders = make_orders(weights, shares, price, value, strategy, flags)
    after = shares.reindex(shares.index.union(pd.Index(orders["asset"]))).fillna(0.0)
    if len(orders):
        after.loc[orders["asset"].to_numpy()] = orders["shares_after"].to_numpy()
    after = after[after != 0]
    positions = pd.DataFrame({"asset": after.index.astype(str), "shares": after.to_numpy(np.float64)})
    cash_after = held.cash if held.source != "run" else value - float((shares * price.reindex(
        shares.index).to_numpy(np.float64)).sum())
    spent = float((orders["value"] * np.where(orders["side"] == "buy", 1, -1)).sum() + orders["est_cost"].sum())
    record = {"value": value, "cash": cash_after, "after": {"cash": cash_after - spent}}
    return Prediction(targets[TARGET_COLUMNS], orders, record, positions=positions)


def model_keys(trainer) -> dict[str, str | None]:
    """Each fitted model's cache key: {seed: key}, or for a blend {"member/seed": key}."""
    if hasattr(trainer, "trainers"):  # a BlendTrainer: one trainer per member
        return {f"{name}/{seed}": key for name, member in zip(trainer.names, trainer.trainers)
                for seed, key in member.model_keys().items()}
    return {str(seed): key for seed, key in trainer.model_keys().items()}


def _record(run, panel, full, t, bars: ModelBar, fitted, trainer, fits, hits, held: Holdings, prediction,
            rebalanced, unscored, refit, quality, fit_seconds, seconds) -> dict:
    """predict.json's body: what decided (asof, model, data, code, parameters) and what it found."""
    from ..backtest.walkforward import dated, first_test_bar, training_dates

    dates, s = panel.dates, run.instance
    train, valid = training_dates(bars.retrain, s, run.embargo, **dated(s, dates))
    last = (valid if len(valid) else train)
    keys = model_keys(trainer)
    return {
        "asof": str(dates[t].date()),
        "data_last_bar": str(full.dates[-1].date()),
        "strategy": run.strategy,
        "model": {"name": run.model, "retrain_date": str(dates[bars.retrain].date()),
                  "refit": refit,
                  "how": ("refit on every sample labelled by asof (--refit), not the schedule's model" if refit
                          else "the backtest's single fit at the first test bar (retrain=None)" if s.retrain is None
                          else f"the model of the retrain schedule {s.retrain!r} at its last bar on or before asof")
                         + (" (asof comes before the test span: the calendar starts at asof)"
                            if first_test_bar(s, dates) > t and not refit else ""),
                  "train_dates": [str(dates[int(train[0])].date()), str(dates[int(train[-1])].date())]
                  if len(train) else None,
                  "last_sample_date": str(dates[int(last[-1])].date()) if len(last) else None,
                  "retrains_fitted": [str(dates[b].date()) for b in bars.chain],
                  "keys": keys, "fits": fits, "cache_hits": hits,
                  "n_train": fitted.n_train, "n_valid": fitted.n_valid},
        "calendar_start": str(dates[bars.start].date()),
        "rebalanced": rebalanced,
        "data": run.data, "data_digest": run.data_digest, "data_quality_digest": quality.digest,
        "code": {**run.code, "seqalpha": run.versions.get("seqalpha")},
        "versions": run.versions,
        "identity": run.identity_digest(with_data=True),
        "params": run.as_json()["params"],
        "model_params": run.model_params,
        "holdings": {"source": held.source, "path": held.path, "value": prediction.record["value"],
                     "cash": prediction.record["cash"]},
        "after": prediction.record["after"],
        "n_scored": int(prediction.targets["score"].notna().sum()),
        "n_targets": int((prediction.targets["target_weight"].isna() | (prediction.targets["target_weight"] != 0))
                         .sum()),
        "n_orders": len(prediction.orders),
        "unscored": unscored,
        "seconds": {"fit": round(fit_seconds, 3), "total": round(seconds, 3)},
    }
