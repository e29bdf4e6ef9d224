"""Market context (``Strategy.market_context``): what it computes, that it reads rows <= t, that per-date
normalisation leaves it alone and the time normalisation is fitted on training dates, and a planted leak."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from seqalpha import Model, Strategy, hookimpl, panel_from_frame, run_backtest
from seqalpha.backtest.dataset import Dataset
from seqalpha.features import context as context_module
from seqalpha.features.context import ContextError, context_names, equal_weight_index, market_context
from seqalpha.resolved import resolve_run

CONFIG = {"lookbacks": [1, 3, 10]}


def _arrays(seed: int = 0, T: int = 80, N: int = 15):
    rng = np.random.default_rng(seed)
    close = 20 * np.exp(np.cumsum(rng.standard_normal((T, N)) * 0.02, axis=0))
    close[:10, 3] = np.nan  # a late listing
    universe = np.isfinite(close) & (rng.random((T, N)) > 0.1)
    bench = 100 * np.exp(np.cumsum(rng.standard_normal(T) * 0.01))
    return close, universe, bench


def test_the_context_is_what_its_names_say():
    close, universe, bench = _arrays()
    names, values = market_context(CONFIG, close, universe, bench)
    assert names == context_names(CONFIG) == ["mkt_ret_1", "mkt_ret_3", "mkt_ret_10", "mkt_vol_3", "mkt_vol_10",
                                              "mkt_breadth_1", "mkt_breadth_3", "mkt_breadth_10", "mkt_disp_1",
                                              "mkt_disp_3", "mkt_disp_10"]
    col = dict(zip(names, values.T))
    t = 40
    np.testing.assert_allclose(col["mkt_ret_3"][t], np.log(bench[t] / bench[t - 3]), rtol=1e-5)
    np.testing.assert_allclose(col["mkt_vol_10"][t], np.std(np.diff(np.log(bench[t - 10:t + 1])), ddof=1), rtol=1e-5)
    r = np.log(close[t] / close[t - 3])[universe[t]]
    np.testing.assert_allclose(col["mkt_breadth_3"][t], np.mean(r > 0), rtol=1e-6)
    np.testing.assert_allclose(col["mkt_disp_3"][t], np.std(r), rtol=1e-5)
    assert np.isnan(col["mkt_ret_10"][:10]).all() and np.isfinite(col["mkt_ret_10"][10:]).all()
    index = equal_weight_index(close, universe)  # no benchmark: the equal-weight universe
    simple = (close[t] / close[t - 1] - 1)[universe[t] & np.isfinite(close[t - 1])]
    np.testing.assert_allclose(index[t] / index[t - 1] - 1, simple.mean(), rtol=1e-9)


@pytest.mark.parametrize("with_benchmark", [True, False])
def test_the_context_at_t_reads_no_row_after_t(with_benchmark):
    close, universe, bench = _arrays(1)
    _, full = market_context(CONFIG, close, universe, bench if with_benchmark else None)
    rng = np.random.default_rng(5)
    for cut in (20, 41, 70):
        c2, u2, b2 = close.copy(), universe.copy(), bench.copy()
        c2[cut + 1:] *= np.exp(rng.standard_normal(c2[cut + 1:].shape))
        u2[cut + 1:] = rng.random(u2[cut + 1:].shape) > 0.5
        b2[cut + 1:] *= 3.0
        _, cut_values = market_context(CONFIG, c2, u2, b2 if with_benchmark else None)
        np.testing.assert_array_equal(cut_values[:cut + 1], full[:cut + 1])


def test_bad_settings_are_refused_in_one_line():
    class S(Strategy):
        pass
    with pytest.raises(ContextError, match="unknown key 'lookback'. Did you mean 'lookbacks'"):
        S(market_context={"lookback": [5]})
    with pytest.raises(ContextError, match="distinct bar counts >= 1"):
        S(market_context={"lookbacks": [0, 5]})
    with pytest.raises(ContextError, match=r"\('volume',\) unknown|\['volume'\] unknown"):
        S(market_context={"features": ["ret", "volume"]})
    with pytest.raises(ContextError, match="must be None or a dict"):
        S(market_context=[5, 20])


# ---- in the Dataset: raw under per-date normalisation, scaled over time on training dates -------------

class Ctx(Strategy):
    data = "synthetic?assets=12&days=160&seed=3"
    factors = ["signal"]
    normalize = "zscore"
    window = 6
    horizon = 1
    retrain = None
    min_train_bars = 100
    rebalance = "W"
    portfolio_params = {"k": 3}
    model = "linear"
    market_context = {"lookbacks": [2, 5]}


def _build(**overrides):
    from seqalpha.data import load_panel

    run = resolve_run(Ctx, overrides)
    panel = load_panel(run.instance.data, run.registries.data_sources)
    return Dataset.build(run.instance, panel, run.registries.features), panel


@pytest.mark.parametrize("normalize", ["zscore", "rank", "robust"])
def test_context_bypasses_per_date_normalisation_and_is_scaled_on_training_dates(normalize):
    ds, panel = _build(normalize=normalize)
    names = context_names(Ctx.market_context)
    assert ds.feature_names == ["signal", *names] and ds.context_columns == tuple(range(1, 9))
    ctx = np.asarray(ds.features[:, :, 1:])
    listed = panel.listed()
    _, expected = market_context(Ctx.market_context, panel.close, ds.universe, None)
    np.testing.assert_array_equal(ctx[listed], np.broadcast_to(expected[:, None, :], ctx.shape)[listed])
    train = np.arange(ds.window - 1, 90)
    transform = ds.fit_transform(train)
    x = ds.samples(np.arange(100, 120), transform, need_label=False).windows()
    assert np.isfinite(x).all() and np.abs(x[:, :, 1:]).max() > 0.1  # not wiped out
    last = x[:, -1, 1:]  # the same for every asset on a date
    t = ds.samples(np.arange(100, 120), transform, need_label=False).t
    for d in np.unique(t):
        assert np.ptp(last[t == d], axis=0).max() < 1e-6
    # fitted on the training windows only: later context values change nothing in the fit
    changed = np.array(ds.features)
    changed[95:, :, 1:] *= 7.0
    import dataclasses

    other = dataclasses.replace(ds, features=changed)
    again = other.fit_transform(train)
    np.testing.assert_array_equal(again.median, transform.median)
    np.testing.assert_array_equal(again.scale, transform.scale)
    assert not np.allclose(transform.median[:, 1:], 0) or not np.allclose(transform.scale[:, 1:], 1)


def test_the_context_is_in_the_identity_config_and_report(tmp_path):
    res = run_backtest(Ctx, progress=False)
    names = context_names(Ctx.market_context)
    assert res.config["features"]["market_context"] == Ctx.market_context
    assert res.config["features"]["names"][-len(names):] == names
    plain = resolve_run(Ctx, {"market_context": None})
    assert "market_context" not in plain.features
    assert plain.identity_digest(False) != resolve_run(Ctx).identity_digest(False)
    res.write(tmp_path / "run")
    assert json.loads((tmp_path / "run" / "config.json").read_text())["features"]["market_context"] == {
        "lookbacks": [2, 5]}
    assert "mkt_disp_5" in (tmp_path / "run" / "report.html").read_text()


def test_the_store_keys_context_settings_apart(tmp_path):
    from seqalpha.data import load_panel
    from seqalpha.features.store import FeatureStore

    store = FeatureStore(tmp_path)
    keys = set()
    for mc in (None, {"lookbacks": [2, 5]}, {"lookbacks": [2, 6]}):
        run = resolve_run(Ctx, {"market_context": mc})
        panel = load_panel(run.instance.data, run.registries.data_sources)
        ds = Dataset.build(run.instance, panel, run.registries.features, store=store)
        memory = Dataset.build(run.instance, panel, run.registries.features)
        np.testing.assert_array_equal(np.asarray(ds.features), memory.features)
        again = Dataset.build(run.instance, panel, run.registries.features, store=store)  # read back
        assert again.context_columns == memory.context_columns
        keys.add(ds.feature_key)
    assert len(keys) == 3


# ---- timing: a planted leak one bar ahead of the market --------------------------------------------------

class BetaTimesMarket(Model):
    """Test double: score = the asset's beta (feature 0) times the last step of the first context feature."""

    def fit(self, train, valid):
        return {}

    def predict(self, samples):
        x = samples.windows()[:, -1, :]
        return (x[:, 0] * x[:, 1]).astype(np.float64)


