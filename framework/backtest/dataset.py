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
from ..errors import SeqalphaError
from ..features import (
    FeatureSet,
    LazyFeatureSet,
    WindowTransform,
    check_window,
    excess_labels,
    history_count,
    rank_by_date,
    zscore_by_date,
)
from ..features.prepare import block_rows, prepare_features
from ..features.store import FeatureStore, feature_key
from ..model import SampleSet
from ..registry import Registry
from ..strategy import Strategy, StrategyError


@dataclass(frozen=True)
class Dataset:
    panel: Panel
    window: int
    features: np.ndarray  # (T, N, F) float32: per-date normalised, or raw (NaN = missing) for a window transform;
    #                       a read-only view into the feature store's memory map when the run has a store
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
    feature_key: str | None = None  # the feature store's key of ``features`` (None: computed in memory, not stored)
    data_digest: str | None = None  # the panel's sha256 when the store needed it (resolved.panel_digest)
    target_clip: float | None = 3.0  # bound of z-scored targets (None: unbounded, Qlib's CSZScoreNorm)
    context_columns: tuple[int, ...] = ()  # market context features (the last ones): raw, normalised over time
    _aux: dict = field(default_factory=dict, compare=False, repr=False)  # labels at other horizons, made on demand

    @classmethod
    def build(cls, strategy: Strategy, panel: Panel, feature_sets: Registry, store: FeatureStore | None = None,
              definitions: dict | None = None, panel_digest: str | None = None) -> Dataset:
        """The strategy's Dataset on ``panel``. With a ``store`` (features/store.py) the feature block is read from
        it when an entry of the same key exists (checked at first open), else computed straight into a new entry's
        memory map; without one it is computed in memory. Both hold the same bits. ``definitions`` (the resolved
        run's ``features``) and ``panel_digest`` (the panel's sha256, when known) enter the store's key."""
        L, h = strategy.window, strategy.horizon
        check_window(L, h, len(panel.dates))
        universe = np.asarray(strategy.universe(panel), dtype=bool)
        if universe.shape != panel.close.shape:
            raise StrategyError(f"universe() returned shape {universe.shape}, expected {panel.close.shape}")
        listed = panel.listed()
        block = _feature_block(strategy, panel, feature_sets, universe, listed, store, definitions, panel_digest)
        if strategy.execution == "open" and not panel.has("open"):
            raise StrategyError(f"execution='open' but data {panel.name!r} has no 'open' field")
        exec_price = panel.field("open") if strategy.execution == "open" else panel.close
        bench = benchmark_prices(strategy, panel)
        labels = excess_labels(exec_price, h, universe, bench)
        sampleable = universe & (history_count(listed, L) >= math.ceil(L / 2))
        sampleable[: L - 1] = False
        return cls(panel=panel, window=L, features=block.values, feature_names=list(block.names),
                   base_transform=None if strategy.normalize in ("zscore", "rank") and not block.context_columns
                   else WindowTransform(block.reference, clip=strategy.clip),
                   universe=universe, exec_price=exec_price, labels=labels, sampleable=sampleable,
                   target=strategy.target, normalize=strategy.normalize, clip=strategy.clip, seed=strategy.seed,
                   benchmark=bench, observed=block.observed, feature_key=block.key, data_digest=block.data_digest,
                   target_clip=strategy.target_clip, context_columns=block.context_columns)

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
        if (self.normalize != "robust" and not self.context_columns) or len(train_dates) == 0:
            return self.base_transform
        t, i = np.nonzero(self._sample_mask(train_dates, True))  # the training samples, without their targets
        if len(t) == 0:
            return self.base_transform
        rng = np.random.default_rng(self.seed)
        pick = np.sort(rng.choice(len(t), min(max_windows, len(t)), replace=False))
        t, i = t[pick].astype(np.int64), i[pick].astype(np.int64)
        if self.normalize == "robust":
            raw = SampleSet(self.features, self.window, t, i)
            return WindowTransform.fit(raw.windows(), self.base_transform.reference.tolist(), self.clip)
        return self._fit_context(t, i)

    def _fit_context(self, t: np.ndarray, i: np.ndarray) -> WindowTransform | None:
        """Market context under per-date normalisation (or none): its columns scaled over time, by the median and
        MAD per (step, feature) of the training windows (t, i); the other columns pass as they are. With
        ``normalize=None`` every feature stays raw, the context too."""
        if self.normalize is None:
            return self.base_transform
        c0, L, F = self.context_columns[0], self.window, self.features.shape[2]
        rows = t[:, None] + np.arange(-L + 1, 1)[None, :]
        fitted = WindowTransform.fit(np.asarray(self.features[rows, i[:, None], c0:]), [-1] * (F - c0), self.clip)
        median, scale = np.zeros((L, F), np.float32), np.ones((L, F), np.float32)
        median[:, c0:], scale[:, c0:] = fitted.median, fitted.scale
        return WindowTransform([-1] * F, median, scale, self.clip)

    def labels_at(self, horizon: int) -> np.ndarray:
        """(T, N) labels at another horizon (auxiliary heads), from the same execution prices and benchmark."""
        if horizon not in self._aux:
            self._aux[horizon] = excess_labels(self.exec_price, horizon, self.universe, self.benchmark)
        return self._aux[horizon]

    def _sample_mask(self, dates: np.ndarray, need_label: bool, aux_horizons: tuple[int, ...] = ()) -> np.ndarray:
        """(T, N) bool: the sampleable (t, i) of ``dates``, with known labels (at every horizon) when asked."""
        mask = np.zeros_like(self.sampleable)
        mask[dates] = self.sampleable[dates]
        if need_label:
            mask &= np.isfinite(self.labels)
            for h in aux_horizons:
                mask &= np.isfinite(self.labels_at(h))
        return mask

    def samples(self, dates: np.ndarray, transform: WindowTransform | None, need_label: bool,
                aux_horizons: tuple[int, ...] = ()) -> SampleSet:
        """Samples for the given date indices (every sampleable asset), with labels and per-date targets when
        ``need_label`` (then only samples whose label, and every auxiliary label, is known)."""
        t, i = np.nonzero(self._sample_mask(dates, need_label, aux_horizons))
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


