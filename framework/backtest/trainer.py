"""The trainer: the model of one retrain, fitted on the walk-forward slices or loaded from the model cache.

It returns what it did (the model, its window transform, per-epoch rows, gradient flow,
wall time) and writes into nothing else; the clock records it.
"""

from __future__ import annotations

import hashlib
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..features import WindowTransform
from ..model import Model, ModelCache, SampleSet, SeedEnsemble, as_model, derived_cache, fit_model, takes_seed
from ..model.base import Log
from ..model.cache import UNSAFE_PICKLE, model_key, unsafe_pickle_warning
from ..model.card import CardFactory
from ..progress import Progress
from ..resolved import ResolvedRun
from ..strategy import Strategy, StrategyError
from . import walkforward
from .checkpoint import CheckpointMismatch
from .dataset import Dataset


@dataclass
class Retrain:
    """One retrain's model and records (rows of training.parquet and gradient_flow.parquet, a retrain record)."""

    model: Model
    transform: WindowTransform | None
    n_train: int
    n_valid: int
    seconds: float
    fits: int
    cache_hits: int
    training: list[dict] = field(default_factory=list)
    gradient_flow: list[dict] = field(default_factory=list)
    cache_keys: tuple = ()  # the members' model-cache keys (a None: not cached); they key the cached scores


def member_seeds(strategy: Strategy, factory) -> list[int]:
    """The seeds of the models one retrain fits: every ensemble seed, only the first for a model that takes no
    seed (it is fitted once and shared), or the strategy's seed."""
    if not strategy.seeds:
        return [strategy.seed]
    return list(strategy.seeds) if takes_seed(factory) else list(strategy.seeds[:1])


