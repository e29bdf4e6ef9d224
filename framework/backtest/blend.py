"""Blends in the backtest: each member resolved as a run of its own, fitted by its own Trainer on its own Dataset
at the blend's retrain bars, and the members' per-date rank scores averaged with the blend's weights.

``resolve_members`` turns ``model_params["members"]`` into member ResolvedRuns (one ``resolve_run`` each: the
blend's strategy with the member's overrides), so a member is checked, cached and keyed exactly like the same
strategy run alone with those overrides. ``BlendTrainer`` has the Trainer's interface for the clock
(``retrain``, ``score_segment``, the warm-start chain). docs/training.md, "Blends".
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..canonical import canonical
from ..errors import SeqalphaError
from ..model import Model, ModelCache, unknown_params
from ..model.blend import BlendError, check_members, member_names, member_overrides, rank_blend
from ..model.cache import split_cache_options
from ..progress import Progress
from ..strategy import StrategyError
from .dataset import Dataset
from .trainer import Retrain, Trainer

#: Strategy parameters that make a Dataset: members equal on all of them share one.
DATASET_PARAMS = ("feature_set", "factors", "expressions", "normalize", "clip", "window", "target", "target_clip",
                  "seed", "horizon", "execution", "benchmark")


# ---- resolution ---------------------------------------------------------------------------------------
def resolve_members(run, data, *, threads: int, plugins: tuple, plugin_files: tuple, cache_dir, fits_from, environ):
    """The blend ``run`` with its members resolved (``member_runs``), their identities (``blend``), the embargo
    of the longest member and the blend's seeds; every member's parameters checked before any data loads."""
    from ..resolved import resolve_run

    instance = run.instance
    try:
        specs = check_members(run.factory_params.get("members"))
    except BlendError as exc:
        raise StrategyError(str(exc)) from None
    names = member_names(specs)
    base = {k: v for k, v in instance.params().items() if k not in ("model", "model_params")}
    member_runs, identities = [], []
    for k, (spec, name) in enumerate(zip(specs, names)):
        where = f"blend member {k} ({spec['model']})"
        try:
            overrides = member_overrides(spec, k, instance.param_names(), instance.horizon)
            member = resolve_run(type(instance), {**base, **overrides}, data, threads=threads, plugins=plugins,
                                 plugin_files=plugin_files, cache_dir=cache_dir, fits_from=fits_from, environ=environ)
        except BlendError as exc:
            raise StrategyError(str(exc)) from None
        except SeqalphaError as exc:
            raise StrategyError(f"{where}: {exc}") from None
        _check_member_params(member, where)
        member_runs.append(member)
        identities.append({"name": name, "weight": float(spec.get("weight", 1.0)), "overrides": canonical(overrides),
                           "model": member.model, "model_params": member.model_params,
                           "factory_params": member.factory_params, "aux_horizons": list(member.aux_horizons),
                           "embargo": member.embargo, "warm_start": member.warm_start,
                           "members": list(member.members), "features": member.features,
                           "code": member.code.get("model")})
    seeds = tuple(instance.seeds) if instance.seeds else (instance.seed,)
    return dataclasses.replace(run, embargo=max(run.embargo, *(m.embargo for m in member_runs)),
                               warm_start=any(m.warm_start for m in member_runs), members=seeds,
                               blend=tuple(identities), member_runs=tuple(member_runs))


def _check_member_params(member, where: str) -> None:
    """A member's model parameters: unknown names get a "did you mean", refused values their message."""
    entry = member.model_entry
    known = getattr(entry.factory, "defaults", None)
    params, _ = split_cache_options(member.instance.model_params)
    problem = unknown_params(repr(member.model), known, params) if isinstance(known, dict) else None
    if problem:
        raise StrategyError(f"{where}: {problem}")
    try:
        entry.factory(**params)
    except (ValueError, TypeError) as exc:
        raise StrategyError(f"{where}: model_params: {exc}") from None


# ---- fitting and scoring ------------------------------------------------------------------------------
class FittedBlend(Model):
    """One retrain's fitted members (what observers of ``model_trained`` get); it scores through BlendTrainer."""

    def __init__(self, names: list[str], fits: list[Retrain]) -> None:
        self.names, self.fits = list(names), list(fits)

    @property
    def models(self) -> dict[str, Model]:
        return {n: f.model for n, f in zip(self.names, self.fits)}

    def predict(self, samples) -> np.ndarray:
        raise RuntimeError("a fitted blend scores through BlendTrainer.score_segment (each member on its own "
                           "Dataset), not on one SampleSet")

    def state(self) -> dict:
        return {"names": self.names, "members": [f.model.state() for f in self.fits]}