def expressions_only(strategy: Strategy, panel: Panel, feature_sets: Registry, program):
    """The one program of features that are all expressions: the feature set(s) written as expressions
    (``alpha158``: its factory has ``expressions_for``) followed by the strategy's ``program``, evaluated together so
    shared subexpressions are computed once; the strategy's own program without a feature set; None when a feature
    set is computed in Python."""
    from ..features.expr_engine import compile_expressions
    from .feature_sources import check_unique, set_names

    names = set_names(strategy)
    if not names:
        return program
    sets = []
    for name in names:
        expressions_for = getattr(feature_sets.get(name).factory, "expressions_for", None)
        if expressions_for is None:
            return None
        sets.append((name, expressions_for(panel)))
    check_unique([*((f"feature set {n!r}", list(own)) for n, own in sets), (program.where, list(program.names))])
    merged = {k: v for _, own in sets for k, v in own.items()}
    return compile_expressions({**merged, **dict(zip(program.names, program.texts))}, program.where)


def build_features(strategy: Strategy, panel: Panel, feature_sets: Registry, universe: np.ndarray | None,
                   factors: list[str] | None, features=None, program=None) -> FeatureSet:
    """The strategy's features in memory: its ``features()`` or its ``feature_set``, then its ``expressions``
    added, then ``factors`` kept (docs/factors.md); when they are all expressions (``expressions_only``), only the
    kept factors are computed. ``features`` and ``program`` replace the strategy's ``features`` hook and its parsed
    ``expressions`` (the audit's canary wraps a user's strategy)."""
    from ..features.expr_engine import evaluate

    program = program if program is not None else strategy.expression_program()
    where = program.where
    fs = (features or strategy.features)(panel)
    source = f"{type(strategy).__name__}.features()"
    if fs is None:
        from .feature_sources import composite, materialise, set_label

        merged = expressions_only(strategy, panel, feature_sets, program)
        if merged is not None:
            missing = [n for n in factors or () if n not in merged.names]
            if missing:
                raise StrategyError(f"factors {missing} not in feature set {set_label(strategy)} or "
                                    f"{where}: {list(merged.names)}")
            return evaluate(merged.subset(list(factors)) if factors else merged, panel, universe)
        fs = materialise(composite(strategy, panel, feature_sets, universe, program))
        label = set_label(strategy) if not program.names else f"{set_label(strategy)} + {where}"
        return select_factors(fs, factors, label)
    check_feature_shape(fs, panel, source)
    if program.names:
        ex = evaluate(program, panel, universe)
        clash = [n for n in program.names if n in fs.names]
        if clash:
            raise StrategyError(f"{where}: {clash} already name(s) of {source}; pick other names")
        fs = FeatureSet(np.concatenate([fs.values.astype(np.float32, copy=False), ex.values], axis=2),
                        [*fs.names, *ex.names], [*fs.reference, *([-1] * len(ex.names))])
    return select_factors(fs, factors, source if not program.names else f"{source} + {where}")