class Trainer:
    """Fits the model of each retrain: the walk-forward slices, one member per seed, the model cache."""

    WARM = "warm"  # the checkpoint's folder of warm-start models (the chain a resumed run continues)

    def __init__(self, run: ResolvedRun, dataset: Dataset, cache: ModelCache | None, progress: Progress) -> None:
        self.run, self.strategy, self.dataset = run, run.instance, dataset
        self.entry, self.params = run.model_entry, dict(run.factory_params)
        self.factory = run.factory if run.factory is not None else self.entry.factory  # a CardFactory: not imported
        self.unsafe_pickle = run.unsafe_pickle_cache  # the cache's opt-in, not the model's (resolve_run splits it)
        self.cache, self.progress, self.threads = cache, progress, run.threads
        self._not_cached_said = False
        #: where scores and gradient flow are cached beside the models: never with cache=False (a --workers run's
        #: temporary fits folder included)
        self.derived_cache = cache if run.cache else None
        if self.unsafe_pickle and cache is not None:
            warnings.warn(unsafe_pickle_warning(run.model, cache.root), RuntimeWarning, stacklevel=2)
        self.aux_horizons = tuple(run.aux_horizons)
        #: the embargo: labels at every horizon a fit trains on must be known at the retrain
        self.embargo = run.embargo
        self.warm = run.warm_start
        self._previous: dict[int, tuple[Model, str | None]] = {}  # seed -> the last fitted model and its cache key
        self.datasets = [dataset]  # what the checkpoint fingerprint hashes (a blend's trainer has its members' too)

    # ---- warm starts across a checkpoint ----------------------------------------------------------
    def save_chain(self, folder: Path) -> dict:
        """With warm starts, store each seed's last model in the checkpoint ``folder`` (safe model storage, as the
        model cache) and return {seed: [entry, cache key]} for the loop state; {} without warm starts."""
        if not self.warm:
            return {}
        store, chain = ModelCache(Path(folder) / self.WARM), {}
        for seed, (model, key) in self._previous.items():
            entry = key or hashlib.sha256(f"uncached:{seed}:{id(model)}:{time.time_ns()}".encode()).hexdigest()
            if not store.path(entry).exists() and not store.store(entry, model, {}):
                raise StrategyError(f"warm_start: the model of seed {seed} cannot be stored in the checkpoint, so a "
                                    "resumed run could not continue from it")
            chain[str(seed)] = [entry, key]
        keep = {store.path(entry) for entry, _ in chain.values()}
        for path in store.entries():  # the chain's older links are not needed to resume
            if path not in keep:
                path.unlink(missing_ok=True)
        return chain

    def restore_chain(self, chain: dict, folder: Path) -> None:
        """Continue the warm-start chain a checkpoint saved (``save_chain``), so a resumed run refits from the same
        models, under the same cache keys, as the run that was stopped."""
        if not self.warm or not chain:
            return
        store = ModelCache(Path(folder) / self.WARM)
        for seed, (entry, key) in chain.items():
            params = self.members_by_seed().get(int(seed), self.params)
            hit = store.load(entry, self.factory, params)
            if hit is None:
                raise CheckpointMismatch(f"the checkpoint's warm-start model of seed {seed} is missing or damaged: "
                                         "run without --resume and with --force to start over")
            self._previous[int(seed)] = (hit[0], key)

    def model_keys(self) -> dict[int, str | None]:
        """Each seed's last fitted (or loaded) model's cache key; None for a model that is not cached."""
        return {seed: key for seed, (_, key) in self._previous.items()}

    def members_by_seed(self) -> dict[int, dict]:
        return {seed: params for params, seed in self.members()}

    def retrain(self, t: int) -> Retrain:
        """Fit (or load) the model for the retrain at bar t, on samples whose labels are known at t."""
        strategy = self.strategy
        date = self.dataset.panel.dates[t]
        t_start = time.perf_counter()
        transform, train, valid = self.slices(t)
        if strategy.seeds:
            model: Model = SeedEnsemble(self.factory, self.params, strategy.seeds, fit_member=self.fit_member)
            members = model.fit(train, valid, self.progress.log)["members"]
        else:
            seed = self.params.get("seed", strategy.seed)
            model, info = self.fit_member(self.params, train, valid, seed, self.progress.log)
            members = [(seed, info)]
        seconds = time.perf_counter() - t_start
        hits = sum(bool(info.get("cached")) for _, info in members)
        training = [{"retrain_date": date, "seed": seed, **r, "cached": bool(info.get("cached")),
                     "retrain_seconds": info.get("wall_seconds", np.nan)}
                    for seed, info in members for r in info.get("history", [])]
        best = [str(info["best_epoch"]) for _, info in members if "best_epoch" in info]
        n_valid = 0 if valid is None else len(valid)
        self.progress.log(f"{'loaded' if hits == len(members) else 'retrained'} {strategy.model} at {date.date()} "
                          f"on {len(train)} samples ({n_valid} validation) in {seconds:.1f}s"
                          + (f" ({hits} of {len(members)} from the cache)" if hits else "")
                          + (f", best epoch {', '.join(best)}" if best else ""))
        keys = tuple(info.get("cache_key") for _, info in members)
        return Retrain(model, transform, len(train), n_valid, seconds, len(members), hits, training,
                       self._gradient_flow(model, valid if valid is not None else train, date, keys), keys)

    def score_segment(self, fitted: Retrain, t: int, end: int, state) -> dict:
        """Score bars t..end-1 with the retrain's model (clock._score_segment); {bar: DataFrame(t, i, score)}."""
        from .clock import _score_segment

        return _score_segment(self.strategy, self.dataset, fitted, t, end, state, self.derived_cache)

    def slices(self, t: int) -> tuple[WindowTransform | None, SampleSet, SampleSet | None]:
        """(window transform, training samples, validation samples or None) of the retrain at bar t: sample dates
        whose labels are known at t, the transform fitted on the training windows only."""
        train_dates, valid_dates = walkforward.training_dates(
            t, self.strategy, self.embargo, **walkforward.dated(self.strategy, self.dataset.panel.dates))
        transform = self.dataset.fit_transform(train_dates)
        train = self.dataset.samples(train_dates, transform, need_label=True, aux_horizons=self.aux_horizons)
        valid = (self.dataset.samples(valid_dates, transform, need_label=True, aux_horizons=self.aux_horizons)
                 if len(valid_dates) else None)
        if len(train) == 0:
            raise StrategyError(f"no training samples for the retrain at {self.dataset.panel.dates[t].date()}: "
                                "start the test later or lower min_train_bars/window")
        return transform, train, valid

    def members(self) -> list[tuple[dict, int]]:
        """(parameters, seed) of each model one retrain fits: one per ensemble seed, or the single model."""
        if self.strategy.seeds:
            ensemble = SeedEnsemble(self.factory, self.params, self.strategy.seeds)
            return [(ensemble.member_params(s), s) for s in member_seeds(self.strategy, self.factory)]
        return [(self.params, self.params.get("seed", self.strategy.seed))]

    def fit_member(self, params: dict, train: SampleSet, valid: SampleSet | None, seed: int,
                   log: Log | None = None) -> tuple[Model, dict]:
        """(model, info) for one seed: from the cache when the same model was fitted on the same data before.

        With ``warm_start`` the fit starts from this seed's previous model (its cache key is part of this one's),
        so retrains depend on each other and run in order."""
        t_start = time.perf_counter()
        factory, name = self.factory, self.strategy.model
        model = None
        previous, previous_key = self._previous.get(seed, (None, None)) if self.warm else (None, None)
        key = None
        if self.cache is not None and (previous is None or previous_key is not None):
            device = factory.device(params) if isinstance(factory, CardFactory) else None  # known without torch
            if device is None:
                model = as_model(factory(**params))
                device = str(getattr(model, "device", ""))
            key = model_key(name, factory, params, train, valid, self.dataset.feature_names, seed,
                            device=device, threads=self.threads, previous=previous_key)
            hit = self.cache.load(key, factory, params, self.unsafe_pickle) if key is not None else None
            if hit is not None:
                model, info = hit
                self._previous[seed] = (model, key)
                return model, {**info, "cached": True, "cache_key": key,
                               "wall_seconds": time.perf_counter() - t_start}
        if model is None:
            model = as_model(factory(**params))
        if previous is not None:
            model.restore(previous.state())
        info = fit_model(model, train, valid, log)
        info["fit_seconds"] = time.perf_counter() - t_start
        if key is not None and not self.cache.store(key, model, info, self.unsafe_pickle):
            self._say_not_cached(name)
            key = None
        self._previous[seed] = (model, key)
        return model, {**info, "cached": False, "cache_key": key, "wall_seconds": time.perf_counter() - t_start}

    def _say_not_cached(self, name: str) -> None:
        """Warn once per run that the model is not cached, and why."""
        problem = self.cache.problem or "it could not be stored"
        self.progress.log(f"model {name!r} not cached: {problem}")
        if self._not_cached_said or "cannot be written" in problem:  # an unwritable folder warned already
            return
        self._not_cached_said = True
        warnings.warn(f"model {name!r} is not cached: {problem}. state() must return arrays, numbers, str and "
                      f"lists/dicts of them; or set model_params {UNSAFE_PICKLE}=True to cache it as a pickle "
                      "(see docs/design.md, Models)", RuntimeWarning, stacklevel=3)

    def _gradient_flow(self, model: Model, samples: SampleSet, date, keys: tuple = ()) -> list[dict]:
        """Rows (retrain_date, lag, grad_norm, model) from the model's diagnostics, when it has a curve; cached
        beside the model when every member is (derived_cache.py)."""
        cache = self.derived_cache
        key = derived_cache.gradient_flow_key(keys) if cache is not None else None
        found = derived_cache.load_gradient_flow(cache, key)
        if found is not derived_cache.MISSING:
            curve, message = found["curve"], found["message"]
        else:
            message = None
            try:
                curve = model.diagnostics(samples).get("gradient_flow")
            except RuntimeError as exc:  # e.g. a network that is not differentiable in its input
                curve, message = None, str(exc)
            derived_cache.store_gradient_flow(cache, key, curve, message)
        if message is not None:
            self.progress.log(f"gradient flow not computed for {self.strategy.model!r}: {message}")
            return []
        if curve is None:
            return []
        return [{"retrain_date": date, "lag": lag, "grad_norm": float(g), "model": self.strategy.model}
                for lag, g in enumerate(np.asarray(curve, dtype=np.float64))]