class Doubles:
    @staticmethod
    @hookimpl
    def register_models(register):
        register("beta_times_market", BetaTimesMarket)


def _market_panel(seed: int = 4, T: int = 600, N: int = 20):
    """Stock returns beta_i * m_t (+ a little noise), the market m an MA(1): m_{t+2}, which the h=1 label of t
    carries through beta, is independent of the market up to t, but correlated 0.5 with m_{t+1}. A context that
    reads one bar ahead (m_{t+1}) predicts the label's ranking; one that reads rows <= t cannot."""
    rng = np.random.default_rng(seed)
    e = rng.standard_normal(T + 1) * 0.01
    m = e[1:] + e[:-1]
    m[0] = 0.0
    beta = np.linspace(0.2, 1.8, N)
    r = beta[None, :] * m[:, None] + rng.standard_normal((T, N)) * 0.001
    close = 30 * np.exp(np.cumsum(r, axis=0))
    dates = pd.bdate_range("2019-01-01", periods=T)
    df = pd.DataFrame({"date": np.repeat(dates, N), "asset": np.tile([f"S{i:02d}" for i in range(N)], T),
                       "close": close.ravel(), "beta": np.tile(beta, T)})
    panel = panel_from_frame(df, source="market_ma1")
    panel.benchmark = pd.Series(100 * np.exp(np.cumsum(m)), index=panel.dates)
    return panel


