"""The feature store: model-input features computed once, kept on disk as float32 and memory-mapped.

It lives in the model cache's folder, under ``features/`` (``$SEQALPHA_CACHE_DIR/features/KK/KEY.features``), so
reruns, every run of a sweep and every Dask worker that sees the same folder read the features instead of
computing them, and runs on one machine share the page cache. The key (``feature_key``) is a sha256 of what
decides the values: the panel's digest, the universe mask, the feature definitions (feature_set, factors,
expressions, normalize, clip, a data policy when there is one), the code that computes them (the feature set's
module, the strategy's own source and parameters when it overrides ``features()``, and seqalpha's feature code)
and the numeric libraries' releases. The entry's format and checks: store_file.py. A damaged entry is warned
about, recomputed and replaced, never read. Nothing is deleted from a ``features/`` folder without the marker
file, and only entries (and temporary files of writes) are deleted.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import os
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..canonical import code_version, digest, strategy_code_version
from ..util import folder_writable, modified_before
from .store_file import SUFFIX, EntryDamaged, EntryWriter, FeatureEntry, open_entry

FOLDER = "features"  # the store's folder inside the model cache folder
MARKER = "SEQALPHA_FEATURE_STORE"
MARKER_TEXT = ("This folder is a seqalpha feature store. `seqalpha cache --clear` deletes the entries in it\n"
               "(KK/KEY.features); it deletes nothing from a folder without this file.\n")
KEY_VERSION = 1  # bump when what a key covers changes
#: Strategy parameters that decide feature values (those a strategy does not have are left out).
FEATURE_PARAMS = ("feature_set", "factors", "expressions", "normalize", "clip", "data_policy")
_KEY = re.compile(r"[0-9a-f]{64}")
_PREFIX = re.compile(r"[0-9a-f]{2}")
_TEMP = re.compile(r"\.[0-9a-f]{64}\.features\..+\.tmp")


def is_store_file(rel: Path) -> bool:
    """Whether ``rel`` (relative to the store's folder) is the marker, a prefix folder, an entry or a write in
    progress: what a store may hold."""
    parts = rel.parts
    if len(parts) == 1:
        return parts[0] == MARKER or bool(_PREFIX.fullmatch(parts[0]))
    if len(parts) == 2 and _PREFIX.fullmatch(parts[0]):
        stem = parts[1][: -len(SUFFIX)] if parts[1].endswith(SUFFIX) else ""
        return (bool(_KEY.fullmatch(stem)) and stem[:2] == parts[0]) or bool(_TEMP.fullmatch(parts[1]))
    return False


class FeatureStore:
    """A folder of feature entries: ``get`` a key's entry (checked), ``write`` one, list and delete them."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}{SUFFIX}"

    def writable(self) -> bool:
        """Whether entries can be written here (the folder is created and marked if need be)."""
        if not folder_writable(self.root):
            return False
        try:
            marker = self.root / MARKER
            if not marker.is_file():
                with contextlib.suppress(FileExistsError):
                    with open(marker, "x") as fh:
                        fh.write(MARKER_TEXT)
            return True
        except OSError:
            return False

    def get(self, key: str) -> FeatureEntry | None:
        """The stored entry of ``key``, or None: absent, or damaged (then warned about, naming the file, and left
        for the next ``write`` to replace)."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            entry = open_entry(path, key)
        except (EntryDamaged, OSError) as exc:
            warnings.warn(f"feature store entry {path} {exc}: computing the features again", RuntimeWarning,
                          stacklevel=2)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # the last use: `seqalpha cache --older-than` prunes by it
        return entry

    def writer(self, key: str, shape: tuple[int, int, int], names: list[str], reference: list[int],
               block_rows: int) -> EntryWriter:
        """A writer of ``key``'s entry into a temporary file (published atomically by ``EntryWriter.publish``)."""
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        return EntryWriter(path, key, shape, names, reference, block_rows)

    # ---- listing and pruning ----------------------------------------------------------------
    def entries(self) -> list[Path]:
        """Every entry file (not temporary files of writes in progress)."""
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.glob(f"??/*{SUFFIX}") if p.is_file() and not p.is_symlink()
                      and is_store_file(p.relative_to(self.root)))

    def foreign_file(self) -> Path | None:
        """The first file here that a store would not hold (relative), else None."""
        if not self.root.is_dir():
            return None
        for path in sorted(self.root.rglob("*")):
            rel = path.relative_to(self.root)
            if path.is_symlink() or not is_store_file(rel) or (path.is_dir() and len(rel.parts) > 1):
                if len(rel.parts) == 1 and rel.name.startswith(".probe-"):
                    continue
                return rel
        return None

    def stale(self, older_than_days: float | None = None) -> list[Path]:
        """Entries last used more than ``older_than_days`` ago (all when None); none from an unmarked folder that
        holds anything a store would not."""
        if not (self.root / MARKER).is_file() and self.foreign_file() is not None:
            from ..model.cache_folder import CacheError

            raise CacheError(f"{self.root} is not a seqalpha feature store (no {MARKER} marker file, and "
                             f"{self.foreign_file()} is not an entry): nothing deleted")
        return modified_before(self.entries(), older_than_days)

    def delete(self, paths: list[Path]) -> tuple[int, int]:
        """Delete these entries (a process that mapped one keeps reading it); (files, bytes) removed."""
        files = size = 0
        for path in paths:
            if path.parent.parent != self.root or not is_store_file(path.relative_to(self.root)):
                raise ValueError(f"{path} is not an entry of the feature store {self.root}")
            try:
                st = path.stat()
                path.unlink()
                files, size = files + 1, size + st.st_size
            except FileNotFoundError:
                continue
            with contextlib.suppress(OSError):
                path.parent.rmdir()
        return files, size


