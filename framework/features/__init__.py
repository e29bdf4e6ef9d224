"""Features and labels: feature sets (row t from rows <= t), per-date normalisation, forward excess-return labels."""

from .labels import check_window, excess_labels, forward_returns, history_count
from .normalize import cross_sectional_normalize, rank_by_date, zscore_by_date
from .sets import FeatureSet, LazyFeatureSet, WindowTransform

__all__ = ["FeatureSet", "LazyFeatureSet", "WindowTransform", "check_window", "cross_sectional_normalize", "excess_labels",
           "forward_returns", "history_count", "rank_by_date", "zscore_by_date"]