class Timing(Strategy):
    factors = ["beta"]
    normalize = None
    model = "beta_times_market"
    window = 3
    horizon = 1
    rebalance = "D"
    retrain = None
    min_train_bars = 40
    portfolio_params = {"k": 5}
    fees = 0.0
    benchmark = "MKT"
    market_context = {"lookbacks": [1], "features": ["ret"]}
    cache = False


def _rank_ic(panel) -> float:
    """Mean daily rank IC of BetaTimesMarket's scores against the labels, over every date from bar 40 (the
    Dataset's features, context and labels, as a run scores them; the engine's own timing is tested apart)."""
    run = resolve_run(Timing, plugins=[Doubles])
    ds = Dataset.build(run.instance, panel, run.registries.features)
    samples = ds.samples(np.arange(40, len(panel.dates)), ds.fit_transform(np.arange(2, 38)), need_label=True)
    frame = pd.DataFrame({"t": samples.t, "score": BetaTimesMarket().predict(samples), "label": samples.labels})
    ranks = frame.groupby("t")[["score", "label"]].rank()
    ranks["t"] = frame["t"]
    return float(ranks.groupby("t").apply(lambda g: g["score"].corr(g["label"]), include_groups=False).mean())


def test_a_context_read_at_t_cannot_use_the_market_one_bar_ahead():
    # each date's rank IC is about +-1 (the sign of m_t m_{t+2}): over ~560 dates the mean's SE is ~0.04
    ic = _rank_ic(_market_panel())
    assert abs(ic) < 0.12, ic


def test_a_context_leaking_one_bar_would_have_been_caught(monkeypatch):
    """The same scores with the context shifted one bar early (row t holds t+1's): the rank IC jumps to about 1/3
    (P(same sign) for correlation 0.5), so the test above is not vacuous."""
    real = context_module.market_context

    def leaky(*args, **kwargs):
        names, values = real(*args, **kwargs)
        shifted = np.full_like(values, np.nan)
        shifted[:-1] = values[1:]
        return names, shifted

    monkeypatch.setattr(context_module, "market_context", leaky)
    ic = _rank_ic(_market_panel())
    assert ic > 0.25, ic


def test_the_audit_truncation_check_sees_a_leaking_context(monkeypatch):
    from seqalpha.audit import checks
    from seqalpha.plugins import collect_registries, run_manager

    panel = _market_panel(T=200)
    strategy = Timing()
    features = collect_registries(run_manager(Doubles)).features
    cuts = checks.cut_bars(strategy, panel)
    assert checks.truncation(strategy, panel, features, cuts).state == "pass"
    real = context_module.market_context

    def leaky(*args, **kwargs):
        names, values = real(*args, **kwargs)
        values = values.copy()
        values[:-1] = values[1:]
        return names, values

    monkeypatch.setattr(context_module, "market_context", leaky)
    check = checks.truncation(strategy, panel, features, cuts)
    assert check.state == "fail" and "mkt_ret_1" in check.detail, check.detail


def test_the_cli_refuses_bad_settings_with_exit_2_before_any_data(capsys):
    from pathlib import Path

    from seqalpha.cli import main

    path = str(Path(__file__).resolve().parents[1] / "strategies" / "csi300_alstm_alpha158_context.py")
    assert main(["run", path, "--set", 'market_context={"lookback": [5]}']) == 2
    assert "unknown key 'lookback'. Did you mean 'lookbacks'" in capsys.readouterr().err
    assert main(["run", path, "--set", 'feature_set=["raw", "raw"]']) == 2
    assert "feature_set lists ['raw'] twice" in capsys.readouterr().err
