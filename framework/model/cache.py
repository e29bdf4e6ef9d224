"""The model cache: a fitted model stored under a key made from everything that determines it.

Key = sha256 over: the data the model is trained on (feature rows its windows can
read, sample dates/assets, labels and targets, for training and validation), feature
names, window, model name and parameters, the member seed, the thread count (float
sums run in another order with more threads), the model's "code
version" (the source of the modules of its classes outside the standard library and
torch, plus the SampleSet code that cuts windows), the device, and torch/numpy
versions. Anything else (portfolio rule, costs, rebalance schedule) cannot change a
fitted model, so changing it reuses every model.

Location: ``$SEQALPHA_CACHE_DIR``, else ``~/.cache/seqalpha/models``; one file per key,
``KK/KEY.model``. Writes go to a temporary file then ``os.replace``, so a reader sees a
whole entry or none. An entry is never a pickle: the model's ``state()`` is stored as
JSON and ``.npy`` arrays (safe_codec.py), with a digest checked before anything is decoded
(an HMAC when ``$SEQALPHA_CACHE_KEY`` is set; cache_entry.py). A model whose state is
something else is not cached, unless its ``model_params`` opt in with
``unsafe_pickle_cache=True``. The cache never evicts; ``seqalpha cache`` prunes it
(cache_folder.py: only from a folder marked as a cache)."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import pickle
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .. import safe_codec
from ..canonical import canonical
from ..canonical import code_version as _code_version
from ..util import atomic_write_bytes, folder_writable, hash_arrays
from .base import Model, as_model
from .cache_entry import KEY_ENV, EntryRejected, pack, unpack
from .cache_folder import DERIVED_SUFFIX, ENTRY_SUFFIX, MARKER, CacheError, CacheFolder  # noqa: F401 (re-exported)
from .samples import SampleSet

FORMAT = 4  # bump when the stored layout changes (4: signed safe entries, no pickles)
UNSAFE_PICKLE = "unsafe_pickle_cache"  # the model_params opt-in to pickled entries (see split_cache_options)


def cache_dir() -> Path:
    """Where models are cached: $SEQALPHA_CACHE_DIR, else ~/.cache/seqalpha/models (resolved.default_cache_dir)."""
    from ..resolved import default_cache_dir

    return default_cache_dir()


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
    imported from, an installed plugin included) and the SampleSet code; None when a source cannot be read. A
    factory answered from its model card (card.py) gives the card's, the same value, without importing."""
    answer = getattr(factory, "code_version", None)
    if callable(answer) and type(factory).__name__ == "CardFactory":
        return answer(True)
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
    versions = {"numpy": np.__version__, "torch": _installed_version("torch"), "lightgbm": _installed_version("lightgbm")}
    dates = {name: [int(s.t.min()), int(s.t.max())] if s is not None and len(s) else None
             for name, s in (("train", train), ("valid", valid))}
    parts = {"format": FORMAT, "model": model_name, "params": stable(params), "seed": seed, "code": code,
             "features": list(feature_names), "window": train.window, "dates": dates,
             "data": data_fingerprint(train, valid), "device": device, "threads": threads, "previous": previous,
             "versions": versions}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def split_cache_options(params: dict) -> tuple[dict, bool]:
    """(model parameters without ``unsafe_pickle_cache``, whether that opt-in is on). The option is the trainer's,
    not the model's: it is removed before the model is built, so it changes neither the model nor its cache key."""
    rest = {k: v for k, v in params.items() if k != UNSAFE_PICKLE}
    return rest, bool(params.get(UNSAFE_PICKLE, False))


def unsafe_pickle_warning(model: str, root: Path) -> str:
    """Why ``unsafe_pickle_cache=True`` is dangerous (warned once per run that sets it)."""
    return (f"model {model!r}: {UNSAFE_PICKLE}=True: a model state that cannot be stored safely is cached as a "
            f"pickle, and loading a pickle runs any code it holds: anyone who can write to {root} can run code as "
            f"you. Keep that folder private, or set {KEY_ENV} so entries without your key are refused")


