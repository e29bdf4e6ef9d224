"""The tabular baselines (``lightgbm``, ``mlp``) and the strategy parameters of Qlib's one-fit workflow
(``train_start``, ``valid_start``/``valid_end``, ``target_clip``), on tiny synthetic panels."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from seqalpha import Strategy, panel_from_frame, run_backtest
from seqalpha.backtest.dataset import Dataset
from seqalpha.backtest.trainer import Trainer
from seqalpha.backtest.walkforward import training_dates
from seqalpha.builtin_plugins.lightgbm_model import LightGBM
from seqalpha.builtin_plugins.synthetic import make_synthetic_panel
from seqalpha.model import ModelCache, SampleSet
from seqalpha.progress import Progress
from seqalpha.resolved import resolve_run
from seqalpha.strategy import StrategyError
from tests.conftest import noise_frame

FAST_LGB = {"num_boost_round": 60, "early_stopping_rounds": 5, "num_leaves": 7, "max_depth": 3,
            "lambda_l1": 0.0, "lambda_l2": 1.0}
RETRAIN_BAR = 200


class Tabular(Strategy):
    """Today's factors of the synthetic panel (``signal`` two bars back moves the h=1 label: with lag=2 the
    label of t, close t+1 to t+2, is driven by signal[t], known at t)."""

    feature_set = "columns"
    model = "lightgbm"
    model_params = FAST_LGB
    window = 3
    horizon = 1
    normalize = None
    retrain = None
    rebalance = "W"
    test_start = "2018-10-10"  # about bar 200 of the synthetic calendar
    valid_start = "2018-06-01"
    target_clip = None


@pytest.fixture(scope="module")
def panel():
    return make_synthetic_panel(assets=30, days=260, seed=0, lag=2, strength=1.0)


@pytest.fixture(scope="module")
def dataset(panel):
    run = resolve_run(Tabular, data=panel)
    return run, Dataset.build(run.instance, panel, run.registries.features)


def slices(run, dataset, t: int = RETRAIN_BAR):
    return Trainer(run, dataset, None, Progress(False)).slices(t)


def per_date_ic(scores: np.ndarray, samples: SampleSet) -> float:
    frame = pd.DataFrame({"t": samples.t, "s": scores, "y": samples.labels})
    return float(frame.groupby("t")[["s", "y"]].apply(lambda g: g["s"].corr(g["y"], method="spearman")).mean())


@pytest.fixture(scope="module")
def fitted(dataset):
    run, ds = dataset
    _, train, valid = slices(run, ds)
    model = LightGBM(**FAST_LGB)
    info = model.fit(train, valid)
    return model, info, train, valid


def test_lightgbm_fits_a_planted_signal_and_scores_later_dates(dataset, fitted):
    run, ds = dataset
    model, info, train, valid = fitted
    later = ds.samples(np.arange(RETRAIN_BAR, RETRAIN_BAR + 40), ds.base_transform, need_label=True)
    scores = model.predict(later)
    assert scores.shape == (len(later),) and np.isfinite(scores).all()
    assert per_date_ic(scores, later) > 0.3  # the planted signal, out of sample
    assert 1 <= info["best_epoch"] <= info["epochs_run"] <= FAST_LGB["num_boost_round"]
    assert sum(r["chosen"] for r in info["history"]) == 1 and len(info["history"]) == info["epochs_run"]


def test_lightgbm_is_deterministic_at_a_seed(dataset, fitted):
    """Same data and seed: the same trees and scores, bit for bit (cache off: two fresh fits)."""
    run, ds = dataset
    model, _, train, valid = fitted
    again = LightGBM(**FAST_LGB)
    again.fit(train, valid)
    assert again.booster_text == model.booster_text
    assert np.array_equal(again.predict(valid), model.predict(valid))
    other = LightGBM(**{**FAST_LGB, "seed": 1})  # colsample_bytree < 1: the seed picks the columns
    other.fit(train, valid)
    assert other.booster_text != model.booster_text


def test_lightgbm_early_stops_on_the_validation_slice_only(dataset, fitted):
    """The best round moves when validation labels change, and not when labels after the embargo (the test
    span's) change."""
    run, ds = dataset
    model, info, train, valid = fitted
    later = np.arange(RETRAIN_BAR - run.embargo, len(ds.panel.dates))  # labels unknown at the retrain
    future = ds.labels.copy()
    future[later] = np.random.default_rng(1).standard_normal(future[later].shape)
    _, train2, valid2 = slices(run, dataclasses.replace(ds, labels=future))
    assert np.array_equal(valid2.targets, valid.targets) and np.array_equal(train2.targets, train.targets)
    assert LightGBM(**FAST_LGB).fit(train2, valid2)["best_epoch"] == info["best_epoch"]
    scrambled = ds.labels.copy()
    vd = np.unique(valid.t)
    scrambled[vd] = np.random.default_rng(2).permutation(scrambled[vd].ravel()).reshape(scrambled[vd].shape)
    _, train3, valid3 = slices(run, dataclasses.replace(ds, labels=scrambled))
    assert np.array_equal(train3.targets, train.targets)  # the training slice is untouched
    assert LightGBM(**FAST_LGB).fit(train3, valid3)["best_epoch"] != info["best_epoch"]


def test_lightgbm_state_is_text_and_a_cache_round_trip_scores_the_same(dataset, fitted, tmp_path):
    run, ds = dataset
    model, info, train, valid = fitted
    state = model.state()
    assert isinstance(state["booster_text"], str) and state["booster_text"].startswith("tree")
    cache = ModelCache(tmp_path / "cache")
    assert cache.store("ab" * 32, model, info)  # the safe form: no pickle (store refuses what needs one)
    assert b"pickle" not in cache.path("ab" * 32).read_bytes()[:200]
    loaded, _ = cache.load("ab" * 32, LightGBM, FAST_LGB)
    assert np.array_equal(loaded.predict(valid), model.predict(valid))
    fresh = LightGBM(**FAST_LGB).restore(state)
    assert np.array_equal(fresh.predict(train), model.predict(train))


def test_lightgbm_gets_missing_factors_as_nan_with_raw_features():
    """normalize=None: a missing factor reaches the trees as NaN (not 0); zscore: the normalised 0."""
    df = noise_frame(n_dates=80, n_assets=12, seed=3)
    df["hole"] = np.where(np.random.default_rng(3).random(len(df)) < 0.2, np.nan, df["noise"])
    panel = panel_from_frame(df, source="holes")
    for normalize, expect_nan in ((None, True), ("zscore", False)):
        run = resolve_run(Tabular, {"normalize": normalize}, data=panel)
        ds = Dataset.build(run.instance, panel, run.registries.features)
        samples = ds.samples(np.arange(2, 80), ds.base_transform, need_label=False)
        x = samples.tabular(1)
        raw = ds.features[samples.t, samples.i]
        assert np.isnan(x).any() == expect_nan
        if expect_nan:
            assert np.array_equal(np.isnan(x), np.isnan(raw))


def test_tabular_lags_read_todays_row_and_earlier_ones_only():
    T, N, F, L = 12, 3, 2, 4
    values = (np.arange(T)[:, None, None] * 100 + np.arange(N)[None, :, None] * 10
              + np.arange(F)[None, None, :]).astype(np.float32)
    t, i = np.array([3, 7, 11]), np.array([0, 2, 1])
    for transform in (None, lambda x: x.copy()):
        x = SampleSet(values, L, t, i, transform=transform).tabular(3)
        expect = np.concatenate([values[t - k, i, :] for k in range(3)], axis=1)  # lag 0 first
        assert np.array_equal(x, expect)
    with pytest.raises(ValueError, match="lags must be an int from 1 to the strategy's window"):
        SampleSet(values, L, t, i).tabular(5)


def test_lightgbm_with_lags_cannot_read_tomorrow(tmp_path):
    """Plant a factor that is today's return: tomorrow's row holds the label of today (close t+1 to t+2 is the
    return of day t+2), so a model with lags that read rows after t would rank it almost perfectly."""
    df = noise_frame(n_dates=220, n_assets=25, seed=5)
    close = df.pivot(index="date", columns="asset", values="close")
    ret = (close / close.shift(1) - 1).stack(future_stack=True).rename("ret").reset_index()
    panel = panel_from_frame(df.drop(columns="noise").merge(ret, on=["date", "asset"]), source="leak")
    result = run_backtest(Tabular, data=panel, test_start=None, valid_start=None, min_train_bars=100,
                          model_params={**FAST_LGB, "lags": 3}, cache=False, progress=False)
    assert abs(result.metrics["rank_ic"]) < 0.1  # a leak would give about 1


def test_mlp_runs_end_to_end_and_more_lags_than_the_window_are_refused(panel):
    result = run_backtest(Tabular, data=panel, model="mlp", normalize="zscore", cache=False, progress=False,
                          model_params={"hidden_size": 8, "epochs": 2, "patience": 1, "batch_size": 256})
    assert np.isfinite(result.scores["score"]).all() and len(result.training) >= 1
    for model in ("mlp", "lightgbm"):  # refused before any data is loaded, in one line
        with pytest.raises(StrategyError, match="lags=4 reads 4 bars of each window, but window=3: set window >= 4"):
            run_backtest(Tabular, data=panel, model=model, cache=False, progress=False, model_params={"lags": 4})


# ---- the strategy parameters of a one-fit workflow --------------------------------------------------
def test_fixed_validation_span_and_train_start(panel):
    dates = panel.dates
    s = Tabular(valid_start=str(dates[120].date()), valid_end=str(dates[150].date()),
                train_start=str(dates[30].date()))
    train, valid = training_dates(RETRAIN_BAR, s, dates=dates)
    h = s.horizon
    assert train[0] == 30 and train[-1] == 120 - h - 2  # training ends h + 1 bars before the span
    assert valid[0] == 120 and valid[-1] == 150
    s2 = Tabular(valid_start=str(dates[120].date()))  # no end: up to the retrain's last labelled date
    _, valid = training_dates(RETRAIN_BAR, s2, dates=dates)
    assert valid[-1] == RETRAIN_BAR - h - 1
    s3 = Tabular(valid_start=str(dates[120].date()), valid_end=str(dates[-1].date()))  # never past the embargo
    assert training_dates(RETRAIN_BAR, s3, dates=dates)[1][-1] == RETRAIN_BAR - h - 1
    digests = set()
    for name, value in (("valid_start", "2018-06-01"), ("valid_start", "2018-07-02"), ("valid_end", "2018-09-03"),
                        ("train_start", "2018-02-01"), ("target_clip", 2.0)):  # identity fields of the run
        run = resolve_run(Tabular, {name: value}, data=panel)
        assert run.identity()["params"][name] == value
        digests.add(run.identity_digest())
    assert len(digests) == 5


@pytest.mark.parametrize("bad, message", [
    ({"valid_end": "2018-06-01", "valid_start": None}, "valid_end='2018-06-01' needs valid_start"),
    ({"valid_start": "2018-06-01", "valid_end": "2018-05-01"}, "valid_start='2018-06-01' must be before valid_end"),
    ({"train_start": "2018-07-01"}, "train_start='2018-07-01' must be before valid_start"),
    ({"valid_start": "not a date"}, "valid_start must be a date"),
    ({"target_clip": 0}, "target_clip must be a number"),
])
def test_bad_span_parameters_are_refused_in_one_line(bad, message):
    with pytest.raises(StrategyError, match=message):
        Tabular(**bad)


def test_target_clip_none_keeps_large_z_scores(panel):
    """target_clip=None: Qlib's CSZScoreNorm, unbounded; the default bounds the targets at 3."""
    for clip, bounded in ((None, False), (3.0, True)):
        run = resolve_run(Tabular, {"target_clip": clip}, data=panel)
        ds = Dataset.build(run.instance, panel, run.registries.features)
        labels = ds.labels.copy()
        labels[100, 0] = 50.0  # one huge return: z about sqrt(N - 1) > 3
        s = dataclasses.replace(ds, labels=labels).samples(np.array([100]), None, need_label=True)
        assert (np.abs(s.targets).max() <= 3.0) == bounded


def test_lightgbm_threads_are_the_runs_unless_set(monkeypatch):
    """num_threads=None follows the run's pinned thread count (recorded in config.json and the cache key)."""
    import seqalpha.threads as threads

    monkeypatch.setattr(threads, "_pinned", 2)
    assert LightGBM().lgb_params()["num_threads"] == 2
    assert LightGBM(num_threads=3).lgb_params()["num_threads"] == 3
    p = LightGBM().lgb_params()
    assert (p["objective"], p["learning_rate"], p["num_leaves"], p["lambda_l2"]) == ("mse", 0.2, 210, 580.9768)
    with pytest.raises(ValueError, match="set \\['seed'\\] as the model's own parameters"):
        LightGBM(lgb_params={"seed": 3})