class BlendTrainer:
    """The members' Trainers, fitted at the same retrain bars with the blend's embargo (the longest member's)."""

    WARM = Trainer.WARM

    def __init__(self, run, dataset: Dataset, cache: ModelCache | None, progress: Progress, store=None) -> None:
        self.run, self.strategy, self.dataset, self.progress = run, run.instance, dataset, progress
        self.names = [m["name"] for m in run.blend]
        self.weights = np.array([m["weight"] for m in run.blend], dtype=np.float64)
        self.embargo, self.warm = run.embargo, run.warm_start
        shared: dict[str, Dataset] = {_dataset_id(run.instance): dataset}
        self.trainers: list[Trainer] = []
        for member in run.member_runs:
            key = _dataset_id(member.instance)
            if key not in shared:
                shared[key] = Dataset.build(member.instance, dataset.panel, member.registries.features, store,
                                            definitions=member.features)
            # every member trains on what is known at the blend's embargo: the longest member's
            self.trainers.append(Trainer(dataclasses.replace(member, embargo=run.embargo), shared[key], cache,
                                         progress))
        self.datasets = list(shared.values())  # distinct, the blend's own first (checkpoint fingerprint)

    def retrain(self, t: int) -> Retrain:
        """Every member's retrain at bar t (each from the model cache when it was fitted before)."""
        t_start = time.perf_counter()
        fits = [trainer.retrain(t) for trainer in self.trainers]
        training = [{**row, "member": name} for name, f in zip(self.names, fits) for row in f.training]
        flow = [{**row, "model": name} for name, f in zip(self.names, fits) for row in f.gradient_flow]
        return Retrain(FittedBlend(self.names, fits), None, sum(f.n_train for f in fits),
                       sum(f.n_valid for f in fits), time.perf_counter() - t_start, sum(f.fits for f in fits),
                       sum(f.cache_hits for f in fits), training, flow)

    def score_segment(self, fitted: Retrain, t: int, end: int, state) -> dict:
        """Score bars t..end-1: each member on its own Dataset, then the rank blend; {bar: DataFrame(t, i,
        score)}. Each member's score (its seed mean) and rank go to ``state.member_scores``; with seeds, the blend
        of each seed's members to ``state.seed_scores``."""
        from .clock import checked_scores

        n_assets = len(self.dataset.panel.assets)
        per_member = []  # (sample keys t * N + i, float[S, B] scores)
        for name, trainer, fit in zip(self.names, self.trainers, fitted.model.fits):
            segment = trainer.dataset.samples(np.arange(t, end), fit.transform, need_label=False)
            scores = checked_scores(fit.model, segment, f"{name} ({trainer.run.model})")
            scores[:, ~trainer.dataset.window_has_values(segment.t, segment.i)] = np.nan
            per_member.append((segment.t * n_assets + segment.i, scores))
        keys = np.unique(np.concatenate([k for k, _ in per_member]))
        n_rows = len(self.strategy.seeds) if self.strategy.seeds else 1  # one row per seed of the blend
        means = np.full((len(per_member), len(keys)), np.nan)  # member, sample: its score (the mean of its rows)
        grid = np.full((len(per_member), n_rows, len(keys)), np.nan)  # member, seed, sample
        present = np.zeros((len(per_member), len(keys)), dtype=bool)
        for k, (member_keys, scores) in enumerate(per_member):
            pos = np.searchsorted(keys, member_keys)
            means[k, pos] = scores.mean(axis=0)
            present[k, pos] = True
            if self.strategy.seeds:
                if scores.shape[0] != n_rows:
                    raise StrategyError(f"blend member {self.names[k]!r} returned {scores.shape[0]} ensemble rows "
                                        f"for the blend's {n_rows} seeds")
                grid[k][:, pos] = scores
        tt, ii = keys // n_assets, keys % n_assets
        blend, ranks = rank_blend(means, tt, self.weights)
        state.member_scores += [pd.DataFrame({"t": tt[present[k]], "i": ii[present[k]], "member": name,
                                              "score": means[k][present[k]], "rank": ranks[k][present[k]]})
                                for k, name in enumerate(self.names)]
        if self.strategy.seeds:
            state.seed_scores += [pd.DataFrame({"t": tt, "i": ii, "seed": seed,
                                                "score": rank_blend(grid[:, s], tt, self.weights)[0]})
                                  for s, seed in enumerate(self.strategy.seeds)]
        scores = pd.DataFrame({"t": tt, "i": ii, "score": blend})
        return dict(tuple(scores.groupby("t")))

    # ---- warm starts across a checkpoint: one chain per member, each in its own folder -------------------
    def save_chain(self, folder: Path) -> dict:
        if not self.warm:
            return {}
        return {str(k): trainer.save_chain(Path(folder) / f"member-{k}") for k, trainer in enumerate(self.trainers)}

    def restore_chain(self, chain: dict, folder: Path) -> None:
        if not self.warm or not chain:
            return
        for k, trainer in enumerate(self.trainers):
            trainer.restore_chain(chain.get(str(k), {}), Path(folder) / f"member-{k}")


def members_with_own_dataset(run) -> list[tuple[str, object, object]]:
    """A blend run's members whose Dataset is not the blend's own (different features, window, normalisation,
    target...), each once: ``(label, strategy, feature sets)``, what ``seqalpha audit`` truncation-checks beside
    the blend's (framework/audit/checks.py ``truncation``)."""
    seen, out = {_dataset_id(run.instance)}, []
    for k, member in enumerate(run.member_runs):
        key = _dataset_id(member.instance)
        if key not in seen:
            seen.add(key)
            out.append((f"blend member {k} ({member.model})", member.instance, member.registries.features))
    return out


def _dataset_id(instance) -> str:
    """What decides a member's Dataset (its feature parameters, target, window, seed): equal ids share one."""
    from ..canonical import digest

    return digest([getattr(instance, p) for p in DATASET_PARAMS])


def make_trainer(run, dataset: Dataset, cache: ModelCache | None, progress: Progress, store=None):
    """The run's trainer: a BlendTrainer for a blend (its members resolved in ``run.member_runs``), else Trainer."""
    if run.member_runs:
        return BlendTrainer(run, dataset, cache, progress, store)
    return Trainer(run, dataset, cache, progress)
