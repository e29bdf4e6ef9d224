"""The event loop: one readable pass over the calendar that retrains, predicts, rebalances, then simulates.

Timing (DESIGN.md contract): a decision at bar t reads rows dated <= t; a model
retrained at t sees only samples s <= t - h - 1 (labels fully known at t); weights
decided at t are traded at t+1 by the engine.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import cache as _cache
from . import engine, metrics
from .cache import ModelCache
from .checkpoint import Checkpoint
from .data import load_panel
from .ensemble import SeedEnsemble, seed_metrics
from .feature_sets import FeatureSet, WindowTransform
from .features import (
    check_window,
    cross_sectional_normalize,
    excess_labels,
    history_count,
    rank_by_date,
    zscore_by_date,
)
from .model import unknown_params
from .panel import DataError, Panel
from .plugins import collect_registries, pm, temporary_plugins
from .progress import Progress
from .result import BacktestResult
from .samples import SampleSet
from .schedule import schedule_bars
from .strategy import Strategy, StrategyError


class Timer:
    """Wall seconds per phase (data, train, predict, simulate)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {"data": 0.0, "train": 0.0, "predict": 0.0, "simulate": 0.0}

    def phase(self, name: str):
        timer = self

        class _Phase:
            def __enter__(self):
                self.t0 = time.perf_counter()

            def __exit__(self, *exc):
                timer.seconds[name] = timer.seconds.get(name, 0.0) + time.perf_counter() - self.t0

        return _Phase()


class Prepared:
    """The panel turned into model inputs: features, labels, and which (t, i) may be sampled."""

    def __init__(self, strategy: Strategy, panel: Panel, feature_sets) -> None:
        L, h = strategy.window, strategy.horizon
        check_window(L, h, len(panel.dates))
        self.panel, self.window, self.strategy = panel, L, strategy
        self.universe = np.asarray(strategy.universe(panel), dtype=bool)
        if self.universe.shape != panel.close.shape:
            raise StrategyError(f"universe() returned shape {self.universe.shape}, expected {panel.close.shape}")
        fs = strategy.features(panel)
        if fs is None:
            fs = feature_sets.get(strategy.feature_set).factory(panel)
        fs = _select(fs, strategy.factors, strategy.feature_set)
        self.feature_names = fs.names
        if strategy.normalize in ("zscore", "rank") and fs.window_relative:
            raise StrategyError(f"feature set {strategy.feature_set!r} is window-relative: use normalize='robust' "
                                f"(fitted on each training window) or None, not {strategy.normalize!r}")
        if strategy.normalize in ("zscore", "rank"):
            self.features = cross_sectional_normalize(fs.values, panel.listed(), strategy.normalize, strategy.clip)
            self.transform = None
        else:  # raw values; window-relative differences and robust scaling happen per gathered batch
            self.features = np.where(panel.listed()[:, :, None], fs.values, np.nan).astype(np.float32)
            self.transform = WindowTransform(fs.reference, clip=strategy.clip)
        self.reference = fs.reference
        self.exec_price = panel.field("open") if strategy.execution == "open" else panel.close
        if strategy.execution == "open" and not panel.has("open"):
            raise StrategyError(f"execution='open' but data {panel.name!r} has no 'open' field")
        bench = _benchmark_prices(strategy, panel)
        self.labels = excess_labels(self.exec_price, h, self.universe, bench)
        enough = history_count(panel.listed(), L) >= math.ceil(L / 2)
        self.sampleable = self.universe & enough
        self.sampleable[: L - 1] = False

    def fit_normalizer(self, train_dates: np.ndarray, max_windows: int = 20000) -> None:
        """normalize='robust': fit median/MAD per (step, feature) on training windows only (dates <= the last one)."""
        if self.strategy.normalize != "robust" or len(train_dates) == 0:
            return
        raw = self.samples_at(train_dates, need_label=True, transform=None)
        rng = np.random.default_rng(self.strategy.seed)
        pick = np.sort(rng.choice(len(raw), min(max_windows, len(raw)), replace=False))
        self.transform = WindowTransform.fit(raw.windows(pick), self.reference, self.strategy.clip)

    def samples_at(self, dates: np.ndarray, need_label: bool, transform="current") -> SampleSet:
        """Samples for the given date indices (every sampleable asset), with labels and per-date targets."""
        mask = np.zeros_like(self.sampleable)
        mask[dates] = self.sampleable[dates]
        if need_label:
            mask &= np.isfinite(self.labels)
        t, i = np.nonzero(mask)
        labels = self.labels[t, i]
        per_date = rank_by_date if self.strategy.target == "rank" else zscore_by_date
        targets = per_date(labels, t) if need_label else None
        return SampleSet(self.features, self.window, t.astype(np.int64), i.astype(np.int64), labels, targets,
                         self.transform if transform == "current" else transform)


