"""Canaries for `seqalpha audit`: features only a leak could use, a model that scores by them, and a wrapper
that records what each fit saw and each prediction scored."""

from __future__ import annotations

import numpy as np

from ..backtest.dataset import build_features
from ..features import FeatureSet, forward_returns
from ..features.expr_engine import compile_expressions
from ..model import Model, as_model
from ..strategy import Strategy

CANARY = "__canary__"


class CanaryModel(Model):
    """Scores each sample by the last step of the canary column (the last feature); fits nothing."""

    def fit(self, train, valid, log=None) -> dict:
        return {}

    def predict(self, samples) -> np.ndarray:
        return samples.last_step()[:, -1].astype(np.float64)


def with_canary(strategy_cls: type[Strategy], kind: str, feature_sets) -> type[Strategy]:
    """The user's strategy with its own features (its ``features()`` or its feature set, and its ``factors``)
    followed by one canary column, scored by CanaryModel:

    * ``"tomorrow"``: the next bar's close-to-close return, known only at the next bar's close;
    * ``"label"``: the label itself (known only h + 1 bars later): the positive control.
    """

    class Canary(strategy_cls):
        factors = None
        expressions = {}  # the user's are in its features below
        model = "audit_canary"
        model_params = {}
        market_context = None  # the canary is the last column CanaryModel reads; truncation checks the context

        def features(self, panel):
            own = build_features(self, panel, feature_sets, np.asarray(self.universe(panel), dtype=bool),
                                 strategy_cls.factors, features=lambda p: strategy_cls.features(self, p),
                                 program=compile_expressions(strategy_cls.expressions,
                                                             f"{strategy_cls.__name__}.expressions"))
            close = panel.close.astype(np.float64)
            if kind == "tomorrow":
                canary = np.full(close.shape, np.nan)
                with np.errstate(invalid="ignore", divide="ignore"):
                    canary[:-1] = close[1:] / close[:-1] - 1.0
            else:
                price = panel.field("open") if self.execution == "open" else close
                canary = forward_returns(price, self.horizon)
            values = np.concatenate([own.values, canary[:, :, None].astype(np.float32)], axis=2)
            return FeatureSet(values, [*own.names, CANARY], [*own.reference, -1])

    Canary.__name__ = Canary.__qualname__ = f"{strategy_cls.__name__}Canary"
    return Canary


class Recorder:
    """Wraps the user's model factory: each fit records the last sample date it trained or validated on, each
    prediction the first date it scored, so the audit can check the gap between them."""

    def __init__(self, factory) -> None:
        self.factory = factory
        self.defaults = getattr(factory, "defaults", None)
        self.events: list[tuple[str, int]] = []
        recorder = self

        class Recorded(Model):
            defaults = recorder.defaults if isinstance(recorder.defaults, dict) else {}

            def __init__(self, **params):
                self.params = params
                self.inner = as_model(recorder.factory(**params))

            def fit(self, train, valid, log=None):
                seen = [int(train.t.max())] + ([int(valid.t.max())] if valid is not None and len(valid) else [])
                recorder.events.append(("fit", max(seen)))
                from ..model import fit_model

                return fit_model(self.inner, train, valid, log)

            def predict(self, samples):
                recorder.events.append(("predict", int(samples.t.min())))
                return self.inner.predict(samples)

            def predict_members(self, samples):
                recorder.events.append(("predict", int(samples.t.min())))
                return self.inner.predict_members(samples)

            def diagnostics(self, samples):
                return {}

        self.model = Recorded

    def gaps(self) -> list[int]:
        """For each prediction, bars between the last fit's latest sample and the first scored date."""
        out, last = [], None
        for kind, t in self.events:
            if kind == "fit":
                last = t
            elif last is not None:
                out.append(t - last)
        return out
