"""Feature sets and window-level normalisation.

A feature set maps a Panel to a (T, N, F) float32 array, row t using rows <= t only.
A feature may be *window-relative* (``reference[f] = g``): inside every window it is
expressed as its difference to the last step of feature g (Qlib's Alpha360 divides
each price by today's close; in log space that is a difference).

Normalisation is either per date across assets (``zscore``/``rank``, in
features.cross_sectional_normalize) or ``robust``: Qlib's RobustZScoreNorm, with the
median and MAD per (step, feature) fitted on the training windows only, at each
retrain, and applied to training, validation and prediction windows alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..errors import SeqalphaError


class FeatureSetError(SeqalphaError, ValueError):
    """A feature set whose values do not match its names or the panel; the message has the shapes."""


@dataclass
class FeatureSet:
    values: np.ndarray  # (T, N, F) float32, NaN = missing
    names: list[str]
    reference: list[int] = field(default_factory=list)  # per feature: index of its window reference, or -1

    def __post_init__(self) -> None:
        self.names = list(self.names)
        if not self.reference:
            self.reference = [-1] * len(self.names)
        shape = np.shape(self.values)
        if len(shape) != 3 or shape[2] != len(self.names):
            raise FeatureSetError(f"feature set: values of shape {shape} do not match {len(self.names)} name(s) "
                                  f"{self.names[:5]}: expected (dates, assets, {len(self.names)})")
        if len(self.reference) != len(self.names):
            raise FeatureSetError(f"feature set: {len(self.reference)} window reference(s) for {len(self.names)} "
                                  "name(s); give one per feature (-1: none)")

    @property
    def window_relative(self) -> bool:
        return any(r >= 0 for r in self.reference)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(np.shape(self.values))  # type: ignore[return-value]

    def fill(self, out: np.ndarray, columns: list[int]) -> None:
        """Write features ``columns`` into ``out`` (T, N, len(columns)) float32, a block of dates at a time."""
        chunk_rows = max(1, 2**25 // max(1, 4 * out.shape[1] * len(columns)))
        for a in range(0, out.shape[0], chunk_rows):
            out[a:a + chunk_rows] = self.values[a:a + chunk_rows][:, :, columns]


@dataclass
class LazyFeatureSet:
    """A feature set computed straight into a preallocated float32 array (an ``np.memmap`` of the feature store):
    ``fill(out, columns)`` writes feature ``columns[k]`` into ``out[:, :, k]``, so the whole (T, N, F) block never
    has to sit in process memory. A feature-set factory may return one instead of a ``FeatureSet``."""

    names: list[str]
    shape: tuple[int, int, int]  # (dates, assets, features)
    fill: Callable[[np.ndarray, list[int]], None]
    reference: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.names, self.shape = list(self.names), tuple(self.shape)  # type: ignore[assignment]
        if not self.reference:
            self.reference = [-1] * len(self.names)
        if len(self.shape) != 3 or self.shape[2] != len(self.names) or len(self.reference) != len(self.names):
            raise FeatureSetError(f"lazy feature set: shape {self.shape}, {len(self.names)} name(s) and "
                                  f"{len(self.reference)} window reference(s) do not agree")

    @property
    def window_relative(self) -> bool:
        return any(r >= 0 for r in self.reference)


class WindowTransform:
    """Applied to each gathered batch [B, L, F]: window-relative differences, then robust scaling, NaN -> 0."""

    def __init__(self, reference: list[int], median: np.ndarray | None = None, scale: np.ndarray | None = None,
                 clip: float | None = 3.0) -> None:
        self.reference = np.asarray(reference)
        self.median, self.scale, self.clip = median, scale, clip

    def relative(self, x: np.ndarray) -> np.ndarray:
        rel = np.flatnonzero(self.reference >= 0)
        if len(rel):
            x = x.copy()
            x[:, :, rel] = x[:, :, rel] - x[:, -1:, self.reference[rel]]
        return x

    def __call__(self, x: np.ndarray, fill: float | None = 0.0) -> np.ndarray:
        """The transformed batch; missing values become ``fill`` (0, the neutral value networks need), or stay
        NaN with ``fill=None`` (for models that handle missing values themselves, e.g. LightGBM)."""
        x = self.relative(x)
        if self.median is not None:
            x = (x - self.median) / self.scale
            if self.clip is not None:
                np.clip(x, -self.clip, self.clip, out=x)
        if fill is not None:
            x[~np.isfinite(x)] = fill
        else:
            x[np.isinf(x)] = np.nan
        return x.astype(np.float32, copy=False)

    @classmethod
    def fit(cls, windows: np.ndarray, reference: list[int], clip: float | None = 3.0,
            block: int = 8) -> WindowTransform:
        """Median and MAD per (step, feature) over the given training windows (NaN ignored), in float64 a block of
        ``block`` features at a time: the same numbers as all at once, without a float64 copy of every window."""
        ref = np.asarray(reference)
        B, L, F = windows.shape
        median, mad = np.empty((L, F)), np.empty((L, F))
        for a in range(0, F, block):
            cols = np.arange(a, min(a + block, F))
            x = windows[:, :, cols].astype(np.float64)
            rel = ref[cols] >= 0
            if rel.any():  # window-relative: minus the last step of the reference feature (as ``relative``)
                x[:, :, rel] = x[:, :, rel] - windows[:, -1:, ref[cols][rel]].astype(np.float64)
            median[:, cols] = np.nanmedian(x, axis=0)
            mad[:, cols] = np.nanmedian(np.abs(x - median[:, cols]), axis=0) * 1.4826
            del x
        scale = np.where(np.isfinite(mad) & (mad > 1e-12), mad, 1.0)
        return cls(reference, np.nan_to_num(median).astype(np.float32), scale.astype(np.float32), clip)
