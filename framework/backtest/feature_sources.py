"""Several registered feature sets as one (``feature_set = ["raw", "alpha158"]``): their features side by side.

A strategy's ``feature_set`` is one registered name or a list of them. The features are each set's, in the order
listed, then the strategy's ``expressions``; a name found in two sets (or in a set and the expressions) is refused,
naming it. Sets written as expressions (``alpha158``) are evaluated together with the strategy's expressions, lazily
(straight into the caller's array, the feature store's map); sets computed in Python (``raw``) are computed in memory
and copied in. Window references (``raw``'s "relative to the window's last close") keep pointing at their own set's
columns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data import Panel
from ..features import FeatureSet, LazyFeatureSet
from ..registry import Registry
from ..strategy import Strategy, StrategyError


def set_names(strategy: Strategy) -> list[str]:
    """The strategy's feature sets as a list: [] for None, [name] for one name."""
    fs = strategy.feature_set
    if fs is None:
        return []
    return [fs] if isinstance(fs, str) else list(fs)


def set_label(strategy: Strategy) -> str:
    """How messages name the strategy's feature set(s): 'raw' or ['raw', 'alpha158']."""
    names = set_names(strategy)
    return repr(names[0]) if len(names) == 1 else repr(names)


def factories(strategy: Strategy, feature_sets: Registry) -> list:
    """The registered factory of each of the strategy's feature sets (a clear error for an unknown name)."""
    return [feature_sets.get(name).factory for name in set_names(strategy)]


def check_unique(groups: list[tuple[str, list[str]]]) -> None:
    """Refuse a feature name that two sources share, naming the name(s) and both sources."""
    seen: dict[str, str] = {}
    for source, names in groups:
        clash = [n for n in names if n in seen]
        if clash:
            raise StrategyError(f"{source}: {clash} already name(s) of {seen[clash[0]]}; two features of one "
                                "name would be ambiguous (pick other names, or leave a set out)")
        seen.update({n: source for n in names})


@dataclass
class _Segment:
    """A run of features from one source: a FeatureSet computed in memory, or expressions (``program`` names)."""

    names: list[str]
    reference: list[int]  # within the whole composite
    values: FeatureSet | LazyFeatureSet | None  # None: the names are factors of the composite's expression program


def composite(strategy: Strategy, panel: Panel, feature_sets: Registry, universe: np.ndarray | None,
              program) -> LazyFeatureSet:
    """The strategy's feature sets and its ``program`` (parsed expressions) as one LazyFeatureSet: expression sets
    and the program evaluated together (shared subexpressions once), Python sets computed here (a set that is a
    LazyFeatureSet fills its columns of the caller's array). One Python set alone is returned as it is."""
    from ..features.expr_engine import compile_expressions
    from .dataset import check_feature_shape

    segments: list[_Segment] = []
    exprs: dict[str, str] = {}
    groups: list[tuple[str, list[str]]] = []
    offset = 0
    for name in set_names(strategy):
        factory = feature_sets.get(name).factory
        expressions_for = getattr(factory, "expressions_for", None)
        if expressions_for is not None:
            own = expressions_for(panel)
            seg = _Segment(list(own), [-1] * len(own), None)
            exprs.update({n: e for n, e in own.items() if n not in exprs})
        else:
            fs = factory(panel)
            check_feature_shape(fs, panel, f"feature set {name!r}")
            if len(set_names(strategy)) == 1 and not program.names:
                return fs  # one set computed in Python: as it is (a LazyFeatureSet fills the caller's array itself)
            ref = [r + offset if r >= 0 else -1 for r in fs.reference]
            seg = _Segment(list(fs.names), ref, fs)
        groups.append((f"feature set {name!r}", seg.names))
        segments.append(seg)
        offset += len(seg.names)
    if program.names:
        groups.append((program.where, list(program.names)))
        segments.append(_Segment(list(program.names), [-1] * len(program.names), None))
        exprs.update(dict(zip(program.names, program.texts)))
    check_unique(groups)
    merged = compile_expressions(exprs, program.where) if exprs else None
    names = [n for s in segments for n in s.names]
    reference = [r for s in segments for r in s.reference]
    where = [(k, j) for k, s in enumerate(segments) for j in range(len(s.names))]  # column -> (segment, local)

    def fill(out: np.ndarray, columns: list[int]) -> None:
        from ..features.expr_engine import evaluate

        k = 0
        while k < len(columns):  # runs of consecutive output columns from one segment
            seg = where[columns[k]][0]
            end = k + 1
            while end < len(columns) and where[columns[end]][0] == seg:
                end += 1
            local = [where[c][1] for c in columns[k:end]]
            s = segments[seg]
            if s.values is None:
                evaluate(merged.subset([s.names[j] for j in local]), panel, universe, out=out[:, :, k:end])
            else:  # FeatureSet.fill copies a block of dates at a time; a LazyFeatureSet computes into the view
                s.values.fill(out[:, :, k:end], local)
            k = end

    T, N = panel.close.shape
    return LazyFeatureSet(names, (T, N, len(names)), fill, reference)


def materialise(fs: FeatureSet | LazyFeatureSet) -> FeatureSet:
    """A LazyFeatureSet's values in memory, as a FeatureSet (a FeatureSet as it is)."""
    if isinstance(fs, FeatureSet):
        return fs
    values = np.empty(fs.shape, dtype=np.float32)
    fs.fill(values, list(range(len(fs.names))))
    return FeatureSet(values, fs.names, fs.reference)
