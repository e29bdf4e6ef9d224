"""What a cached model computes, cached beside it: a segment's scores and a retrain's gradient flow.

A cached run loads each retrain's model from the model cache, and then needs it only to
score its segment and to draw its gradient-flow curve; both are a function of the model
(its cache key: code, parameters, data, seed, device, threads), of the samples, and of the
code that computes them. They are stored in the model cache folder, signed and atomic like
models (ModelCache.store_tree), under

* scores: sha256 of the members' model keys, the segment's samples (``data_fingerprint``:
  the feature rows their windows read, dates, assets, the window transform) and the scoring
  code (the clock's checks, seed ensembles);
* gradient flow: sha256 of the members' model keys (their samples are in them) and the
  code of gradient_flow.py and seed ensembles.

A model without a key (not cached, cache=False) never uses them; a damaged entry is a miss.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..canonical import digest
from .card import file_digest

FORMAT = 1
_SCORING = ("seqalpha.backtest.clock", "seqalpha.model.ensemble", "seqalpha.model.base")
_GRADIENT = ("seqalpha.model.gradient_flow", "seqalpha.model.ensemble", "seqalpha.model.base")
_code: dict[str, str | None] = {}


def _code_of(modules: Sequence[str]) -> str | None:
    """sha256 of these seqalpha modules' files (read without importing them); None when one cannot be read."""
    out = []
    for name in modules:
        if name not in _code:
            try:
                spec = importlib.util.find_spec(name)
            except (ImportError, ValueError):
                spec = None
            _code[name] = file_digest(spec.origin) if spec is not None and spec.origin else None
        if _code[name] is None:
            return None
        out.append(_code[name])
    return digest(out)


def scores_key(model_keys: Sequence[str | None] | None, samples: Any) -> str | None:
    """The key of the scores of ``samples`` by the model whose members have these cache keys; None when a member
    has none (not cached)."""
    if not model_keys or any(k is None for k in model_keys):
        return None
    from .cache import data_fingerprint

    code = _code_of(_SCORING)
    if code is None:
        return None
    return digest({"kind": "scores", "format": FORMAT, "models": list(model_keys), "code": code,
                   "samples": data_fingerprint(samples), "n": len(samples)})


def gradient_flow_key(model_keys: Sequence[str | None] | None) -> str | None:
    """The key of the gradient-flow curve of the model whose members have these cache keys (None: not cached)."""
    if not model_keys or any(k is None for k in model_keys):
        return None
    code = _code_of(_GRADIENT)
    if code is None:
        return None
    return digest({"kind": "gradient_flow", "format": FORMAT, "models": list(model_keys), "code": code})


def load_scores(cache: Any, key: str | None, n: int) -> np.ndarray | None:
    """The cached float[S, n] scores under ``key``, or None (absent, damaged, the wrong shape)."""
    if cache is None or key is None:
        return None
    value = cache.load_tree(key)
    if not isinstance(value, np.ndarray) or value.dtype != np.float64 or value.ndim != 2 or value.shape[1] != n \
            or not np.isfinite(value).all():
        return None
    return value


def store_scores(cache: Any, key: str | None, members: np.ndarray) -> None:
    if cache is not None and key is not None:
        cache.store_tree(key, np.ascontiguousarray(members, dtype=np.float64))


_MISSING = object()


def load_gradient_flow(cache: Any, key: str | None) -> Any:
    """The cached {"curve": float[L] or None, "message": str or None}, or ``MISSING``."""
    if cache is None or key is None:
        return _MISSING
    value = cache.load_tree(key)
    if not isinstance(value, dict) or set(value) != {"curve", "message"}:
        return _MISSING
    curve = value["curve"]
    if curve is not None and not (isinstance(curve, np.ndarray) and curve.ndim == 1 and curve.dtype == np.float64):
        return _MISSING
    return value


def store_gradient_flow(cache: Any, key: str | None, curve: np.ndarray | None, message: str | None) -> None:
    if cache is not None and key is not None:
        cache.store_tree(key, {"curve": None if curve is None else np.asarray(curve, dtype=np.float64),
                               "message": message})


MISSING = _MISSING
