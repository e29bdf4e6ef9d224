"""The ``linear`` baseline: ridge regression on the last step's factors. No memory, no torch.

Every report can show it beside a sequence model: what the sequence model adds is
the difference.
"""

from __future__ import annotations

import numpy as np

from seqalpha.hookspecs import hookimpl
from seqalpha.model import Model, SampleSet


class LastStepRidge(Model):
    """Ridge regression on the last step's factors (no memory): the baseline a sequence model must beat."""

    defaults = {"alpha": 1.0}

    def _last_step(self, samples: SampleSet) -> np.ndarray:
        x = samples.last_step().astype(np.float64)
        return np.hstack([x, np.ones((len(x), 1))])

    def fit(self, train: SampleSet, valid: SampleSet | None, log=None) -> dict:
        x = self._last_step(train)
        y = train.targets.astype(np.float64)
        reg = self.params["alpha"] * np.eye(x.shape[1])
        reg[-1, -1] = 0.0
        self.coef = np.linalg.solve(x.T @ x + reg, x.T @ y)
        return {"history": []}

    def predict(self, samples: SampleSet) -> np.ndarray:
        return (self._last_step(samples) @ self.coef).astype(np.float32)


@hookimpl
def register_models(register):
    register("linear", LastStepRidge)
