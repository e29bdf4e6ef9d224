"""The ``blend`` model: several member models fitted at the same retrains, their per-date rank scores averaged.

A blend is not a per-window model: each member has its own feature set, window and parameters,
so it has its own Dataset and Trainer (framework/backtest/blend.py fits and scores them). This
class is what the model registry holds: it checks ``model_params = {"members": [...]}`` before
any data is loaded, and refuses to be fitted on windows directly.

A member is a dict of strategy overrides resolved like a run of its own (``resolve_run``):
``model`` (required), ``model_params``, any of ``MEMBER_PARAMS`` (its feature set, window,
normalisation, target, training spans), plus ``weight`` (>= 0, default 1) and an optional
``name``. Everything else (data, horizon, retrain schedule, seeds, portfolio, costs) is the
blend's, shared by every member (docs/training.md, "Blends").
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..registry import did_you_mean
from .base import Model

#: Strategy parameters a member may set for itself; the rest are the blend's.
MEMBER_PARAMS = ("model", "model_params", "feature_set", "factors", "expressions", "normalize", "clip", "window",
                 "target", "target_clip", "train_window", "valid_fraction", "train_start", "valid_start",
                 "valid_end", "horizon")
#: Keys of a member spec that are the blend's own, not strategy parameters.
BLEND_KEYS = ("weight", "name")


class BlendError(ValueError):
    """A blend's member list is malformed (raised as a one-line StrategyError by the run)."""


def member_names(members: list[dict]) -> list[str]:
    """Each member's name: its ``name``, else its model's name (with ``-k`` when two members share a model)."""
    models = [m.get("model") for m in members]
    return [str(m["name"]) if m.get("name") is not None else
            (str(model) if models.count(model) == 1 else f"{model}-{k}")
            for k, (m, model) in enumerate(zip(members, models))]


def check_members(members: Any) -> list[dict]:
    """The member specs as a list of dicts, checked for shape: one line naming the member and the problem."""
    if not isinstance(members, (list, tuple)) or not members:
        raise BlendError("blend: model_params['members'] must be a non-empty list of member dicts, e.g. "
                         "[{'model': 'alstm', 'weight': 0.5}, {'model': 'lightgbm', 'feature_set': 'alpha158', "
                         "'window': 1, 'weight': 0.5}]")
    out = []
    for k, spec in enumerate(members):
        if not isinstance(spec, dict):
            raise BlendError(f"blend member {k}: must be a dict of strategy overrides with a 'model', "
                             f"got {type(spec).__name__} {spec!r}")
        if not isinstance(spec.get("model"), str) or not spec["model"]:
            raise BlendError(f"blend member {k}: needs a 'model' (a registered model's name), got {spec!r}")
        if spec["model"] == "blend":
            raise BlendError(f"blend member {k}: a member cannot be a blend itself")
        weight = spec.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not np.isfinite(weight) or weight < 0:
            raise BlendError(f"blend member {k} ({spec['model']}): weight must be a number >= 0, got {weight!r}")
        if "model_params" in spec and not isinstance(spec["model_params"], dict):
            raise BlendError(f"blend member {k} ({spec['model']}): model_params must be a dict, "
                             f"got {spec['model_params']!r}")
        if spec.get("name") is not None and not isinstance(spec["name"], str):
            raise BlendError(f"blend member {k} ({spec['model']}): name must be a string, got {spec['name']!r}")
        out.append(dict(spec))
    names = member_names(out)
    if len(set(names)) != len(names):
        raise BlendError(f"blend: two members have the same name: {names}; give them distinct 'name's")
    if not sum(float(m.get("weight", 1.0)) for m in out) > 0:
        raise BlendError("blend: every member has weight 0; give at least one a positive weight")
    return out


def member_overrides(spec: dict, k: int, strategy_names: list[str], horizon: int) -> dict:
    """The strategy overrides of member ``k``: its MEMBER_PARAMS (``model_params`` {} when absent), refusing the
    blend's own parameters and unknown keys with a "did you mean"."""
    overrides = {"model_params": {}}
    for key, value in spec.items():
        if key in BLEND_KEYS:
            continue
        if key == "horizon":
            if value != horizon:
                raise BlendError(f"blend member {k} ({spec['model']}): horizon={value!r} differs from the blend's "
                                 f"horizon={horizon}: every member is scored against the same label")
            continue
        if key not in MEMBER_PARAMS:
            if key in strategy_names:
                raise BlendError(f"blend member {k} ({spec['model']}): {key!r} is the blend's parameter, shared by "
                                 f"every member (a member may set: {', '.join(MEMBER_PARAMS)})")
            raise BlendError(f"blend member {k} ({spec['model']}): unknown key {key!r}."
                             f"{did_you_mean(key, [*MEMBER_PARAMS, *BLEND_KEYS])} A member may set: "
                             f"{', '.join([*MEMBER_PARAMS, *BLEND_KEYS])}")
        overrides[key] = value
    return overrides


class Blend(Model):
    """Several member models (each its own features, window and parameters) blended by per-date rank scores."""

    defaults: dict[str, Any] = {"members": []}
    blend = True  # marks the factory: the run resolves and fits the members (framework/backtest/blend.py)

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        try:
            self.members = check_members(self.params["members"])
        except BlendError as exc:
            raise ValueError(str(exc)) from None

    def fit(self, train, valid, log=None) -> dict:
        raise RuntimeError("blend: a blend is fitted by the backtest (each member on its own Dataset), not on one "
                           "SampleSet; run it with run_backtest or `seqalpha run`")

    def predict(self, samples) -> np.ndarray:
        raise RuntimeError("blend: a blend scores through the backtest (framework/backtest/blend.py), not on one "
                           "SampleSet")


def is_blend(factory: Any) -> bool:
    """Whether a registered model factory is a blend (its members are resolved and fitted by the run)."""
    return bool(getattr(factory, "blend", False)) and isinstance(factory, type)


def rank_blend(member_scores: np.ndarray, dates: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(blend score float[B], ranks float[K, B]) from members' scores float[K, B] on samples dated ``dates``.

    On each date the members with weight > 0 are ranked over the assets every one of them scored (finite
    score): rank r of n (ties averaged) becomes (r - 0.5) / n in (0, 1); the blend is the weighted mean of those
    ranks, weights normalised to sum 1. An asset some weighted member did not score gets NaN (not scored).
    A member with weight 0 is ranked on the same assets (recorded) but does not enter the blend."""
    import pandas as pd

    scores = np.asarray(member_scores, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    used = weights > 0
    common = np.isfinite(scores[used]).all(axis=0)
    ranks = np.full(scores.shape, np.nan)
    if common.any():
        d = np.asarray(dates)[common]
        n = pd.Series(d).map(pd.Series(d).value_counts()).to_numpy(np.float64)
        for k in range(len(scores)):
            r = pd.Series(scores[k, common]).groupby(d).rank(method="average").to_numpy(np.float64)
            ranks[k, common] = (r - 0.5) / n
    w = weights[used] / weights[used].sum()
    blend = np.full(scores.shape[1], np.nan)
    blend[common] = (w[:, None] * ranks[used][:, common]).sum(axis=0) if used.any() else np.nan
    return blend, ranks
