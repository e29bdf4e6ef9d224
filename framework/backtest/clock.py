"""The simulation clock: one pass over the test period's decision bars (docs/design.md, "The loop").

At a retrain bar the model is refitted on what is known then and scores every bar of its
segment; each bar's scores are kept; at a rebalance bar the portfolio rule turns today's
scores into target weights (traded by the engine on the next bar).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import ModelOutputError
from ..model import Model, derived_cache
from ..progress import Progress, Timer
from ..strategy import Strategy, StrategyError
from .checkpoint import Checkpoint
from .dataset import Dataset
from .trainer import Retrain, Trainer
from .walkforward import WalkForward


@dataclass
class LoopState:
    """What the clock accumulates; lists only grow, so a checkpoint saves what each segment added."""

    scores: list = field(default_factory=list)  # DataFrames t, i, score
    seed_scores: list = field(default_factory=list)  # DataFrames t, i, seed, score
    member_scores: list = field(default_factory=list)  # a blend's: DataFrames t, i, member, score, rank
    weights: list = field(default_factory=list)  # DataFrames date, asset, weight
    training: list = field(default_factory=list)  # per-epoch dicts
    gradient_flow: list = field(default_factory=list)  # dicts retrain_date, lag, grad_norm, model
    retrains: list = field(default_factory=list)  # per-retrain dicts: date, seconds, fits, cache_hits
    decisions: list = field(default_factory=list)  # (t, weights over all assets)
    unrebalanced: list = field(default_factory=list)  # rebalance dates skipped: scores with no spread (positions kept)
    weights_now: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    timer: dict = field(default_factory=dict)
    warm: dict = field(default_factory=dict)  # warm starts: {seed: [checkpoint entry, cache key]} (Trainer.save_chain)

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def run_clock(strategy: Strategy, dataset: Dataset, calendar: WalkForward, trainer: Trainer, rule, hook,
              state: LoopState, start: int, timer: Timer, progress: Progress,
              checkpoint: Checkpoint | None = None) -> LoopState:
    """Step through decision bars ``start..t1``, adding to ``state``; checkpoint at each retrain after the first."""
    dates, assets = dataset.panel.dates, dataset.panel.assets
    bar = progress.bar(len(calendar.bars), "backtest")
    bar.update(start - calendar.t0)
    by_date: dict = {}
    for t in range(start, calendar.t1 + 1):
        if t in calendar.retrain_bars:
            if checkpoint is not None and t > start:  # the previous segment is finished: save it
                state.timer = timer.loop_seconds()
                state.warm = trainer.save_chain(checkpoint.folder)
                checkpoint.save(t, state.as_dict())
            with timer.phase("train"):
                fitted = trainer.retrain(t)
            _record_retrain(state, fitted, dates[t])
            hook.model_trained(strategy=strategy, date=dates[t], model=fitted.model, n_train=fitted.n_train,
                               n_valid=fitted.n_valid, seconds=fitted.seconds)
            with timer.phase("predict"):  # every bar until the next retrain, with this model
                by_date = trainer.score_segment(fitted, t, calendar.segment_end(t), state)
        today = by_date.get(t)
        if today is not None:
            state.scores.append(today)
        if t in calendar.rebalance_bars:
            scores = (pd.Series(today["score"].to_numpy(), index=assets[today["i"].to_numpy()])
                      if today is not None else pd.Series(dtype=float))
            if no_spread(scores):  # nothing tells the assets apart: any choice would be the column order
                state.unrebalanced.append(dates[t])
                progress.detail(f"rebalance {dates[t].date()} skipped: scores have no spread, positions kept")
                bar.update()
                continue
            weights = checked_weights(strategy.target_weights(scores, state.weights_now, rule), scores, dates[t])
            target = np.zeros(len(assets))  # names left out are sold; NaN: no order for that name
            target[assets.get_indexer(weights.index)] = weights.to_numpy()
            state.decisions.append((t, target))
            state.weights_now = weights[weights != 0]
            state.weights.append(pd.DataFrame({"date": dates[t], "asset": state.weights_now.index,
                                               "weight": state.weights_now.to_numpy()}))
            hook.rebalanced(strategy=strategy, date=dates[t], scores=scores, weights=state.weights_now)
            progress.detail(f"rebalance {dates[t].date()}: {len(scores)} scored, {len(state.weights_now)} held")
        bar.update()
    bar.close()
    if state.unrebalanced:
        first = ", ".join(str(pd.Timestamp(d).date()) for d in state.unrebalanced[:3])
        warnings.warn(f"{len(state.unrebalanced)} rebalance date(s) not rebalanced, positions kept: their scores "
                      f"have no spread across assets (features missing on those dates?); first: {first}",
                      RuntimeWarning, stacklevel=2)
    return state


def no_spread(scores: pd.Series) -> bool:
    """True when scores exist but cannot rank the assets: none is finite (no window had data), or two or more are
    and they are all equal. An empty universe, or a single scored asset, is rebalanced as usual."""
    finite = scores.to_numpy(np.float64)
    finite = finite[np.isfinite(finite)]
    return len(scores) > 0 and (len(finite) == 0 or (len(finite) > 1 and finite.max() == finite.min()))


def _record_retrain(state: LoopState, fitted: Retrain, date) -> None:
    state.training += fitted.training
    state.gradient_flow += fitted.gradient_flow
    state.retrains.append({"date": date, "seconds": fitted.seconds, "fits": fitted.fits,
                           "cache_hits": fitted.cache_hits})


def _score_segment(strategy: Strategy, dataset: Dataset, fitted: Retrain, t: int, end: int,
                   state: LoopState, cache=None) -> dict:
    """Score bars t..end-1 with the retrain's model; {bar: DataFrame(t, i, score)}; ensemble members kept. With a
    model cache and a cached model, the scores are cached beside it (model/derived_cache.py)."""
    segment = dataset.samples(np.arange(t, end), fitted.transform, need_label=False)
    key = derived_cache.scores_key(fitted.cache_keys, segment) if cache is not None else None
    members = derived_cache.load_scores(cache, key, len(segment))
    if members is None:
        members = checked_scores(fitted.model, segment, strategy.model)
        derived_cache.store_scores(cache, key, members)
    members[:, ~dataset.window_has_values(segment.t, segment.i)] = np.nan  # no data in the window: not scored
    scores = pd.DataFrame({"t": segment.t, "i": segment.i, "score": members.mean(axis=0)})
    if strategy.seeds:
        state.seed_scores += [pd.DataFrame({"t": segment.t, "i": segment.i, "seed": seed, "score": m})
                              for seed, m in zip(strategy.seeds, members)]
    return dict(tuple(scores.groupby("t")))


def checked_scores(model: Model, samples, name: str) -> np.ndarray:
    """The members' scores float[S, B], refused with a message when the shape is wrong or a score is not finite."""
    members = np.asarray(model.predict_members(samples), dtype=np.float64)
    if members.ndim != 2 or members.shape[1] != len(samples):
        raise ModelOutputError(f"model {name!r} returned scores of the wrong shape: {members.shape} (members x "
                            f"samples) for {len(samples)} samples; predict must return shape ({len(samples)},)")
    bad = ~np.isfinite(members)
    if bad.any():
        raise ModelOutputError(f"model {name!r} returned {int(bad.sum())} non-finite score(s) (NaN or infinity) "
                            f"for {len(samples)} samples")
    return members


