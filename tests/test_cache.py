"""The model cache: changing only the portfolio or costs retrains nothing; changing any model input retrains."""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seqalpha import Model, Strategy, hookimpl, run_backtest
from seqalpha.builtin_plugins.synthetic import make_synthetic_panel
from seqalpha.model import cache as model_cache
from seqalpha.model.cache import ModelCache, code_version, model_key
from tests.conftest import FAST_LSTM


class CountingRidge(Model):
    """Ridge on the last step that counts its fits (a fit that the cache saved does not count)."""

    defaults = {"alpha": 1.0, "seed": 0}
    fits = 0

    def fit(self, train, valid):
        type(self).fits += 1
        x = np.c_[train.last_step(), np.ones(len(train))]
        self.coef = np.linalg.solve(x.T @ x + self.params["alpha"] * np.eye(x.shape[1]), x.T @ train.targets)
        return {}

    def predict(self, samples):
        return np.c_[samples.last_step(), np.ones(len(samples))] @ self.coef


class Counting:
    @staticmethod
    @hookimpl
    def register_models(register):
        register("counting_ridge", CountingRidge)


class Small(Strategy):
    data = "synthetic?assets=16&days=220"
    model = "counting_ridge"
    window = 6
    horizon = 2
    rebalance = "W"
    retrain = "MS"
    min_train_bars = 60
    portfolio_params = {"k": 4}


def run(**overrides):
    before = CountingRidge.fits
    res = run_backtest(Small, plugins=[Counting], progress=False, **overrides)
    return res, CountingRidge.fits - before


def test_portfolio_and_costs_changes_retrain_nothing():
    first, fits = run()
    n = first.metrics["n_retrains"]
    assert fits == n and first.metrics["n_cache_hits"] == 0 and n > 3
    for change in ({"fees": 0.01}, {"portfolio_params": {"k": 2}}, {"portfolio": "long_short", "portfolio_params": {}},
                   {"rebalance": "D", "slippage": 0.002}):
        again, fits = run(**change)
        assert fits == 0, change  # the counter proves no model was fitted
        assert again.metrics["n_cache_hits"] == again.metrics["n_model_fits"] == n
        pd.testing.assert_series_equal(first.scores.set_index(["date", "asset"])["score"],
                                       again.scores.set_index(["date", "asset"])["score"].loc[
                                           first.scores.set_index(["date", "asset"]).index])


@pytest.mark.parametrize("change", [
    {"model_params": {"alpha": 2.0}},  # a model parameter
    {"window": 7},  # the window
    {"seed": 1},  # the seed
    {"data": "synthetic?assets=16&days=220&seed=5"},  # the data
    {"factors": ["signal", "trend"]},  # the features
    {"horizon": 3},  # the label
    {"train_window": 40},  # the training slice
])
def test_any_model_input_change_retrains(change):
    base, _ = run()
    changed, fits = run(**change)
    assert changed.metrics["n_cache_hits"] == 0, change
    assert fits == changed.metrics["n_retrains"]


def test_cache_can_be_switched_off():
    run()
    res, fits = run(cache=False)
    assert fits == res.metrics["n_retrains"] and res.metrics["n_cache_hits"] == 0


def test_cached_torch_model_scores_exactly_like_a_fresh_one():
    class Lstm(Strategy):
        data = "synthetic?assets=12&days=200"
        model = "lstm"
        model_params = FAST_LSTM
        window = 8
        horizon = 1
        retrain = "2MS"
        min_train_bars = 80
        portfolio_params = {"k": 3}

    fresh = run_backtest(Lstm, progress=False)
    hit = run_backtest(Lstm, progress=False, fees=0.005)
    assert hit.metrics["n_cache_hits"] == hit.metrics["n_retrains"] > 0
    pd.testing.assert_frame_equal(fresh.scores, hit.scores)
    assert hit.training["cached"].all() and not fresh.training["cached"].any()
    pd.testing.assert_frame_equal(fresh.training.drop(columns=["cached", "retrain_seconds"]),
                                  hit.training.drop(columns=["cached", "retrain_seconds"]))
    changed = run_backtest(Lstm, progress=False, model_params={**FAST_LSTM, "hidden_size": 6})
    assert changed.metrics["n_cache_hits"] == 0