def check_feature_shape(fs: FeatureSet | LazyFeatureSet, panel: Panel, source: str) -> None:
    """Refuse features that are not a FeatureSet of (dates, assets, features) on this panel, with both shapes."""
    if not isinstance(fs, (FeatureSet, LazyFeatureSet)):
        raise StrategyError(f"{source} returned {type(fs).__name__}, expected a FeatureSet (values of shape "
                            f"(dates, assets, features), names) or None")
    expected = (len(panel.dates), len(panel.assets), len(fs.names))
    if tuple(fs.shape) != expected:
        raise StrategyError(f"{source} returned values of the wrong shape: expected {expected} (dates, assets, "
                            f"features) for data {panel.name!r}, got {tuple(fs.shape)}")


def select_factors(fs: FeatureSet, names: list[str] | None, set_name: str) -> FeatureSet:
    """Keep only the listed features (strategy.factors), preserving window references."""
    if not names:
        return fs
    idx, names, ref = factor_columns(fs.names, fs.reference, names, set_name)
    return FeatureSet(fs.values[:, :, idx], names, ref)


def factor_columns(names: list[str], reference: list[int], wanted: list[str] | None,
                   set_name: str) -> tuple[list[int], list[str], list[int]]:
    """(columns, names, window references) of the features kept by ``strategy.factors`` (all when None)."""
    if not wanted:
        return list(range(len(names))), list(names), list(reference)
    missing = [n for n in wanted if n not in names]
    if missing:
        raise StrategyError(f"factors {missing} not in feature set {set_name!r}: {names}")
    idx = [names.index(n) for n in wanted]
    ref = [reference[k] for k in idx]
    if any(r >= 0 and r not in idx for r in ref):
        raise StrategyError(f"factors {wanted} drop a feature that others are relative to in {set_name!r}")
    return idx, list(wanted), [idx.index(r) if r >= 0 else -1 for r in ref]


@dataclass(frozen=True)
class FeatureBlock:
    """The model-input features of a Dataset, from the store or computed in memory."""

    values: np.ndarray
    observed: np.ndarray
    names: list[str]
    reference: list[int]
    key: str | None = None
    data_digest: str | None = None
    context_columns: tuple[int, ...] = ()


def _feature_source(strategy: Strategy, panel: Panel, feature_sets: Registry,
                    universe: np.ndarray) -> tuple[FeatureSet | LazyFeatureSet, str]:
    """The strategy's features before ``factors`` picks among them (docs/factors.md). When they are all
    expressions (``expressions_only``) they come as a LazyFeatureSet that evaluates only the kept factors, one at
    a time, straight into the caller's array (the feature store's map): the whole block is never held in
    float64, nor twice. A strategy's own ``features()`` or a set computed in Python: in memory (build_features)."""
    from ..features.expr_engine import evaluate
    from .feature_sources import composite, set_label

    own_hook = type(strategy).features is not Strategy.features
    if own_hook:
        return build_features(strategy, panel, feature_sets, universe, None), f"{type(strategy).__name__}.features()"
    program = strategy.expression_program()
    merged = expressions_only(strategy, panel, feature_sets, program)
    if merged is None:  # a set computed in Python: it in memory, the expressions (sets and the strategy's) lazily
        return composite(strategy, panel, feature_sets, universe, program), f"feature set {set_label(strategy)}"

    def fill(out: np.ndarray, columns: list[int]) -> None:
        evaluate(merged.subset([merged.names[c] for c in columns]), panel, universe, out=out)

    T, N = panel.close.shape
    source = f"feature set {set_label(strategy)}" if strategy.feature_set is not None else merged.where
    return LazyFeatureSet(list(merged.names), (T, N, len(merged.names)), fill), source


