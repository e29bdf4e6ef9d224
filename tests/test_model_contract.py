"""The model contract (framework/model/base.py): any object with fit and predict gets caching, resume and ensembles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seqalpha import Model, Strategy, hookimpl, run_backtest
from seqalpha.model import as_model, fit_model


class DuckRidge:
    """Not a Model subclass: only fit(train, valid) and predict(samples), plus a seed that moves its fit a little."""

    defaults = {"seed": 0, "alpha": 1.0}

    def __init__(self, seed: int = 0, alpha: float = 1.0) -> None:
        self.seed, self.alpha = seed, alpha

    def fit(self, train, valid):
        x = np.c_[train.last_step().astype(np.float64), np.ones(len(train))]
        coef = np.linalg.solve(x.T @ x + self.alpha * np.eye(x.shape[1]), x.T @ train.targets)
        self.coef = coef + np.random.default_rng(self.seed).normal(0, 0.05, len(coef))
        return {"history": [{"epoch": 0, "train_loss": float(np.mean((x @ self.coef - train.targets) ** 2))}]}

    def predict(self, samples):
        return np.c_[samples.last_step().astype(np.float64), np.ones(len(samples))] @ self.coef


class Plugin:
    def __init__(self, stop_at: int = 0) -> None:
        self.stop_at, self.calls = stop_at, 0

    @hookimpl
    def register_models(self, register):
        register("duck_ridge", DuckRidge)

    @hookimpl
    def model_trained(self, strategy, date, model, n_train, n_valid, seconds):
        self.calls += 1
        if self.calls == self.stop_at:
            raise KeyboardInterrupt


class DuckEnsemble(Strategy):
    data = "synthetic?assets=16&days=240&seed=5"
    model = "duck_ridge"
    seeds = [0, 1, 2]
    window = 5
    horizon = 1
    rebalance = "W"
    retrain = "MS"
    min_train_bars = 60
    portfolio_params = {"k": 4}


TIMING = ("seconds", "retrain_seconds", "n_cache_hits")


def test_a_plain_model_gets_ensembles_and_the_cache():
    first = run_backtest(DuckEnsemble, plugins=[Plugin()], progress=False)
    n = first.metrics["n_retrains"]
    assert first.metrics["n_model_fits"] == 3 * n and first.metrics["n_cache_hits"] == 0
    assert len(set(first.metrics["ic_per_seed"])) == 3  # three different members
    again = run_backtest(DuckEnsemble, plugins=[Plugin()], progress=False)
    assert again.metrics["n_cache_hits"] == 3 * n  # every member loaded through state()/restore()
    pd.testing.assert_frame_equal(first.seed_scores, again.seed_scores)
    assert {k: v for k, v in again.metrics.items() if k not in TIMING} == \
        {k: v for k, v in first.metrics.items() if k not in TIMING}


def test_a_plain_model_resumes_to_the_same_numbers(tmp_path):
    whole = run_backtest(DuckEnsemble, plugins=[Plugin()], progress=False, out=tmp_path / "whole", cache=False)
    with pytest.raises(KeyboardInterrupt):
        run_backtest(DuckEnsemble, plugins=[Plugin(stop_at=3)], progress=False, out=tmp_path / "cut", cache=False)
    resumed = run_backtest(DuckEnsemble, plugins=[Plugin()], progress=False, out=tmp_path / "cut", resume=True,
                           cache=False)
    assert resumed.config["resumed_at"] is not None
    for table in ("scores", "seed_scores", "weights", "returns"):
        pd.testing.assert_frame_equal(getattr(whole, table), getattr(resumed, table), obj=table)


def test_fit_gets_a_log_only_when_it_takes_one():
    lines: list[str] = []

    class WithLog(Model):
        def fit(self, train, valid, log=None):
            log("fitted")
            return {}

    class TwoArgs(Model):
        def fit(self, train, valid):
            return {"ok": True}

    assert fit_model(WithLog(), None, None, lines.append) == {} and lines == ["fitted"]
    assert fit_model(TwoArgs(), None, None, lines.append) == {"ok": True}
    assert as_model(DuckRidge()).state() == {"seed": 0, "alpha": 1.0}
    with pytest.raises(TypeError, match="no fit"):
        as_model(object())
