"""The model contract a plugin implements (docs/design.md, "Models"). No torch required.

A model is what a ``register_models`` factory returns, ``factory(**model_params)``:

* ``fit(train, valid, log=None) -> dict``: train on SampleSets (``valid`` may be None); return
  diagnostics (``{}`` is fine; ``"history"``: per-epoch dicts; ``"best_epoch"``). ``log`` is a
  callable(str) for progress lines; a ``fit(train, valid)`` without it keeps working.
* ``predict(samples) -> float[B]``: one score per sample, higher = higher expected excess return.
* ``predict_members(samples) -> float[S, B]``: one row per ensemble member (default: ``predict``).
* ``state() -> dict`` and ``restore(state) -> self``: what the model cache stores and loads
  (default: the attributes but ``params``, which the factory is given again). A state is stored
  without pickle (framework/safe_codec.py): numpy arrays, torch tensors, numbers, str, None,
  and lists/tuples/dicts of them (a tree model stores its own text format as a str). A model
  whose state holds anything else is not cached (``--workers`` refuses it), unless its
  ``model_params`` opt in with ``unsafe_pickle_cache=True`` (a pickle runs code when loaded).
* ``diagnostics(samples) -> dict``: optional extras after each retrain, e.g.
  ``{"gradient_flow": float[L]}`` (|d loss / d input| per window step, lag 0 last).

Subclass ``Model`` to get the defaults; an object with only ``fit`` and ``predict`` is wrapped
by ``as_model`` and gets them too, so caching, resume and seed ensembles work for any model.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from ..registry import did_you_mean
from .samples import SampleSet

Log = Callable[[str], None]


class Model:
    """Base for model plugins: parameters checked against ``defaults``, and the optional parts of the contract."""

    defaults: dict[str, Any] = {}

    def __init__(self, **params: Any) -> None:
        problem = unknown_params(type(self).__name__, self.defaults, params)
        if problem:
            raise ValueError(problem)
        self.params: dict[str, Any] = {**self.defaults, **params}

    def fit(self, train: SampleSet, valid: SampleSet | None, log: Log | None = None) -> dict:
        raise NotImplementedError

    def predict(self, samples: SampleSet) -> np.ndarray:
        raise NotImplementedError

    def predict_members(self, samples: SampleSet) -> np.ndarray:
        """float[S, B]: each member's scores; a single model is one member."""
        return np.asarray(self.predict(samples), dtype=np.float64)[None, :]

    def state(self) -> dict:
        """What the model cache stores: every attribute but ``params``; arrays, tensors, numbers, str, None and
        lists/dicts of them are stored safely (anything else is not cached, see the module docstring)."""
        return {k: v for k, v in vars(self).items() if k != "params"}

    def restore(self, state: dict) -> Model:
        """Load a ``state()`` into a model freshly built by the factory with the same parameters."""
        vars(self).update(state)
        return self

    def diagnostics(self, samples: SampleSet) -> dict:
        """Optional per-retrain extras, e.g. {"gradient_flow": float[L]}; none by default."""
        return {}


class _Wrapped(Model):
    """A model object that implements only fit and predict, given the rest of the contract's defaults."""

    def __init__(self, inner: Any) -> None:  # no parameter check: the factory did its own
        self.inner = inner

    def fit(self, train, valid, log=None):
        return fit_model(self.inner, train, valid, log)

    def predict(self, samples):
        return self.inner.predict(samples)

    def state(self) -> dict:
        return {k: v for k, v in vars(self.inner).items() if k != "params"}

    def restore(self, state: dict) -> Model:
        vars(self.inner).update(state)
        return self


def as_model(obj: Any) -> Model:
    """``obj`` itself when it is a Model, else wrapped so it has the whole contract."""
    if isinstance(obj, Model):
        return obj
    if not (callable(getattr(obj, "fit", None)) and callable(getattr(obj, "predict", None))):
        raise TypeError(f"a model factory returned {type(obj).__name__}, which has no fit(train, valid) and "
                        "predict(samples)")
    return _Wrapped(obj)


def fit_model(model: Any, train: SampleSet, valid: SampleSet | None, log: Log | None = None) -> dict:
    """``model.fit(train, valid)``, with ``log=`` only when its fit accepts it; the diagnostics as a dict."""
    from ..threads import apply_torch

    apply_torch()  # a model that imported torch itself fits on the run's thread count
    params = inspect.signature(model.fit).parameters
    accepts_log = "log" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    info = model.fit(train, valid, log=log) if accepts_log else model.fit(train, valid)
    return dict(info or {})


def takes_seed(factory: Callable[..., Any]) -> bool:
    """Whether a model factory declares a ``seed`` parameter (then each seed gives another model)."""
    return "seed" in (getattr(factory, "defaults", None) or {})


def unknown_params(model: str, defaults: dict[str, Any], params: dict[str, Any]) -> str | None:
    """The error for ``params`` a model with these ``defaults`` does not take (None when all are known)."""
    unknown = [k for k in params if k not in defaults]
    if not unknown:
        return None
    hint = did_you_mean(unknown[0], defaults) if len(unknown) == 1 else ""  # one unknown name: likely a typo
    return f"{model}: unknown model parameter(s) {unknown}.{hint} Known: {sorted(defaults)}."
