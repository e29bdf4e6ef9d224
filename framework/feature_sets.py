"""``seqalpha.feature_sets.FeatureSet``, the name strategies' own ``features()`` import: it lives in
``seqalpha.features.sets``."""

from .features.sets import FeatureSet, LazyFeatureSet, WindowTransform

__all__ = ["FeatureSet", "LazyFeatureSet", "WindowTransform"]
