"""The Dataset: a panel turned into model inputs once, then never changed.

Features (the strategy's own ``features()`` or a registered feature set), the universe,
the labels (forward excess returns from the execution price after t), and which (t, i)
may be sampled. Window normalisation that is fitted per retrain (``normalize="robust"``)
is not stored here: ``fit_transform`` returns it, and the caller passes it to ``samples``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..data import DataError, Panel
from ..features import (
    FeatureSet,
    WindowTransform,
    check_window,
    cross_sectional_normalize,
    excess_labels,
    history_count,
    rank_by_date,
    zscore_by_date,
)
from ..model import SampleSet
from ..registry import Registry
from ..strategy import Strategy, StrategyError


@dataclass(frozen=True)
class Dataset:
    panel: Panel
    window: int
    features: np.ndarray  # (T, N, F) float32: per-date normalised, or raw (NaN = missing) for a window transform
    feature_names: list[str]
    base_transform: WindowTransform | None  # window-relative differences (normalize "robust"/None); None: none
    universe: np.ndarray  # (T, N) bool, the strategy's point-in-time universe
    exec_price: np.ndarray  # (T, N) the price orders fill at: next close, or next open
    labels: np.ndarray  # (T, N) float64 forward excess return from exec_price[t+1] over the horizon; NaN: unknown
    sampleable: np.ndarray  # (T, N) bool: in the universe with at least half a window of history
    target: str  # "zscore" or "rank": how labels become per-date training targets
    normalize: str | None
    clip: float | None
    seed: int
    benchmark: np.ndarray | None = None  # benchmark prices, when the strategy names one (labels are then net of it)
    observed: np.ndarray | None = None  # (T, N) bool: some feature has a finite raw value (before zero-filling)
    target_clip: float | None = 3.0  # bound of z-scored targets (None: unbounded, Qlib's CSZScoreNorm)
    _aux: dict = field(default_factory=dict, compare=False, repr=False)  # labels at other horizons, made on demand

    @classmethod
    def build(cls, strategy: Strategy, panel: Panel, feature_sets: Registry) -> Dataset:
        L, h = strategy.window, strategy.horizon
        check_window(L, h, len(panel.dates))
        universe = np.asarray(strategy.universe(panel), dtype=bool)
        if universe.shape != panel.close.shape:
            raise StrategyError(f"universe() returned shape {universe.shape}, expected {panel.close.shape}")
        fs = strategy.features(panel)
        source = f"{type(strategy).__name__}.features()"
        if fs is None:
            fs = feature_sets.get(strategy.feature_set).factory(panel)
            source = f"feature set {strategy.feature_set!r}"
        check_feature_shape(fs, panel, source)
        fs = select_factors(fs, strategy.factors, strategy.feature_set)
        empty = [n for k, n in enumerate(fs.names) if not np.isfinite(fs.values[:, :, k]).any()]
        if empty:  # it would be zero-filled: a model input that says nothing, without a word
            raise DataError(f"data {panel.name!r}: feature(s) {empty} have no value on any date (all NaN); leave "
                            f"them out with factors=[...] or fix the data")
        if strategy.normalize in ("zscore", "rank") and fs.window_relative:
            raise StrategyError(f"feature set {strategy.feature_set!r} is window-relative: use normalize='robust' "
                                f"(fitted on each training window) or None, not {strategy.normalize!r}")
        if strategy.normalize in ("zscore", "rank"):
            features = cross_sectional_normalize(fs.values, panel.listed(), strategy.normalize, strategy.clip)
            base = None
        else:  # raw values; window-relative differences and robust scaling happen per gathered batch
            features = np.where(panel.listed()[:, :, None], fs.values, np.nan).astype(np.float32)
            base = WindowTransform(fs.reference, clip=strategy.clip)
        if strategy.execution == "open" and not panel.has("open"):
            raise StrategyError(f"execution='open' but data {panel.name!r} has no 'open' field")
        exec_price = panel.field("open") if strategy.execution == "open" else panel.close
        bench = benchmark_prices(strategy, panel)
        labels = excess_labels(exec_price, h, universe, bench)
        sampleable = universe & (history_count(panel.listed(), L) >= math.ceil(L / 2))
        sampleable[: L - 1] = False
        observed = np.isfinite(fs.values).any(axis=2) & panel.listed()
        return cls(panel=panel, window=L, features=features, feature_names=list(fs.names), base_transform=base,
                   universe=universe, exec_price=exec_price, labels=labels, sampleable=sampleable,
                   target=strategy.target, normalize=strategy.normalize, clip=strategy.clip, seed=strategy.seed,
                   benchmark=bench, observed=observed, target_clip=strategy.target_clip)

    def window_has_values(self, t: np.ndarray, i: np.ndarray) -> np.ndarray:
        """bool per sample (t, i): its window t-L+1..t holds at least one finite raw feature value. A window
        without one would be all zeros after normalisation: the same input, hence the same score, for every
        such asset, so it is not scored (docs/design.md, "Scores, ties and rebalancing")."""
        if self.observed is None:
            return np.ones(len(t), dtype=bool)
        if "observed_count" not in self._aux:  # cumulative count of observed dates, with a leading row of zeros
            self._aux["observed_count"] = np.cumsum(
                np.vstack([np.zeros((1, self.observed.shape[1]), np.int32), self.observed]), axis=0, dtype=np.int32)
        count = self._aux["observed_count"]
        return (count[t + 1, i] - count[np.maximum(t + 1 - self.window, 0), i]) > 0

    def fit_transform(self, train_dates: np.ndarray, max_windows: int = 20000) -> WindowTransform | None:
        """The window transform for a model trained on ``train_dates``: with normalize='robust', median/MAD per
        (step, feature) fitted on (up to ``max_windows`` of) those training windows only; else the base one."""
        if self.normalize != "robust" or len(train_dates) == 0:
            return self.base_transform
        raw = self.samples(train_dates, transform=None, need_label=True)
        rng = np.random.default_rng(self.seed)
        pick = np.sort(rng.choice(len(raw), min(max_windows, len(raw)), replace=False))
        return WindowTransform.fit(raw.windows(pick), self.base_transform.reference.tolist(), self.clip)

    def labels_at(self, horizon: int) -> np.ndarray:
        """(T, N) labels at another horizon (auxiliary heads), from the same execution prices and benchmark."""
        if horizon not in self._aux:
            self._aux[horizon] = excess_labels(self.exec_price, horizon, self.universe, self.benchmark)
        return self._aux[horizon]

    def samples(self, dates: np.ndarray, transform: WindowTransform | None, need_label: bool,
                aux_horizons: tuple[int, ...] = ()) -> SampleSet:
        """Samples for the given date indices (every sampleable asset), with labels and per-date targets when
        ``need_label`` (then only samples whose label, and every auxiliary label, is known)."""
        mask = np.zeros_like(self.sampleable)
        mask[dates] = self.sampleable[dates]
        if need_label:
            mask &= np.isfinite(self.labels)
            for h in aux_horizons:
                mask &= np.isfinite(self.labels_at(h))
        t, i = np.nonzero(mask)
        labels = self.labels[t, i]
        def per_date(values: np.ndarray, dates: np.ndarray) -> np.ndarray:
            if self.target == "rank":
                return rank_by_date(values, dates)
            return zscore_by_date(values, dates, self.target_clip)

        targets = per_date(labels, t) if need_label else None
        aux_labels = aux_targets = None
        if need_label and aux_horizons:
            aux_labels = np.stack([self.labels_at(h)[t, i] for h in aux_horizons], axis=1)
            aux_targets = np.stack([per_date(aux_labels[:, k], t) for k in range(len(aux_horizons))], axis=1)
        return SampleSet(self.features, self.window, t.astype(np.int64), i.astype(np.int64), labels, targets, transform,
                         aux_labels, aux_targets)


def check_feature_shape(fs: FeatureSet, panel: Panel, source: str) -> None:
    """Refuse features that are not a FeatureSet of (dates, assets, features) on this panel, with both shapes."""
    if not isinstance(fs, FeatureSet):
        raise StrategyError(f"{source} returned {type(fs).__name__}, expected a FeatureSet (values of shape "
                            f"(dates, assets, features), names) or None")
    expected = (len(panel.dates), len(panel.assets), len(fs.names))
    if tuple(np.shape(fs.values)) != expected:
        raise StrategyError(f"{source} returned values of the wrong shape: expected {expected} (dates, assets, "
                            f"features) for data {panel.name!r}, got {tuple(np.shape(fs.values))}")


def select_factors(fs: FeatureSet, names: list[str] | None, set_name: str) -> FeatureSet:
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


def benchmark_prices(strategy: Strategy, panel: Panel) -> np.ndarray | None:
    """Benchmark prices when the strategy names one (checked against the data's); None: the universe's mean."""
    if strategy.benchmark is None:
        return None
    if panel.benchmark is None:
        raise StrategyError(f"strategy names benchmark {strategy.benchmark!r} but data {panel.name!r} carries none "
                            "(qlib: add ?benchmark=CODE to the data URI)")
    name = panel.meta.get("benchmark_name")
    if name is not None and str(name).upper() != str(strategy.benchmark).upper():
        raise StrategyError(f"strategy names benchmark {strategy.benchmark!r} but data {panel.name!r} carries {name!r}")
    return panel.benchmark.to_numpy(np.float64)
