"""The model-input feature block, made a block of dates at a time: raw values in, masked and normalised float32 out.

One code path for the in-memory array and for the feature store's memory map (store.py), so both hold the same
bits. Every step is per date (masking by the listed assets, ``cross_sectional_normalize``), so working on blocks
of dates changes no number; only one block is ever held in float32 temporaries, never the whole (T, N, F) array.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .normalize import cross_sectional_normalize

#: Bytes of float32 features per block of dates (the unit of work and of the store's checksums).
BLOCK_BYTES = 32 * 2**20


def block_rows(n_assets: int, n_features: int, target: int = BLOCK_BYTES) -> int:
    """Dates per block: about ``target`` bytes of float32 features, at least one date."""
    return max(1, target // max(1, 4 * n_assets * n_features))


def prepare_features(source, columns: list[int], listed: np.ndarray, normalize: str | None, clip: float | None,
                     out: np.ndarray, observed: np.ndarray,
                     on_block: Callable[[int, int, np.ndarray], None] | None = None,
                     staging: np.ndarray | None = None, context: int = 0) -> list[int]:
    """Fill ``out`` (T, N, F) float32 with features ``columns`` of ``source`` (a FeatureSet or LazyFeatureSet) as
    the model reads them, and ``observed`` (T, N) bool with "some raw feature is finite and the asset is listed";
    return the indices (into ``columns``) of features with no finite value on any date.

    ``normalize`` "zscore"/"rank": per date across listed assets, missing -> 0 (``cross_sectional_normalize``);
    otherwise raw values with NaN outside the listed assets (a window transform handles them per batch).
    ``on_block(a, b, block)`` sees each finished block of dates a..b-1 (the store checksums it). ``staging``, a
    (T, N, F) view of a feature-major (F, T, N) array (a temporary file's map), receives the raw values first when
    given: a source that writes one whole feature at a time then dirties each page once, not every page of a
    date-major map once per feature (which made the kernel write the whole file back after every feature).
    The last ``context`` features are market context (features/context.py): the same for every asset on a date, so
    they are kept raw (NaN outside the listed assets), never normalised per date (which would make them 0), and do
    not count for ``observed`` (a stock's own features do)."""
    raw_all = out if staging is None else staging
    source.fill(raw_all, columns)  # raw float32 values, straight into the map
    T, N, F = out.shape
    step = block_rows(N, F)
    seen = np.zeros(F, dtype=bool)
    for a in range(0, T, step):
        b = min(a + step, T)
        raw = np.ascontiguousarray(raw_all[a:b]) if staging is not None else np.asarray(out[a:b])  # C order: the
        #   same sums, so the same bits, as the in-memory path
        finite = np.isfinite(raw)
        seen |= finite.any(axis=(0, 1))
        observed[a:b] = finite[:, :, :F - context].any(axis=2) & listed[a:b]
        del finite
        if normalize in ("zscore", "rank"):
            block = cross_sectional_normalize(raw, listed[a:b], normalize, clip)
            if context:  # over time, per retrain (Dataset.fit_transform), never across the date's assets
                block[:, :, F - context:] = np.where(listed[a:b, :, None], raw[:, :, F - context:], np.float32(np.nan))
        else:
            block = np.where(listed[a:b, :, None], raw, np.float32(np.nan)).astype(np.float32, copy=False)
        out[a:b] = block
        if on_block is not None:
            on_block(a, b, block)
    return [k for k in range(F) if not seen[k]]
