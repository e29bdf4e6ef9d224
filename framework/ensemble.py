"""Seed ensembles: one model per seed, scores averaged, members kept so metrics can be reported per seed.

Single-seed numbers mislead: two seeds of the same LSTM can differ by more than two
architectures do. ``Strategy.seeds = [0, 1, 2]`` makes every retrain fit one member
per seed (each cached on its own) and score with the mean of the members' scores;
the per-seed scores are saved too (``seed_scores.parquet``) and ``seed_metrics``
turns them into ic/rank_ic per seed with their mean and spread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from . import metrics
from .model import Model
from .samples import SampleSet

#: fit_member(params, train, valid, seed) -> (fitted model, info dict)
FitMember = Callable[[dict, SampleSet, "SampleSet | None", int], tuple[Any, dict]]


def fit_plain(factory: Callable[..., Any]) -> FitMember:
    """The member fitter without a cache: ``factory(**params).fit(train, valid)``."""
    def fit(params: dict, train: SampleSet, valid: SampleSet | None, seed: int) -> tuple[Any, dict]:
        model = factory(**params)
        return model, model.fit(train, valid) or {}
    return fit


def takes_seed(factory: Callable[..., Any]) -> bool:
    """Whether a model factory declares a ``seed`` parameter."""
    return "seed" in getattr(factory, "defaults", {})


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
        self.members: list[Any] = []
        self.infos: list[dict] = []

    def fit(self, train: SampleSet, valid: SampleSet | None) -> dict:
        self.members, self.infos = [], []
        shared = None
        for seed in self.seeds:
            if takes_seed(self.factory):
                model, info = self.fit_member({**self.params, "seed": seed}, train, valid, seed)
            else:
                shared = shared or self.fit_member(dict(self.params), train, valid, seed)
                model, info = shared
            self.members.append(model)
            self.infos.append(info)
        history = [{**r, "seed": s} for s, info in zip(self.seeds, self.infos) for r in info.get("history", [])]
        return {"members": list(zip(self.seeds, self.infos)), "history": history}

    def predict_members(self, samples: SampleSet) -> np.ndarray:
        """float[S, B]: each member's scores, in ``seeds`` order."""
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


def seed_metrics(seed_scores: pd.DataFrame) -> dict[str, Any]:
    """Per-seed IC metrics from a (date, asset, seed, score, label) table: ``ic_per_seed`` and
    ``rank_ic_per_seed`` (lists in seed order), and their mean and spread (std, ddof=1) across seeds."""
    if seed_scores.empty:
        return {}
    seeds, ic, rank_ic = [], [], []
    for seed, g in seed_scores.groupby("seed", sort=False):
        summary = metrics.ic_summary(metrics.ic_by_date(g[["date", "asset", "score", "label"]]))
        seeds.append(int(seed))
        ic.append(summary["ic"])
        rank_ic.append(summary["rank_ic"])

    def spread(v: list[float]) -> float:
        return float(np.std(v, ddof=1)) if len(v) > 1 else float("nan")

    return {"seeds": seeds, "ic_per_seed": ic, "rank_ic_per_seed": rank_ic,
            "ic_seed_mean": float(np.mean(ic)), "ic_seed_std": spread(ic),
            "rank_ic_seed_mean": float(np.mean(rank_ic)), "rank_ic_seed_std": spread(rank_ic)}