def _select(fs: FeatureSet, names: list[str] | None, set_name: str) -> FeatureSet:
    """Keep only the listed features (strategy.factors), preserving window references."""
    if not names:
        return fs
    missing = [n for n in names if n not in fs.names]
    if missing:
        raise StrategyError(f"factors {missing} not in feature set {set_name!r}: {fs.names}")
    idx = [fs.names.index(n) for n in names]
    ref = [fs.reference[k] for k in idx]
    if any(r >= 0 and r not in idx for r in ref):
        raise StrategyError(f"factors {names} drop a feature that others are relative to in {set_name!r}")
    ref = [idx.index(r) if r >= 0 else -1 for r in ref]
    return FeatureSet(fs.values[:, :, idx], list(names), ref)


def _benchmark_prices(strategy: Strategy, panel: Panel) -> np.ndarray | None:
    """Benchmark prices for the label when the strategy names one; None means cross-sectional mean."""
    if strategy.benchmark is None:
        return None
    if panel.benchmark is None:
        raise StrategyError(f"strategy names benchmark {strategy.benchmark!r} but data {panel.name!r} carries none "
                            "(qlib: add ?benchmark=CODE to the data URI)")
    name = panel.meta.get("benchmark_name")
    if name is not None and str(name).upper() != str(strategy.benchmark).upper():
        raise StrategyError(f"strategy names benchmark {strategy.benchmark!r} but data {panel.name!r} carries {name!r}")
    return panel.benchmark.to_numpy(np.float64)


def training_dates(t: int, strategy: Strategy) -> tuple[np.ndarray, np.ndarray]:
    """Sample dates for a model retrained at bar t: (train, valid), both s <= t - h - 1.

    The validation slice is the last ``valid_fraction`` of the window; training dates
    end h + 1 bars before it starts, so no training label overlaps a validation label.
    """
    h, L = strategy.horizon, strategy.window
    hi = t - h - 1  # last sample whose label (exec t+1 .. t+1+h) is known at t
    lo = L - 1 if strategy.train_window is None else max(L - 1, hi - strategy.train_window + 1)
    if hi < lo:
        return np.array([], dtype=np.int64), np.array([], dtype=np.int64)
    n = hi - lo + 1
    n_valid = int(round(n * strategy.valid_fraction))
    if n_valid == 0:
        return np.arange(lo, hi + 1), np.array([], dtype=np.int64)
    v0 = hi - n_valid + 1
    return np.arange(lo, v0 - h - 1), np.arange(v0, hi + 1)


def test_bars(strategy: Strategy, dates: pd.DatetimeIndex) -> tuple[int, int]:
    """First and last decision bar of the test period (the last must leave a bar to trade on)."""
    T = len(dates)
    earliest = strategy.window - 1 + strategy.min_train_bars + strategy.horizon + 1
    t0 = earliest if strategy.test_start is None else int(dates.searchsorted(pd.Timestamp(strategy.test_start)))
    t1 = T - 2 if strategy.test_end is None else min(T - 2, int(dates.searchsorted(pd.Timestamp(strategy.test_end), "right")) - 1)
    if t0 > t1:
        raise StrategyError(
            f"empty test period: first decision bar {t0} ({'test_start' if strategy.test_start else 'min_train_bars'}) "
            f"is after the last one {t1} of {T} dates ({dates[0].date()}..{dates[-1].date()})"
        )
    if t0 - strategy.horizon - 1 < strategy.window - 1:
        raise StrategyError(f"test_start {dates[t0].date()} leaves no labelled history to train on "
                            f"(window={strategy.window}, horizon={strategy.horizon})")
    return t0, t1


