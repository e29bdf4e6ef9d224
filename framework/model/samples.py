"""Training and prediction samples as (date, asset) indices over a window view: never all materialised."""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


@dataclass
class SampleSet:
    """Samples (t, i) of a feature array; ``windows(sel)`` gathers ``features[t-L+1:t+1, i, :]`` per batch.

    ``labels`` are raw forward excess returns (for IC); ``targets`` the per-date
    normalised labels models train on (z-scores or centred ranks, ``Strategy.target``).
    Both are None at prediction time. ``aux_labels`` and ``aux_targets`` (B, K) are the same
    at a model's auxiliary horizons (``aux_horizons``), when it has any. ``features`` may hold
    NaN (an asset before it listed, a missing factor): ``transform`` (or the per-date
    normalisation that made the array) turns them into 0, so gathered windows are finite.
    """

    features: np.ndarray  # (T, N, F) float32: per-date normalised, or raw with NaN for ``transform`` to handle
    window: int
    t: np.ndarray  # int64 date index of each sample
    i: np.ndarray  # int64 asset index of each sample
    labels: np.ndarray | None = None
    targets: np.ndarray | None = None
    transform: object = None  # callable on gathered windows [B, L, F] (window-relative features, robust scaling)
    aux_labels: np.ndarray | None = None  # (B, K) raw labels at the auxiliary horizons
    aux_targets: np.ndarray | None = None  # (B, K) per-date normalised, what auxiliary heads train on

    def __post_init__(self) -> None:
        if len(self.t) and self.t.min() < self.window - 1:
            raise ValueError("a sample's window would start before the first date")
        # (T-L+1, N, F, L) view: no copy.
        self._view = sliding_window_view(self.features, self.window, axis=0)

    def __len__(self) -> int:
        return len(self.t)

    @property
    def n_features(self) -> int:
        return self.features.shape[2]

    def windows(self, sel: np.ndarray | slice | None = None) -> np.ndarray:
        """float32[B, L, F]: the windows of the selected samples (a fresh copy of only those)."""
        t = self.t if sel is None else self.t[sel]
        i = self.i if sel is None else self.i[sel]
        x = np.ascontiguousarray(self._view[t - self.window + 1, i].transpose(0, 2, 1))
        return x if self.transform is None else self.transform(x)

    def last_step(self, chunk: int = 8192) -> np.ndarray:
        """float32[B, F]: the last row of every window (what a memoryless model sees), gathered in chunks."""
        if self.transform is None:
            return self.features[self.t, self.i, :]
        return np.concatenate([self.windows(np.arange(s, min(s + chunk, len(self))))[:, -1, :]
                               for s in range(0, len(self), chunk)] or [np.zeros((0, self.n_features), np.float32)])

    def tabular(self, lags: int = 1, missing: float | None = None, chunk: int = 8192) -> np.ndarray:
        """float32[B, lags * F]: the last ``lags`` steps of every window side by side (lag 0, today's row, first;
        then lag 1, ...), for tabular models. The window transform is applied (window-relative differences, robust
        scaling), but missing values stay NaN (``missing=None``) instead of becoming 0, so a tree model sees them as
        missing; features the per-date normalisation already zero-filled stay 0. Reads rows <= t only."""
        if not isinstance(lags, (int, np.integer)) or isinstance(lags, bool) or not 1 <= lags <= self.window:
            raise ValueError(f"lags must be an int from 1 to the strategy's window ({self.window}), got {lags!r}")
        out = np.empty((len(self), lags * self.n_features), dtype=np.float32)
        for s in range(0, len(self), chunk):
            sel = np.arange(s, min(s + chunk, len(self)))
            t, i = self.t[sel], self.i[sel]
            if self.transform is None:
                x = np.stack([self.features[t - k, i, :] for k in range(lags)], axis=1)  # [b, lags, F], lag 0 first
            else:
                x = np.ascontiguousarray(self._view[t - self.window + 1, i].transpose(0, 2, 1))  # whole windows:
                x = _transformed(self.transform, x, missing)[:, ::-1][:, :lags]  # relative to the window's last step
            if missing is not None:
                x = np.where(np.isfinite(x), x, np.float32(missing))
            out[sel] = x.reshape(len(sel), -1)
        return out

    def subset(self, sel: np.ndarray) -> SampleSet:
        def pick(a):
            return None if a is None else a[sel]
        return SampleSet(self.features, self.window, self.t[sel], self.i[sel], pick(self.labels), pick(self.targets),
                         self.transform, pick(self.aux_labels), pick(self.aux_targets))

    def batches(self, batch_size: int, rng: np.random.Generator | None = None):
        """Yield index arrays of at most ``batch_size``; shuffled when ``rng`` is given."""
        idx = np.arange(len(self)) if rng is None else rng.permutation(len(self))
        for s in range(0, len(idx), batch_size):
            yield idx[s:s + batch_size]


def _transformed(transform, x: np.ndarray, missing: float | None) -> np.ndarray:
    """``transform(x, fill=missing)`` when the transform takes ``fill`` (WindowTransform), else ``transform(x)``."""
    try:
        takes_fill = "fill" in inspect.signature(transform).parameters
    except (TypeError, ValueError):
        takes_fill = False
    return transform(x, fill=missing) if takes_fill else transform(x)