def _feature_block(strategy: Strategy, panel: Panel, feature_sets: Registry, universe: np.ndarray,
                   listed: np.ndarray, store: FeatureStore | None, definitions: dict | None,
                   panel_digest: str | None) -> FeatureBlock:
    """The feature block: the store's entry when it has this key, else computed (into a new entry with a store)."""
    key = None
    if store is not None:
        from ..resolved import panel_digest as digest_of

        panel_digest = panel_digest or digest_of(panel)
        from .feature_sources import factories

        try:
            factory = factories(strategy, feature_sets)
        except SeqalphaError:  # a strategy whose own features() never falls back to the registry
            if type(strategy).features is Strategy.features:
                raise
            factory = []
        key = feature_key(strategy, panel_digest, universe, factory, definitions)
        entry = store.get(key) if key is not None else None
        if entry is not None:
            _check_relative(strategy, entry.reference)
            return FeatureBlock(entry.values, entry.observed, entry.names, entry.reference, key, panel_digest,
                                _context_columns(strategy, len(entry.names)))
    fs, source = _feature_source(strategy, panel, feature_sets, universe)
    columns, names, reference = factor_columns(fs.names, fs.reference, strategy.factors, source)
    _check_relative(strategy, reference)
    n_context = 0
    if strategy.market_context is not None:
        fs, columns, names, reference, n_context = _with_context(strategy, panel, universe, fs, source, columns,
                                                                 names, reference)
    T, N = listed.shape
    shape = (T, N, len(names))
    writer = store.writer(key, shape, names, reference, block_rows(N, len(names))) if key is not None else None
    try:
        values = writer.values if writer else np.empty(shape, dtype=np.float32)
        observed = writer.observed if writer else np.empty((T, N), dtype=bool)
        staging = writer.staging() if writer is not None and isinstance(fs, LazyFeatureSet) else None
        empty = prepare_features(fs, columns, listed, strategy.normalize, strategy.clip, values, observed,
                                 writer.checksum if writer else None, staging, n_context)
        del staging
        del fs
        if empty:  # it would be zero-filled: a model input that says nothing, without a word
            raise DataError(f"data {panel.name!r}: feature(s) {[names[k] for k in empty]} have no value on any "
                            "date (all NaN); leave them out with factors=[...] or fix the data")
        ctx = tuple(range(len(names) - n_context, len(names)))
        if writer is None:
            return FeatureBlock(values, observed, names, reference, None, panel_digest, ctx)
        del values, observed
        entry = writer.publish()
    except BaseException:
        if writer is not None:
            writer.discard()
        raise
    return FeatureBlock(entry.values, entry.observed, entry.names, entry.reference, key, panel_digest, ctx)


def _context_columns(strategy: Strategy, n_features: int) -> tuple[int, ...]:
    """The indices of the market context features: the last ones (none without ``market_context``)."""
    from ..features.context import context_names

    c = len(context_names(strategy.market_context))
    return tuple(range(n_features - c, n_features))


def context_benchmark(strategy: Strategy, panel: Panel) -> np.ndarray | None:
    """The prices market context reads: the strategy's benchmark (checked), else the data's, else None (the
    equal-weight universe)."""
    if strategy.benchmark is not None:
        return benchmark_prices(strategy, panel)
    return None if panel.benchmark is None else panel.benchmark.to_numpy(np.float64)


def _with_context(strategy: Strategy, panel: Panel, universe: np.ndarray, fs, source: str, columns: list[int],
                  names: list[str], reference: list[int]):
    """The feature source with the market context's columns after the kept features (features/context.py):
    (source, columns, names, reference, number of context features)."""
    from ..features.context import market_context
    from .feature_sources import check_unique

    ctx_names, ctx = market_context(strategy.market_context, panel.close, universe, context_benchmark(strategy, panel))
    check_unique([(source, names), ("market_context", ctx_names)])
    inner, n = fs, len(fs.names)

    def fill(out: np.ndarray, cols: list[int]) -> None:
        own = [c for c in cols if c < n]
        if own:
            inner.fill(out[:, :, :len(own)], own)
        for k, c in enumerate(cols[len(own):], start=len(own)):
            out[:, :, k] = ctx[:, c - n, None]

    wrapped = LazyFeatureSet([*fs.names, *ctx_names], (*fs.shape[:2], n + len(ctx_names)), fill,
                             [*fs.reference, *([-1] * len(ctx_names))])
    return (wrapped, [*columns, *range(n, n + len(ctx_names))], [*names, *ctx_names],
            [*reference, *([-1] * len(ctx_names))], len(ctx_names))


def _check_relative(strategy: Strategy, reference: list[int]) -> None:
    if strategy.normalize in ("zscore", "rank") and any(r >= 0 for r in reference):
        from .feature_sources import set_label

        raise StrategyError(f"feature set {set_label(strategy)} is window-relative: use normalize='robust' "
                            f"(fitted on each training window) or None, not {strategy.normalize!r}")


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