class ModelCache(CacheFolder):
    """Fitted models on disk, one file per key (``KK/KEY.model``), written atomically; never a pickle unless a
    model opts in with ``unsafe_pickle_cache=True``."""

    def __init__(self, root: str | Path | None = None) -> None:
        super().__init__(root if root is not None else cache_dir())
        self.problem: str | None = None  # why the last store() stored nothing

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}{ENTRY_SUFFIX}"

    def tree_path(self, key: str) -> Path:
        """Where ``store_tree`` keeps ``key``: ``KK/KEY.derived`` (a card, scores), apart from the models."""
        return self.root / key[:2] / f"{key}{DERIVED_SUFFIX}"

    def load(self, key: str, factory: Callable[..., Any], params: dict,
             unsafe_pickle: bool = False) -> tuple[Model, dict] | None:
        """(model, info) stored under ``key``, or None when absent, refused or unreadable (then it is refitted).

        The digest (an HMAC with ``$SEQALPHA_CACHE_KEY``) is checked and the entry decoded here; a pickled entry
        is decoded only with ``unsafe_pickle`` (the model's ``unsafe_pickle_cache=True``). A safe entry comes back
        as a LazyModel (lazy_model.py): the model is built and its state restored when it is first used (predict,
        diagnostics, fit), so a run whose scores are cached never builds it (nor imports torch)."""
        from .lazy_model import LazyModel

        path = self.path(key)
        if not path.is_file():
            return None
        try:
            encoding, payload = unpack(path.read_bytes(), key, FORMAT)
        except (EntryRejected, OSError) as exc:
            warnings.warn(f"model cache entry {path} could not be restored: it {exc}: refitting", RuntimeWarning,
                          stacklevel=2)
            return None
        if encoding == "pickle" and not unsafe_pickle:
            warnings.warn(f"model cache entry {path} is a pickle (stored with {UNSAFE_PICKLE}=True); loading it "
                          "could run code, and this model did not opt in: refitting", RuntimeWarning, stacklevel=2)
            return None
        try:
            if encoding == "pickle":
                entry = pickle.loads(payload)
                restored = as_model(factory(**params)).restore(entry["state"]), dict(entry["info"])
            else:
                entry = safe_codec.decode(payload, defer_tensors=True)
                if not isinstance(entry, dict) or "state" not in entry or not isinstance(entry.get("info"), dict):
                    raise ValueError("the entry holds no state and info")
                restored = LazyModel(factory, params, entry["state"], str(path)), dict(entry["info"])
        except Exception as exc:  # a corrupt or incompatible entry is a miss; the refit overwrites it
            warnings.warn(f"model cache entry {path} could not be restored ({type(exc).__name__}: {exc}): refitting",
                          RuntimeWarning, stacklevel=2)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # the modification time is the last use: `seqalpha cache --older-than` prunes by it
        return restored

    def load_tree(self, key: str) -> Any:
        """A stored value (model card, cached scores, gradient flow; stored by ``store_tree``), or None when absent,
        refused or damaged: a miss, never an error."""
        path = self.tree_path(key)
        try:
            encoding, payload = unpack(path.read_bytes(), key, FORMAT)
            if encoding != "safe":
                return None
            tree = safe_codec.decode(payload)
        except (EntryRejected, OSError, ValueError, TypeError, KeyError):
            return None
        if not isinstance(tree, dict) or "value" not in tree:
            return None
        with contextlib.suppress(OSError):
            os.utime(path)
        return tree["value"]

    def store_tree(self, key: str, value: Any) -> bool:
        """Store ``value`` (arrays, numbers, str, lists and dicts of them) under ``key``, signed and atomically like
        a model; False when it cannot be stored or written (nothing is then stored)."""
        try:
            payload = safe_codec.encode({"value": value}, "value")
            path = self.tree_path(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            self.mark()
            atomic_write_bytes(path, pack(key, FORMAT, "safe", payload))
        except (safe_codec.Unstorable, OSError):
            return False
        return True

    def store(self, key: str, model: Model, info: dict, unsafe_pickle: bool = False) -> bool:
        """Write an entry atomically, signed (see cache_entry.py); False, with nothing written and the reason in
        ``problem``, when the state cannot be stored safely (arrays, numbers, str, lists and dicts of them) and
        the model did not opt in to pickles, or when the folder cannot be written (the run goes on)."""
        self.problem = None
        try:
            tree = {"state": model.state(), "info": info}
            payload, encoding = safe_codec.encode(tree, "entry"), "safe"
        except safe_codec.Unstorable as exc:
            if not unsafe_pickle:
                self.problem = f"its state cannot be stored safely ({exc})"
                return False
            try:
                payload, encoding = pickle.dumps(tree, protocol=pickle.HIGHEST_PROTOCOL), "pickle"
            except Exception as exc2:
                self.problem = f"its state cannot be pickled either ({type(exc2).__name__}: {exc2})"
                return False
        except Exception as exc:
            self.problem = f"its state() failed ({type(exc).__name__}: {exc})"
            return False
        path = self.path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.mark()
            atomic_write_bytes(path, pack(key, FORMAT, encoding, payload))
        except OSError as exc:
            self.problem = f"the model cache {self.root} cannot be written ({exc})"
            warnings.warn(f"{self.problem}; running without it", RuntimeWarning, stacklevel=2)
            return False
        return True

    def writable(self) -> bool:
        """Whether entries can be written here (the folder is created, and marked as a cache, if need be)."""
        if not folder_writable(self.root):
            return False
        try:
            self.mark()
            return True
        except OSError:
            return False