def store_for(cache: bool, cache_dir: str | Path | None) -> FeatureStore | None:
    """The feature store of a run: ``features/`` in its model-cache folder; None with ``cache=False``, without a
    folder, or (with a warning) when the folder cannot be written."""
    if not cache or cache_dir is None:
        return None
    store = FeatureStore(Path(cache_dir) / FOLDER)
    if not store.writable():
        warnings.warn(f"the feature store {store.root} cannot be written: computing features in memory",
                      RuntimeWarning, stacklevel=2)
        return None
    return store


def _release(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def feature_key(strategy: Any, panel_digest: str, universe: np.ndarray, factory: Any,
                definitions: dict | None = None) -> str | None:
    """sha256 of everything that decides a strategy's feature block on a panel (see the module's docstring);
    None when a source it depends on cannot be read (then nothing is stored)."""
    from ..backtest import dataset as dataset_module
    from ..backtest import feature_sources
    from ..strategy import Strategy
    from . import (
        context,
        expr_engine,
        expr_kernels,
        expr_ops,
        expr_parse,
        normalize,
        prepare,
        sets,
        store_file,
    )

    modules = (prepare, normalize, sets, store_file, dataset_module, expr_parse, expr_ops, expr_kernels, expr_engine,
               feature_sources, context)
    factories = list(factory) if isinstance(factory, (list, tuple)) else ([factory] if factory is not None else [])
    code = code_version(*factories, *modules)
    if code is None:
        return None
    params = {n: getattr(strategy, n) for n in FEATURE_PARAMS if hasattr(strategy, n)}
    if getattr(strategy, "market_context", None) is not None:  # the context's settings and the prices it reads
        params["market_context"] = strategy.market_context
        params["benchmark"] = getattr(strategy, "benchmark", None)
    own = None
    cls = type(strategy)
    if cls.features is not Strategy.features:  # the strategy's own features(): its code and every parameter
        source = strategy_code_version(cls)
        if source is None:
            return None
        own = {"code": source, "params": {k: v for k, v in strategy.params().items() if k != "cache"}}
    universe = np.ascontiguousarray(universe, dtype=bool)
    return digest({
        "version": KEY_VERSION, "data": panel_digest,
        "universe": [list(universe.shape), hashlib.sha256(np.packbits(universe).tobytes()).hexdigest()],
        # the run's feature definitions add only what the strategy's own parameters do not say (the same key from
        # every entry point, with or without them); names follow from the rest, the universe mask is hashed above
        "definitions": {k: v for k, v in (definitions or {}).items()
                        if k not in ("names", "window", "universe") and k not in params},
        "params": params,
        "code": code, "strategy_features": own,
        "libraries": {d: _release(d) for d in ("numpy", "pandas", "numba", "bottleneck")},
    })
