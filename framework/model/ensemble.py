"""Seed ensembles: one model per seed, scores averaged, members kept so metrics can be reported per seed.

Single-seed numbers mislead: two seeds of the same LSTM can differ by more than two
architectures do. ``Strategy.seeds = [0, 1, 2]`` makes every retrain fit one member
per seed (each cached on its own) and score with the mean of the members' scores;
the per-seed scores are saved too (``seed_scores.parquet``) and
``metrics.seed_metrics`` turns them into ic/rank_ic per seed with their mean and spread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .base import Log, Model, as_model, fit_model, takes_seed
from .samples import SampleSet

#: fit_member(params, train, valid, seed, log) -> (fitted model, info dict)
FitMember = Callable[[dict, SampleSet, "SampleSet | None", int, "Log | None"], tuple[Model, dict]]


def fit_plain(factory: Callable[..., Any]) -> FitMember:
    """The member fitter without a cache: ``factory(**params).fit(train, valid)``."""
    def fit(params: dict, train: SampleSet, valid: SampleSet | None, seed: int, log: Log | None = None):
        model = as_model(factory(**params))
        return model, fit_model(model, train, valid, log)
    return fit


class SeedEnsemble(Model):
    """Fits ``factory(**params, seed=s)`` for each seed; predicts the mean of the members' scores.

    A model without a ``seed`` parameter is deterministic: it is fitted once and shared
    by every seed (so per-seed metrics are equal and their spread is 0).
    """

    def __init__(self, factory: Callable[..., Any], params: dict, seeds: Sequence[int],
                 fit_member: FitMember | None = None) -> None:
        if not seeds:
            raise ValueError("SeedEnsemble needs at least one seed")
        self.factory = factory
        self.params = dict(params)
        self.seeds = [int(s) for s in seeds]
        self.fit_member = fit_member or fit_plain(factory)
        self.members: list[Model] = []
        self.infos: list[dict] = []

    def member_params(self, seed: int) -> dict:
        """The parameters of the member of ``seed`` (with ``seed`` when the model takes one)."""
        return {**self.params, "seed": seed} if takes_seed(self.factory) else dict(self.params)

    def fit(self, train: SampleSet, valid: SampleSet | None, log: Log | None = None) -> dict:
        self.members, self.infos = [], []
        shared = None
        for seed in self.seeds:
            if takes_seed(self.factory):
                model, info = self.fit_member(self.member_params(seed), train, valid, seed, log)
            else:
                shared = shared or self.fit_member(self.member_params(seed), train, valid, seed, log)
                model, info = shared
            self.members.append(model)
            self.infos.append(info)
        history = [{**r, "seed": s} for s, info in zip(self.seeds, self.infos) for r in info.get("history", [])]
        return {"members": list(zip(self.seeds, self.infos)), "history": history}

    def predict_members(self, samples: SampleSet) -> np.ndarray:
        """float[S, B]: each member's scores, in ``seeds`` order (a shared member is predicted once)."""
        if not self.members:
            raise RuntimeError("SeedEnsemble.predict called before fit")
        out = np.empty((len(self.members), len(samples)), dtype=np.float64)
        done: dict[int, np.ndarray] = {}
        for k, model in enumerate(self.members):
            if id(model) not in done:
                done[id(model)] = np.asarray(model.predict(samples), dtype=np.float64)
            out[k] = done[id(model)]
        return out

    def predict(self, samples: SampleSet) -> np.ndarray:
        return self.predict_members(samples).mean(axis=0)

    def state(self) -> dict:
        return {"seeds": self.seeds, "members": [m.state() for m in self.members], "infos": self.infos}

    def restore(self, state: dict) -> SeedEnsemble:
        self.seeds = list(state["seeds"])
        self.members = [as_model(self.factory(**self.member_params(s))).restore(m)
                        for s, m in zip(self.seeds, state["members"])]
        self.infos = list(state["infos"])
        return self

    def diagnostics(self, samples: SampleSet) -> dict:
        """The members' gradient-flow curves averaged (distinct members only), when they all have one."""
        curves = [m.diagnostics(samples).get("gradient_flow") for m in dict.fromkeys(self.members)]
        if not curves or any(c is None for c in curves):
            return {}
        return {"gradient_flow": np.mean(curves, axis=0)}