def run_backtest(strategy: Strategy | type[Strategy], data: str | Panel | None = None, out: str | Path | None = None,
                 plugins: Iterable[object] = (), progress: bool | None = None, resume: bool = False,
                 **overrides) -> BacktestResult:
    """Run a strategy end to end and return its BacktestResult (written to ``out`` when given).

    ``strategy`` is a Strategy subclass or instance; ``data`` a URI or a Panel that
    overrides the strategy's ``data``; ``plugins`` extra plugin objects (modules with
    @hookimpl functions) registered for this run only; ``overrides`` set parameters.
    With ``out``, the loop checkpoints into ``out/checkpoint/`` after each finished
    retrain segment; ``resume=True`` continues from there (same numbers as a run that
    was never stopped).
    """
    if isinstance(strategy, type):
        strategy = strategy(**overrides)
    elif overrides:
        raise StrategyError("pass parameter overrides with a Strategy class, not an instance")
    if resume and out is None:
        raise StrategyError("resume=True needs the run directory (out=...) of the run to continue")
    strategy_module = sys.modules.get(type(strategy).__module__)
    extra = [*plugins] + ([strategy_module] if strategy_module is not None and _has_hookimpls(strategy_module) else [])
    with temporary_plugins(*extra):
        registries = collect_registries()
        return _run(strategy, data, out, registries, Progress(enabled=progress), resume)


def _check_model_params(strategy: Strategy, registries) -> None:
    """Model.__init__'s parameter check, run before data loading, with the likely cause (params for another model)."""
    known = getattr(registries.models.get(strategy.model).factory, "defaults", None)
    problem = unknown_params(repr(strategy.model), known, strategy.model_params) if isinstance(known, dict) else None
    if problem:
        raise StrategyError(f"{problem} If the strategy's model_params were written for another model, override "
                            f"them too, e.g. --set model={strategy.model} --set model_params={{}}")


def _has_hookimpls(module: object) -> bool:
    return any(hasattr(getattr(module, name, None), "seqalpha_impl") for name in dir(module))


