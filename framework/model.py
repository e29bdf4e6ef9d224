"""The plain model interface: fit on training samples, score prediction samples. No torch required."""

from __future__ import annotations

from typing import Any

import numpy as np

from .samples import SampleSet


class Model:
    """Base for every model plugin.

    Subclasses implement ``fit(train, valid)`` (return a dict of diagnostics, may be
    empty) and ``predict(samples) -> float[B]`` (higher score = higher expected excess
    return). ``params`` are the strategy's ``model_params``; unknown names are rejected
    against ``defaults``.
    """

    defaults: dict[str, Any] = {}

    def __init__(self, **params: Any) -> None:
        problem = unknown_params(type(self).__name__, self.defaults, params)
        if problem:
            raise ValueError(problem)
        self.params: dict[str, Any] = {**self.defaults, **params}

    def fit(self, train: SampleSet, valid: SampleSet | None) -> dict:
        raise NotImplementedError

    def predict(self, samples: SampleSet) -> np.ndarray:
        raise NotImplementedError


def unknown_params(model: str, defaults: dict[str, Any], params: dict[str, Any]) -> str | None:
    """The error for ``params`` a model with these ``defaults`` does not take (None when all are known)."""
    from .registry import did_you_mean

    unknown = [k for k in params if k not in defaults]
    if not unknown:
        return None
    hint = did_you_mean(unknown[0], defaults) if len(unknown) == 1 else ""  # one unknown name: likely a typo
    return f"{model}: unknown model parameter(s) {unknown}.{hint} Known: {sorted(defaults)}."
