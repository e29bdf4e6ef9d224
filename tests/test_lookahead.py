"""Look-ahead: every timing rule of DESIGN.md, each guarded by a planted signal only a leak could exploit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from framework import Model, Strategy, engine, hookimpl, panel_from_frame, run_backtest
from framework import backtest as bt
from framework.features import cross_sectional_normalize, excess_labels
from tests.conftest import noise_frame, wide, with_factor


class LastStepFactor(Model):
    """Test double: the score is the last step of the first feature (no learning)."""

    def fit(self, train, valid):
        return {}

    def predict(self, samples):
        return samples.features[samples.t, samples.i, 0].astype(np.float64)


class LabelMemoriser(Model):
    """Test double that memorises training labels: by exact window, else the asset's latest training label."""

    def fit(self, train, valid):
        w = train.windows()
        self.by_window = {w[k].tobytes(): train.labels[k] for k in range(len(train))}
        order = np.argsort(train.t, kind="stable")
        self.by_asset = dict(zip(train.i[order], train.labels[order]))  # later dates overwrite earlier ones
        return {}

    def predict(self, samples):
        w = samples.windows()
        return np.array([self.by_window.get(w[k].tobytes(), self.by_asset.get(samples.i[k], 0.0))
                         for k in range(len(samples))], dtype=np.float64)


class Doubles:
    @staticmethod
    @hookimpl
    def register_models(register):
        register("last_step_factor", LastStepFactor)
        register("label_memoriser", LabelMemoriser)


class Daily(Strategy):
    model = "last_step_factor"
    window = 5
    horizon = 1
    rebalance = "D"
    retrain = "QS"
    min_train_bars = 30
    portfolio = "topk"
    portfolio_params = {"k": 5}
    fees = 0.0


def _panel_with(factor_name: str, shift_from: int, shift_to: int, seed: int = 1):
    """Noise returns plus a factor equal to the close-to-close return from t+shift_from to t+shift_to, declared at t."""
    df = noise_frame(n_dates=260, n_assets=40, seed=seed)
    close = wide(df, "close")
    fwd = close.shift(-shift_to) / close.shift(-shift_from) - 1.0
    return panel_from_frame(with_factor(df.drop(columns="noise"), factor_name, fwd), source=factor_name)


def test_return_known_only_tomorrow_gives_no_edge():
    """(a) factor[t] = return close t -> t+1: trading at t+1 leaves nothing to earn."""
    panel = _panel_with("ret_t_t1", 0, 1)
    res = run_backtest(Daily, data=panel, plugins=[Doubles], progress=False)
    assert abs(res.metrics["ic"]) < 0.05, res.metrics["ic"]
    assert abs(res.metrics["rank_ic"]) < 0.05
    assert abs(res.metrics["sharpe"]) < 2.0, res.metrics["sharpe"]


def test_a_filling_on_the_signal_bar_would_have_been_caught():
    """The same decisions filled on their own bar (the bug) earn a huge Sharpe: test (a) is not vacuous."""
    panel = _panel_with("ret_t_t1", 0, 1)
    res = run_backtest(Daily, data=panel, plugins=[Doubles], progress=False)
    t_of = {d: k for k, d in enumerate(panel.dates)}
    decisions = {}
    for date, g in res.weights.groupby("date"):
        w = g.set_index("asset")["weight"].reindex(panel.assets).fillna(0.0).to_numpy()
        decisions[t_of[date] - 1] = w  # the bug: filled at the close of the bar that produced the signal
    first = min(decisions) + 1
    sim = engine.simulate(panel.dates, panel.assets, panel.close, panel.close, panel.tradable(), decisions, start=first)
    r = sim.returns.to_numpy()
    assert r.mean() / r.std() * np.sqrt(252) > 10


def test_label_itself_as_factor_is_the_positive_control():
    """(b) factor[t] = return close t+1 -> t+2 (the h=1 label): IC near 1 and a large Sharpe."""
    panel = _panel_with("ret_t1_t2", 1, 2)
    res = run_backtest(Daily, data=panel, plugins=[Doubles], progress=False)
    assert res.metrics["ic"] > 0.9
    assert res.metrics["rank_ic"] > 0.9
    assert res.metrics["sharpe"] > 10


class Memorise(Daily):
    model = "label_memoriser"
    retrain = 1
    valid_fraction = 0.0


def _ma1_panel():
    """Returns with lag-1 autocorrelation 0.5 and none at lag 2: knowing r(t, t+1) at t would pay."""
    return panel_from_frame(noise_frame(n_dates=200, n_assets=40, seed=3, ma_theta=1.0), source="ma1")


def test_memorised_labels_give_nothing_under_the_embargo():
    """(c) a model that replays training labels gets IC near 0 when retrained at t on s <= t-h-1 only."""
    res = run_backtest(Memorise, data=_ma1_panel(), plugins=[Doubles], progress=False)
    assert abs(res.metrics["ic"]) < 0.06, res.metrics["ic"]