@dataclass
class LoopState:
    """What the simulation clock accumulates; lists only grow, so a checkpoint saves what each segment added."""

    scores: list = field(default_factory=list)  # DataFrames t, i, score
    seed_scores: list = field(default_factory=list)  # DataFrames t, i, seed, score
    weights: list = field(default_factory=list)  # DataFrames date, asset, weight
    training: list = field(default_factory=list)  # per-epoch dicts
    gradient_flow: list = field(default_factory=list)  # dicts retrain_date, lag, grad_norm, model
    retrains: list = field(default_factory=list)  # per-retrain dicts: date, seconds, fits, cache_hits
    decisions: list = field(default_factory=list)  # (t, weights over all assets)
    weights_now: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    timer: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _run(strategy: Strategy, data, out, registries, progress: Progress, resume: bool = False) -> BacktestResult:
    timer = Timer()
    wall0 = time.perf_counter()
    _check_model_params(strategy, registries)  # before minutes of data loading
    data = data if data is not None else strategy.data
    with timer.phase("data"):
        progress.log(f"loading data {data if isinstance(data, str) else data.name}")
        panel = data if isinstance(data, Panel) else load_panel(data, registries.data_sources)
        prep = Prepared(strategy, panel, registries.features)
    rule = registries.portfolios.create(strategy.portfolio, **strategy.portfolio_params)
    model_entry = registries.models.get(strategy.model)
    model_params = dict(strategy.model_params)
    if "seed" in getattr(model_entry.factory, "defaults", {}) and "seed" not in model_params:
        model_params["seed"] = strategy.seed
    dates, assets = panel.dates, panel.assets
    t0, t1 = test_bars(strategy, dates)
    test = np.arange(t0, t1 + 1)
    retrain_at = set((schedule_bars(dates[t0:t1 + 1], strategy.retrain) + t0).tolist())
    rebalance_at = set((schedule_bars(dates[t0:t1 + 1], strategy.rebalance) + t0).tolist())
    trainer = Trainer(strategy, prep, model_entry, model_params, ModelCache() if strategy.cache else None, progress)

    state, start = LoopState(), t0
    ckpt = None
    if out is not None:
        ckpt = Checkpoint(Path(out) / "checkpoint", _run_fingerprint(strategy, data, prep, model_entry, t0, t1))
        restored = ckpt.load() if resume else None
        if restored is not None:
            start, saved = restored
            state = LoopState(**saved)
            progress.log(f"resuming at {dates[start].date()} after {len(state.retrains)} finished retrains")
        else:
            if resume:
                progress.log(f"no checkpoint in {out}: starting from the beginning")
            ckpt.clear()
    for phase, seconds in state.timer.items():
        timer.seconds[phase] = timer.seconds.get(phase, 0.0) + seconds
    pm.hook.backtest_started(strategy=strategy, panel=panel)

    retrains = sorted(retrain_at)
    bar = progress.bar(len(test), "backtest")
    bar.update(start - t0)
    by_date: dict = {}
    for t in test[test >= start]:  # ---- the simulation clock ----------------------------------
        if t in retrain_at:
            if ckpt is not None and t > start:  # the previous segment is finished: save it
                state.timer = {k: v for k, v in timer.seconds.items() if k != "data"}
                ckpt.save(t, state.as_dict())
            with timer.phase("train"):
                prep.fit_normalizer(training_dates(t, strategy)[0])
                model = trainer.retrain(t, state)
            with timer.phase("predict"):  # score every bar until the next retrain with this model
                nxt = next((r for r in retrains if r > t), t1 + 1)
                segment = prep.samples_at(np.arange(t, nxt), need_label=False)
                members = model.predict_members(segment) if isinstance(model, SeedEnsemble) else None
                seg_scores = members.mean(axis=0) if members is not None else np.asarray(model.predict(segment),
                                                                                         dtype=np.float64)
                if seg_scores.shape != (len(segment),) or not np.isfinite(seg_scores).all():
                    raise RuntimeError(f"model {strategy.model!r} returned {seg_scores.shape} scores with "
                                       f"non-finite values; expected ({len(segment)},) finite floats")
                scores_now = pd.DataFrame({"t": segment.t, "i": segment.i, "score": seg_scores})
                by_date = dict(tuple(scores_now.groupby("t")))
                if members is not None:
                    state.seed_scores += [pd.DataFrame({"t": segment.t, "i": segment.i, "seed": seed, "score": m})
                                          for seed, m in zip(model.seeds, members)]
        today = by_date.get(t)
        if today is not None:
            state.scores.append(today)
        if t in rebalance_at:
            scores = (pd.Series(today["score"].to_numpy(), index=assets[today["i"].to_numpy()])
                      if today is not None else pd.Series(dtype=float))
            weights = _checked_weights(strategy.target_weights(scores, state.weights_now, rule), scores, dates[t])
            state.decisions.append((t, weights.reindex(assets).fillna(0.0).to_numpy()))
            state.weights_now = weights[weights != 0]
            state.weights.append(pd.DataFrame({"date": dates[t], "asset": state.weights_now.index,
                                               "weight": state.weights_now.to_numpy()}))
            pm.hook.rebalanced(strategy=strategy, date=dates[t], scores=scores, weights=state.weights_now)
            progress.detail(f"rebalance {dates[t].date()}: {len(scores)} scored, {len(state.weights_now)} held")
        bar.update()
    bar.close()

    decisions = dict(state.decisions)  # decision bar -> target weights over all assets
    with timer.phase("simulate"):
        progress.log("simulating orders with vectorbt")
        costs = engine.Costs(fees=strategy.fees, slippage=strategy.slippage, buy_cost=strategy.buy_cost,
                             sell_cost=strategy.sell_cost, min_cost=strategy.min_cost)
        # the test span: first execution bar t0 + 1 to t1 + 1, where the last decision trades; nothing after it
        sim = engine.simulate(dates, assets, panel.close, prep.exec_price, panel.tradable(), decisions, start=t0 + 1,
                              end=t1 + 1, init_cash=strategy.init_cash, costs=costs,
                              limit_threshold=strategy.limit_threshold, delist_after=strategy.delist_after)
        bench = _benchmark_returns(strategy, panel, prep.universe)[t0 + 1:t1 + 2]
        returns = pd.DataFrame({"date": dates[t0 + 1:t1 + 2], "strategy": sim.returns.to_numpy(), "benchmark": bench})
    result = _assemble(strategy, panel, prep, data, state, decisions, sim, returns, timer, t0, t1, len(retrain_at),
                       wall0)
    result.config["resumed_at"] = str(dates[start].date()) if start > t0 else None
    if out is not None:
        result.write(out)
        ckpt.clear()
    pm.hook.backtest_finished(strategy=strategy, result=result)
    return result


