"""The model cache: a fitted model stored under a key made from everything that determines it.

Key = sha256 over: the data the model is trained on (feature rows its windows can
read, sample dates/assets, labels and targets, for training and validation), feature
names, window, model name and parameters, the member seed, the thread count (float
sums run in another order with more threads), the model's "code
version" (the source of the modules of its classes outside the standard library and
torch, plus the SampleSet code that cuts windows), the device, and torch/numpy
versions. Anything else (portfolio rule, costs, rebalance schedule) cannot change a
fitted model, so changing it reuses every model.

Location: ``$SEQALPHA_CACHE_DIR``, else ``~/.cache/seqalpha/models``; one pickle per
key. Writes go to a temporary file then ``os.replace``, so a reader sees a whole entry
or none. The cache never evicts; delete the folder to clear it. Entries are pickles:
share a cache folder only with people whose code you would run.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import pickle
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..canonical import canonical
from ..canonical import code_version as _code_version
from ..util import atomic_write_bytes, hash_arrays
from .base import Model, as_model
from .samples import SampleSet

FORMAT = 3  # bump when the stored layout changes


def cache_dir() -> Path:
    """Where models are cached: $SEQALPHA_CACHE_DIR, else ~/.cache/seqalpha/models."""
    env = os.environ.get("SEQALPHA_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "seqalpha" / "models"


# ---- the key ---------------------------------------------------------------------------------
def data_fingerprint(*sets: SampleSet | None) -> str:
    """sha256 of what a model trained on these sample sets can see: the feature rows their windows read
    (dates from the first window's start to the last sample), the sample indices, labels and targets."""
    h = hashlib.sha256()
    for s in sets:
        if s is None or len(s) == 0:
            h.update(b"empty")
            continue
        lo, hi = int(s.t.min()) - s.window + 1, int(s.t.max())
        h.update(f"rows{lo}:{hi}:window{s.window}".encode())
        hash_arrays(h, s.features[lo:hi + 1], s.t, s.i, s.labels, s.targets, s.aux_labels, s.aux_targets)
        transform = getattr(s, "transform", None)  # per-retrain window normalisation, fitted state included
        h.update(b"no-transform" if transform is None else pickle.dumps(transform, protocol=4))
    return h.hexdigest()


def code_version(factory: Callable[..., Any]) -> str | None:
    """sha256 of the source behind a model factory (canonical.code_version: its classes' modules wherever they were
    imported from, an installed plugin included) and the SampleSet code; None when a source cannot be read."""
    return _code_version(factory, SampleSet)


stable = canonical  # the one serialiser (framework/canonical.py)


def _installed_version(dist: str) -> str | None:
    """A distribution's version without importing it (a model without torch never imports torch)."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def model_key(model_name: str, factory: Callable[..., Any], params: dict, train: SampleSet,
              valid: SampleSet | None, feature_names: list[str], seed: int | None, device: str = "",
              threads: int | None = None, previous: str | None = None) -> str | None:
    """The cache key of a model fitted on ``train``/``valid``; None when the model's code version is unknown.
    The key also holds ``previous``: the key of the model a warm-started fit starts from."""
    code = code_version(factory)
    if code is None:
        return None
    versions = {"numpy": np.__version__, "torch": _installed_version("torch")}
    dates = {name: [int(s.t.min()), int(s.t.max())] if s is not None and len(s) else None
             for name, s in (("train", train), ("valid", valid))}
    parts = {"format": FORMAT, "model": model_name, "params": stable(params), "seed": seed, "code": code,
             "features": list(feature_names), "window": train.window, "dates": dates,
             "data": data_fingerprint(train, valid), "device": device, "threads": threads, "previous": previous,
             "versions": versions}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


class ModelCache:
    """Fitted models on disk, one pickle per key, written atomically."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else cache_dir()

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.pkl"

    def load(self, key: str, factory: Callable[..., Any], params: dict) -> tuple[Model, dict] | None:
        """(model, info) stored under ``key``, or None when absent or unreadable (then it is refitted)."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            with open(path, "rb") as fh:
                entry = pickle.load(fh)
            if entry.get("format") != FORMAT:
                return None
            if hashlib.sha256(entry["payload"]).hexdigest() != entry["digest"]:
                warnings.warn(f"model cache entry {path} does not match its digest (changed after it was written): "
                              "refitting", RuntimeWarning, stacklevel=2)
                return None
            payload = pickle.loads(entry["payload"])
            restored = as_model(factory(**params)).restore(payload["state"]), payload["info"]
        except Exception as exc:  # a corrupt or incompatible entry is a miss; the refit overwrites it
            warnings.warn(f"model cache entry {path} could not be restored ({type(exc).__name__}: {exc}): refitting",
                          RuntimeWarning, stacklevel=2)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # the modification time is the last use: `seqalpha cache --older-than` prunes by it
        return restored

    def store(self, key: str, model: Model, info: dict) -> bool:
        """Write an entry atomically, with the sha256 digest of its payload (checked on load); False, with nothing
        written, when the model's state cannot be pickled or the folder cannot be written (the run goes on)."""
        path = self.path(key)
        try:
            payload = pickle.dumps({"state": model.state(), "info": info}, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:
            return False
        entry = {"format": FORMAT, "digest": hashlib.sha256(payload).hexdigest(), "payload": payload}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, pickle.dumps(entry, protocol=pickle.HIGHEST_PROTOCOL))
        except OSError as exc:
            warnings.warn(f"the model cache {self.root} cannot be written ({exc}); running without it",
                          RuntimeWarning, stacklevel=2)
            return False
        return True

    def writable(self) -> bool:
        """Whether entries can be written here (the folder is created if need be)."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".probe-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
            return True
        except OSError:
            return False

    def entries(self) -> list[Path]:
        """Every stored model file (not temporary files of writes in progress)."""
        return sorted(self.root.glob("??/*.pkl")) if self.root.is_dir() else []

    def prune(self, older_than_days: float | None = None) -> tuple[int, int]:
        """Delete entries last used more than ``older_than_days`` ago (all when None); return (files, bytes)."""
        cutoff = None if older_than_days is None else time.time() - older_than_days * 86400
        files = size = 0
        for path in self.entries():
            try:
                st = path.stat()
                if cutoff is None or st.st_mtime < cutoff:
                    path.unlink()
                    files, size = files + 1, size + st.st_size
            except FileNotFoundError:  # removed meanwhile by another process
                continue
        return files, size
