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
        from .registry import did_you_mean

        unknown = [k for k in params if k not in self.defaults]
        if unknown:
            k = unknown[0]
            raise ValueError(
                f"{type(self).__name__}: unknown model parameter {k!r}.{did_you_mean(k, self.defaults)} "
                f"Known: {sorted(self.defaults)}"
            )
        self.params: dict[str, Any] = {**self.defaults, **params}

    def fit(self, train: SampleSet, valid: SampleSet | None) -> dict:
        raise NotImplementedError

    def predict(self, samples: SampleSet) -> np.ndarray:
        raise NotImplementedError