def test_cache_location_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQALPHA_CACHE_DIR", str(tmp_path / "here"))
    run()
    assert list((tmp_path / "here").rglob("*.model"))
    monkeypatch.delenv("SEQALPHA_CACHE_DIR")
    assert model_cache.cache_dir() == Path.home() / ".cache" / "seqalpha" / "models"


def _samples():
    from seqalpha.backtest import Dataset
    from seqalpha.plugins import collect_registries

    prep = Dataset.build(Small(), make_synthetic_panel(assets=16, days=220), collect_registries().features)
    return prep.samples(np.arange(20, 60), prep.base_transform, need_label=True)


def test_a_corrupt_or_half_written_entry_is_a_miss(tmp_path):
    cache = ModelCache(tmp_path)
    train = _samples()
    model = CountingRidge()
    model.fit(train, None)
    key = model_key("counting_ridge", CountingRidge, model.params, train, None, ["f"], 0)
    cache.store(key, model, {"history": []})
    loaded, info = cache.load(key, CountingRidge, model.params)
    np.testing.assert_array_equal(loaded.predict(train), model.predict(train))
    cache.path(key).write_bytes(cache.path(key).read_bytes()[:20])  # truncated, as if written half
    with pytest.warns(RuntimeWarning, match=f"{key}.model could not be restored.*: refitting"):  # a miss, said aloud
        assert cache.load(key, CountingRidge, model.params) is None


def test_writes_are_atomic(tmp_path, monkeypatch):
    """A write interrupted before the rename leaves no entry (and no temporary file behind)."""
    cache = ModelCache(tmp_path)
    train = _samples()
    model = CountingRidge()
    model.fit(train, None)

    def killed(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        cache.store("ab" * 32, model, {})
    assert not cache.path("ab" * 32).exists()
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and p.name != model_cache.MARKER]  # the marker only


def test_key_depends_on_the_data_seen_and_the_code(tmp_path):
    train = _samples()
    key = model_key("m", CountingRidge, {"alpha": 1.0}, train, None, ["f"], 0)
    assert key == model_key("m", CountingRidge, {"alpha": 1.0}, train, None, ["f"], 0)
    nudged = train.subset(np.arange(len(train)))
    nudged.features = train.features.copy()
    nudged.features[int(train.t.max()), 0, 0] += 1.0  # one value inside the last window
    assert model_key("m", CountingRidge, {"alpha": 1.0}, nudged, None, ["f"], 0) != key
    later = train.features.copy()
    later[int(train.t.max()) + 1:] = 0.0  # rows after the last sample: never seen by the model
    unseen = train.subset(np.arange(len(train)))
    unseen.features = later
    assert model_key("m", CountingRidge, {"alpha": 1.0}, unseen, None, ["f"], 0) == key

    src = tmp_path / "mymodel.py"
    versions = []
    for body in ("return 1", "return 2"):
        src.write_text(f"class M:\n    def f(self):\n        {body}\n")
        spec = importlib.util.spec_from_file_location("mymodel_for_cache_test", src)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        versions.append(code_version(module.M))
    sys.modules.pop("mymodel_for_cache_test", None)
    assert versions[0] != versions[1] and None not in versions


def test_loads_mark_use_and_prune_removes_only_stale_entries(tmp_path, monkeypatch, capsys):
    """`seqalpha cache --older-than DAYS` removes models not used for DAYS days; a load counts as a use."""
    from seqalpha.cli import main

    cache = ModelCache(tmp_path)
    train = _samples()
    model = CountingRidge()
    model.fit(train, None)
    keys = ["aa" * 32, "bb" * 32, "cc" * 32]
    for key in keys:
        cache.store(key, model, {})
    old = time.time() - 10 * 86400
    for key in keys:
        os.utime(cache.path(key), (old, old))
    assert cache.load(keys[0], CountingRidge, model.params) is not None  # used today
    (tmp_path / "aa" / ".in-progress.tmp").write_bytes(b"x")  # a write in progress is not an entry
    monkeypatch.setenv("SEQALPHA_CACHE_DIR", str(tmp_path))
    assert main(["cache", "--older-than", "5", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "removed 2 model(s)" in out and "1 model(s)" in out
    assert [p.stem for p in cache.entries()] == [keys[0]]
    assert main(["cache", "--clear", "--yes"]) == 0
    assert cache.entries() == [] and "removed 1 model(s)" in capsys.readouterr().out
