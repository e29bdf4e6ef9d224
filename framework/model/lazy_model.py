"""A model restored from the model cache, built only when it is used.

ModelCache.load checks an entry's digest and decodes it at once (a damaged entry is a miss),
but building the model (importing torch, making the network, loading its weights) waits
until predict, diagnostics or fit needs it: a run whose scores and gradient flow are cached
(derived_cache.py) never builds it. ``state()`` answers from the decoded state (what a
warm-start chain or a checkpoint stores).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import safe_codec
from ..errors import SeqalphaError
from .base import Log, Model, as_model
from .samples import SampleSet


class CachedModelError(SeqalphaError):
    """A model cache entry that decoded but cannot be restored into the model (not a RuntimeError: the trainer
    takes those from diagnostics as "no gradient flow")."""


class LazyModel(Model):
    """The model ``factory(**params)`` with a stored ``state`` restored, built on first use."""

    def __init__(self, factory: Callable[..., Any], params: dict, state: Any, source: str = "") -> None:
        self._factory, self._params, self._state, self._source = factory, dict(params), state, source
        self._model: Model | None = None

    @property
    def built(self) -> bool:
        """Whether the model has been built (and its state restored)."""
        return self._model is not None

    def model(self) -> Model:
        """The model, built and restored now if it was not yet."""
        if self._model is None:
            from ..threads import apply_torch

            try:
                model = as_model(self._factory(**self._params)).restore(safe_codec.realise(self._state))
            except Exception as exc:
                raise CachedModelError(f"the cached model {self._source} could not be restored ({type(exc).__name__}: "
                                   f"{exc}); clear it with `seqalpha cache --clear` or run with cache=False") from exc
            apply_torch()
            self._model = model
        return self._model

    @property
    def params(self) -> dict:  # type: ignore[override]
        return self.model().params if hasattr(self.model(), "params") else dict(self._params)

    def fit(self, train: SampleSet, valid: SampleSet | None, log: Log | None = None) -> dict:
        from .base import fit_model

        return fit_model(self.model(), train, valid, log)

    def predict(self, samples: SampleSet) -> np.ndarray:
        return self.model().predict(samples)

    def predict_members(self, samples: SampleSet) -> np.ndarray:
        return self.model().predict_members(samples)

    def diagnostics(self, samples: SampleSet) -> dict:
        return self.model().diagnostics(samples)

    def state(self) -> dict:
        """The stored state (tensors made as torch tensors), or the built model's once it was used (a fit may
        have changed it)."""
        if self._model is not None:
            return self._model.state()
        return safe_codec.realise(self._state)

    def restore(self, state: dict) -> LazyModel:
        self._state, self._model = state, None
        return self

    def __getattr__(self, name: str) -> Any:
        """Anything else (``network``, ``history``, ...) from the built model, for hooks that look inside."""
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.model(), name)