def _run_fingerprint(strategy: Strategy, data, prep: Prepared, model_entry, t0: int, t1: int) -> str:
    """What a checkpoint must match to be resumed: parameters (but ``cache``), code of the strategy and
    model, the data as prepared (features, labels, universe, prices) and the test span."""
    h = hashlib.sha256()
    params = {k: v for k, v in strategy.params().items() if k != "cache"}
    h.update(json.dumps(_cache.stable(params), sort_keys=True).encode())
    h.update(json.dumps([data if isinstance(data, str) else f"panel:{data.name}", t0, t1,
                         list(LoopState.__dataclass_fields__)]).encode())
    h.update(str(_cache.code_version(type(strategy))).encode())
    h.update(str(_cache.code_version(model_entry.factory)).encode())
    for a in (prep.features, prep.labels, prep.sampleable, prep.exec_price, prep.panel.close):
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()


class Trainer:
    """Fits the model of each retrain: the walk-forward slices, one member per seed, the model cache,
    and the per-retrain diagnostics (epoch rows, wall time, gradient flow)."""

    def __init__(self, strategy: Strategy, prep: Prepared, model_entry, model_params: dict,
                 cache: ModelCache | None, progress: Progress) -> None:
        self.strategy, self.prep, self.entry, self.params = strategy, prep, model_entry, model_params
        self.cache, self.progress = cache, progress

    def retrain(self, t: int, state: LoopState):
        """Fit (or load) the model for the retrain at bar t; append its diagnostics to ``state``."""
        strategy, prep = self.strategy, self.prep
        date = prep.panel.dates[t]
        train_dates, valid_dates = training_dates(t, strategy)
        train = prep.samples_at(train_dates, need_label=True)
        valid = prep.samples_at(valid_dates, need_label=True) if len(valid_dates) else None
        if len(train) == 0:
            raise StrategyError(f"no training samples for the retrain at {date.date()}: "
                                "start the test later or lower min_train_bars/window")
        t_start = time.perf_counter()
        fit = self._fit_member()
        if strategy.seeds:
            model = SeedEnsemble(self.entry.factory, self.params, strategy.seeds, fit_member=fit)
            members = model.fit(train, valid)["members"]
        else:
            seed = self.params.get("seed", strategy.seed)
            model, info = fit(self.params, train, valid, seed)
            members = [(seed, info)]
        seconds = time.perf_counter() - t_start
        hits = sum(bool(info.get("cached")) for _, info in members)
        for seed, info in members:
            state.training += [{"retrain_date": date, "seed": seed, **r, "cached": bool(info.get("cached")),
                                "retrain_seconds": info.get("wall_seconds", np.nan)} for r in info.get("history", [])]
        state.retrains.append({"date": date, "seconds": seconds, "fits": len(members), "cache_hits": hits})
        state.gradient_flow += self._gradient_flow(model, valid if valid is not None else train, date)
        best = [str(info["best_epoch"]) for _, info in members if "best_epoch" in info]
        self.progress.log(f"{'loaded' if hits == len(members) else 'retrained'} {strategy.model} at {date.date()} "
                          f"on {len(train)} samples ({0 if valid is None else len(valid)} validation) in {seconds:.1f}s"
                          + (f" ({hits} of {len(members)} from the cache)" if hits else "")
                          + (f", best epoch {', '.join(best)}" if best else ""))
        pm.hook.model_trained(strategy=strategy, date=date, model=model, n_train=len(train),
                              n_valid=0 if valid is None else len(valid), seconds=seconds)
        return model

    def _fit_member(self):
        """fit(params, train, valid, seed) -> (model, info): from the cache when the same model was fitted before."""
        factory, name, features = self.entry.factory, self.strategy.model, self.prep.feature_names

        def fit(params: dict, train: SampleSet, valid: SampleSet | None, seed: int):
            t_start = time.perf_counter()
            model = factory(**params)
            key = None
            if self.cache is not None:
                key = _cache.model_key(name, factory, params, train, valid, features, seed,
                                       device=str(getattr(model, "device", "")))
                hit = self.cache.load(key, factory, params) if key is not None else None
                if hit is not None:
                    model, info = hit
                    return model, {**info, "cached": True, "wall_seconds": time.perf_counter() - t_start}
            model.log = self.progress.log  # per-epoch progress lines (TorchSequenceModel uses it)
            try:
                info = dict(model.fit(train, valid) or {})
            finally:
                model.log = None  # not part of the model (and not picklable)
            info["fit_seconds"] = time.perf_counter() - t_start
            if key is not None and not self.cache.store(key, model, info, train.n_features):
                self.progress.log(f"model {name!r} could not be pickled: not cached")
            return model, {**info, "cached": False, "wall_seconds": time.perf_counter() - t_start}

        return fit

    def _gradient_flow(self, model, samples: SampleSet, date) -> list[dict]:
        """Rows (retrain_date, lag, grad_norm, model): the gradient-flow curve, averaged over torch members."""
        members = model.members if isinstance(model, SeedEnsemble) else [model]
        torch_members = [m for m in dict.fromkeys(members) if _is_torch_model(m)]
        if not torch_members:
            return []
        from .diagnostics import gradient_flow

        try:
            curve = np.mean([gradient_flow(m, samples) for m in torch_members], axis=0)
        except RuntimeError as exc:  # e.g. a network that is not differentiable in its input
            self.progress.log(f"gradient flow not computed for {self.strategy.model!r}: {exc}")
            return []
        return [{"retrain_date": date, "lag": lag, "grad_norm": float(g), "model": self.strategy.model}
                for lag, g in enumerate(curve)]