@pytest.mark.parametrize("leak", [1, 2])
def test_c_a_broken_embargo_would_have_been_caught(monkeypatch, leak):
    """With the embargo off by one bar (or none), the memoriser's IC jumps: test (c) is not vacuous."""
    def leaky(t, strategy):
        return np.arange(strategy.window - 1, t - strategy.horizon + leak), np.array([], dtype=np.int64)

    monkeypatch.setattr(bt, "training_dates", leaky)
    res = run_backtest(Memorise, data=_ma1_panel(), plugins=[Doubles], progress=False)
    assert res.metrics["ic"] > 0.3, res.metrics["ic"]


@pytest.mark.parametrize("h", [1, 5])
@pytest.mark.parametrize("valid_fraction", [0.0, 0.25])
def test_training_dates_respect_the_embargo(h, valid_fraction):
    s = Daily(horizon=h, valid_fraction=valid_fraction)
    for t in range(60, 120):
        train, valid = bt.training_dates(t, s)
        everything = np.r_[train, valid]
        assert everything.max() == t - h - 1  # tight: the newest label known at t is used
        assert everything.min() >= s.window - 1
        if len(valid):
            assert train.max() + h + 1 < valid.min()  # train labels end before validation labels start


def test_rolling_train_window_length():
    s = Daily(train_window=50, valid_fraction=0.0)
    train, _ = bt.training_dates(200, s)
    assert len(train) == 50 and train.max() == 200 - s.horizon - 1


@pytest.mark.parametrize("execution", ["close", "open"])
@pytest.mark.parametrize("h", [1, 3])
def test_label_is_return_from_next_execution_price(execution, h):
    rng = np.random.default_rng(0)
    price = 10 * np.exp(np.cumsum(rng.standard_normal((30, 4)) * 0.01, axis=0))
    mask = np.ones(price.shape, dtype=bool)
    labels = excess_labels(price, h, mask)
    for t in range(30 - h - 1):
        raw = price[t + 1 + h] / price[t + 1] - 1
        np.testing.assert_allclose(labels[t], raw - raw.mean(), rtol=1e-10)
    assert np.isnan(labels[30 - h - 1:]).all()


def test_open_execution_trades_next_open():
    """With execution='open' the fill price of a decision at t is the open of t+1."""
    df = noise_frame(n_dates=120, n_assets=10, seed=5)
    df["open"] = df["close"] * 1.01
    panel = panel_from_frame(df, source="opens")
    res = run_backtest(Daily, data=panel, plugins=[Doubles], progress=False, execution="open", factors=["noise"])
    orders = res.portfolio.orders.records_readable
    first = res.weights["date"].min()
    nxt = panel.dates[panel.dates.get_loc(first) + 1]
    fills = orders[orders["Timestamp"] == nxt]
    assert len(fills) > 0
    opens = panel.field("open")[panel.dates.get_loc(nxt)]
    for _, o in fills.iterrows():
        assert o["Price"] == pytest.approx(opens[panel.assets.get_loc(o["Column"])], rel=1e-6)


def test_features_at_t_never_read_rows_after_t():
    """Normalising, then changing every row after t, leaves rows <= t unchanged."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 20, 3)).astype(np.float32)
    mask = np.ones((50, 20), dtype=bool)
    for method in ("zscore", "rank"):
        base = cross_sectional_normalize(x, mask, method)
        y = x.copy()
        y[30:] = rng.standard_normal(y[30:].shape) * 100
        np.testing.assert_array_equal(cross_sectional_normalize(y, mask, method)[:30], base[:30])


def test_scores_at_t_ignore_the_future():
    """Scrambling data after a date leaves every score up to that date unchanged (decisions read rows <= t)."""
    from plugins.synthetic import make_synthetic_panel

    class Lin(Strategy):
        model = "linear"
        window = 5
        retrain = "MS"
        min_train_bars = 60

    panel = make_synthetic_panel(assets=20, days=260, seed=2)
    res = run_backtest(Lin, data=panel, progress=False)
    cut = panel.dates[200]
    scrambled = panel.slice_dates()
    scrambled.values = panel.values.copy()
    rng = np.random.default_rng(9)
    fi = [scrambled.fields.index(f) for f in scrambled.factor_names]
    scrambled.values[201:, :, fi] = rng.standard_normal(scrambled.values[201:, :, fi].shape)
    res2 = run_backtest(Lin, data=scrambled, progress=False)
    a = res.scores[res.scores["date"] <= cut - pd.Timedelta(days=0)]
    b = res2.scores[res2.scores["date"] <= cut]
    pd.testing.assert_frame_equal(a[["date", "asset", "score"]].reset_index(drop=True),
                                  b[["date", "asset", "score"]].reset_index(drop=True))