def checked_weights(weights: pd.Series, scores: pd.Series, date) -> pd.Series:
    """Target weights as the engine will trade them, or a clear refusal: anything but a Series of numbers by asset
    (None: a forgotten ``return``), names that were not scored (not eligible) today, infinite weights, or long
    weights adding up to more than the portfolio (there is no margin to buy them with). NaN is allowed: no order
    for that name, its position drifts."""
    day = pd.Timestamp(date).date()
    if not isinstance(weights, pd.Series):
        hint = " (a forgotten `return`?)" if weights is None else ""
        raise StrategyError(f"target_weights on {day} returned {type(weights).__name__}{hint}; it must return a "
                            "pandas Series of weights indexed by asset (absent: 0, NaN: no order)")
    numeric = pd.api.types.is_numeric_dtype(weights.dtype) and not pd.api.types.is_bool_dtype(weights.dtype)
    if not numeric:
        odd = [(a, v) for a, v in weights.items() if v is not None and (
            isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)))]
        if odd:
            raise StrategyError(f"target_weights on {day} returned a value that is not a weight: {odd[0][1]!r} for "
                                f"{odd[0][0]!r} ({len(odd)} such); it must hold a number per asset")
    weights = weights.astype(float)
    if weights.index.has_duplicates:
        raise StrategyError(f"target weights on {day} name an asset twice: {list(weights.index[weights.index.duplicated()][:5])}")
    bad = weights.index.difference(scores.index)
    if len(bad):
        raise StrategyError(f"target weights on {day} name assets not in today's universe: {list(bad[:5])}")
    if np.isinf(weights.to_numpy()).any():
        raise StrategyError(f"target weights on {day} contain infinity: {list(weights.index[np.isinf(weights)][:5])}")
    long = float(weights[weights > 0].sum())
    if long > 1 + 1e-9:
        raise StrategyError(f"target weights on {day} put {long:.4g} of the portfolio's value in long positions; "
                            "they must add up to at most 1 (the engine cannot buy on margin): scale them down")
    return weights