def _is_torch_model(model) -> bool:
    if "torch" not in sys.modules:
        return False
    from .torch_model import TorchSequenceModel

    return isinstance(model, TorchSequenceModel) and model.network is not None


def _checked_weights(weights: pd.Series, scores: pd.Series, date) -> pd.Series:
    """Reject weights that are not finite or name assets that were not scored (not eligible) today."""
    weights = pd.Series(weights, dtype=float)
    bad = weights.index.difference(scores.index)
    if len(bad):
        raise StrategyError(f"target weights on {pd.Timestamp(date).date()} name assets not in today's universe: {list(bad[:5])}")
    if not np.isfinite(weights.to_numpy()).all():
        raise StrategyError(f"target weights on {pd.Timestamp(date).date()} contain NaN or infinity")
    return weights


def _benchmark_returns(strategy: Strategy, panel: Panel, universe: np.ndarray) -> np.ndarray:
    if strategy.benchmark is not None:
        prices = pd.Series(_benchmark_prices(strategy, panel))
        return prices.pct_change().fillna(0.0).to_numpy()
    return engine.equal_weight_benchmark(panel.close, universe)


def _assemble(strategy, panel, prep, data, state: LoopState, decisions, sim, returns, timer, t0, t1, n_retrains,
              wall0) -> BacktestResult:
    dates, assets = panel.dates, panel.assets
    sc = pd.concat(state.scores, ignore_index=True) if state.scores else pd.DataFrame({"t": [], "i": [], "score": []})
    ti, ii = sc["t"].to_numpy(np.int64), sc["i"].to_numpy(np.int64)
    scores = pd.DataFrame({"date": dates[ti], "asset": assets[ii], "score": sc["score"].to_numpy(),
                           "label": prep.labels[ti, ii]})
    weights = (pd.concat(state.weights, ignore_index=True) if state.weights
               else pd.DataFrame({"date": pd.DatetimeIndex([]), "asset": [], "weight": []}))
    ic = metrics.ic_by_date(scores)
    ppy = metrics.periods_per_year(dates[:t1 + 2])  # the calendar up to the span's end only
    reb_bars = [t + 1 - (t0 + 1) for t in sorted(decisions)]  # every decision bar t <= t1 trades at t + 1 <= t1 + 1
    turn = metrics.turnover(sim.traded_value, sim.value, reb_bars, ppy, len(returns))
    holdings = weights.groupby("date").size()
    rebalances = pd.DataFrame({"date": [dates[t] for t in sorted(decisions)]})
    rebalances["turnover"] = [float(turn["per_bar"].iloc[b]) if b < len(turn["per_bar"]) else 0.0 for b in reb_bars] + \
        [0.0] * (len(rebalances) - len(reb_bars))
    rebalances["n_holdings"] = rebalances["date"].map(holdings).fillna(0).astype(int)
    m = {**metrics.ic_summary(ic),
         **metrics.performance(returns["strategy"], returns["benchmark"], ppy),
         "turnover": turn["turnover"], "turnover_per_rebalance": turn["turnover_per_rebalance"],
         "n_rebalances": len(decisions), "n_retrains": n_retrains,
         "n_assets": int(prep.universe[t0:t1 + 1].any(axis=0).sum()),  # in the universe on some decision bar
         "n_delisted_sold": sim.n_delisted_sold, "periods_per_year": ppy,
         "n_model_fits": sum(r["fits"] for r in state.retrains),
         "n_cache_hits": sum(r["cache_hits"] for r in state.retrains),
         "retrain_seconds": [round(r["seconds"], 3) for r in state.retrains]}
    seed_scores = BacktestResult.__dataclass_fields__["seed_scores"].default_factory()
    if state.seed_scores:
        ss = pd.concat(state.seed_scores, ignore_index=True)
        st, si = ss["t"].to_numpy(np.int64), ss["i"].to_numpy(np.int64)
        seed_scores = pd.DataFrame({"date": dates[st], "asset": assets[si], "seed": ss["seed"].to_numpy(np.int64),
                                    "score": ss["score"].to_numpy(np.float64), "label": prep.labels[st, si]})
        m.update(seed_metrics(seed_scores))
    m["seconds"] = {**timer.seconds, "total": time.perf_counter() - wall0}
    config = {"strategy": type(strategy).__name__, "strategy_file": getattr(sys.modules.get(type(strategy).__module__),
                                                                             "__file__", None),
              "data": data if isinstance(data, str) else f"panel:{data.name}", "params": strategy.params(),
              "span": [str(dates[t0].date()), str(dates[t1].date())], "features": prep.feature_names,
              "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "seed": strategy.seed,
              "panel": {"dates": len(dates), "assets": len(assets), "first": str(dates[0].date()),
                        "last": str(dates[-1].date())}}
    training = pd.DataFrame(state.training)
    if training.empty:
        training = pd.DataFrame({"retrain_date": pd.DatetimeIndex([]), "seed": [], "epoch": [], "train_loss": [],
                                 "valid_loss": [], "valid_ic": [], "clip_rate": [], "chosen": [], "cached": [],
                                 "retrain_seconds": []})
    flow = (pd.DataFrame(state.gradient_flow) if state.gradient_flow
            else BacktestResult.__dataclass_fields__["gradient_flow"].default_factory())
    return BacktestResult(config=config, metrics=m, scores=scores, weights=weights, returns=returns, ic=ic,
                          rebalances=rebalances, training=training, portfolio=sim.portfolio, gradient_flow=flow,
                          seed_scores=seed_scores)


__all__ = ["run_backtest", "training_dates", "test_bars", "Prepared", "DataError"]
