"""Look-ahead: every timing rule of docs/design.md, each guarded by a planted signal only a leak could exploit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seqalpha import Model, Strategy, engine, hookimpl, panel_from_frame, run_backtest
from seqalpha import backtest as bt
from seqalpha.backtest import walkforward
from seqalpha.engine import simulation
from seqalpha.features import cross_sectional_normalize, excess_labels
from tests.conftest import noise_frame, wide, with_factor


class LastStepFactor(Model):
    """Test double: the score is the last step of the first feature (no learning)."""

    def fit(self, train, valid):
        return {}

    def predict(self, samples):
        return samples.features[samples.t, samples.i, 0].astype(np.float64)


class LabelMemoriser(Model):
    """Test double that memorises training labels: by sample (the exact (date, asset) window it trained on), else
    the asset's latest training label. Vectorised: one sorted key array, not a dict of window bytes."""

    def fit(self, train, valid):
        n_assets = int(train.features.shape[1])
        keys = train.t.astype(np.int64) * n_assets + train.i
        order = np.argsort(keys, kind="stable")
        self.keys, self.labels, self.n_assets = keys[order], np.asarray(train.labels, np.float64)[order], n_assets
        latest = np.argsort(train.t, kind="stable")  # later dates overwrite earlier ones
        self.by_asset = np.zeros(n_assets)
        self.by_asset[train.i[latest]] = np.asarray(train.labels, np.float64)[latest]
        return {}

    def predict(self, samples):
        keys = samples.t.astype(np.int64) * self.n_assets + samples.i
        if len(self.keys) == 0:
            return self.by_asset[samples.i]
        at = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        return np.where(self.keys[at] == keys, self.labels[at], self.by_asset[samples.i])


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
    def leaky(t, strategy, horizon=None):
        return np.arange(strategy.window - 1, t - strategy.horizon + leak), np.array([], dtype=np.int64)

    monkeypatch.setattr(walkforward, "training_dates", leaky)
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
    from seqalpha.builtin_plugins.synthetic import make_synthetic_panel

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


# ---- the test span: data after test_end changes nothing ------------------------------------------------

class SpanDaily(Daily):
    """Holds the five names with the largest ``rank`` factor; the test ends mid-panel on a Wednesday."""

    factors = ["rank"]
    normalize = None
    rebalance = "W"  # test_end is not a rebalance bar: the span still runs to the bar after it
    test_end = "2020-09-16"
    fees = 0.002
    cache = False  # cache hits would differ between the runs, nothing else may


def _span_panel(gap: bool = False):
    """Noise returns, a constant ``rank`` factor (A00..A04 on top); with ``gap``, the held A00 has no price from
    2 bars before the last decision bar t1 to bar 200 (after the span, which ends at t1 + 1)."""
    df = noise_frame(n_dates=260, n_assets=20, seed=4)
    close = wide(df, "close")
    rank = close * 0.0 + np.arange(close.shape[1], 0, -1)[None, :]
    if gap:
        t1 = int(close.index.searchsorted(pd.Timestamp(SpanDaily.test_end), "right")) - 1
        close.iloc[t1 - 2:200, 0] = np.nan
    df = df.drop(columns=["noise", "close"]).merge(close.stack(future_stack=True).rename("close").reset_index(),
                                                   on=["date", "asset"])
    return panel_from_frame(with_factor(df.dropna(subset=["close"]), "rank", rank), source="span")


def _last_decision_bar(panel, strategy) -> int:
    return int(panel.dates.searchsorted(pd.Timestamp(strategy.test_end), "right")) - 1


def _same_outputs(a, b) -> None:
    timing = {"seconds", "retrain_seconds"}
    assert {k: v for k, v in a.metrics.items() if k not in timing} == \
        {k: v for k, v in b.metrics.items() if k not in timing}
    for table in ("returns", "scores", "weights", "ic", "rebalances"):
        pd.testing.assert_frame_equal(getattr(a, table).reset_index(drop=True), getattr(b, table).reset_index(drop=True))


def _runs_full_and_cut(panel, strategy=SpanDaily, extra=(1, 6, 40)):
    t1 = _last_decision_bar(panel, strategy)
    full = run_backtest(strategy, data=panel, plugins=[Doubles], progress=False)
    cuts = [run_backtest(strategy, data=panel.slice_dates(end=panel.dates[t1 + strategy.horizon + k]), plugins=[Doubles],
                         progress=False) for k in extra]
    return t1, full, cuts


def test_returns_end_on_the_bar_after_the_last_decision():
    """The span is first execution bar .. t1 + 1, t1 the last bar on or before test_end (a rebalance or not)."""
    panel = _span_panel()
    t1 = _last_decision_bar(panel, SpanDaily)
    res = run_backtest(SpanDaily, data=panel, plugins=[Doubles], progress=False)
    assert t1 + 2 < len(panel.dates) - 50  # plenty of data after the span
    assert res.returns["date"].iloc[-1] == panel.dates[t1 + 1]
    assert res.scores["date"].max() == panel.dates[t1]
    assert res.weights["date"].max() < panel.dates[t1]  # weekly: t1 (a Wednesday) decides nothing
    assert len(res.equity()) == len(res.returns)


@pytest.mark.parametrize("gap", [False, True])
def test_data_after_test_end_changes_no_metric(gap):
    """The same panel cut h+1, h+6 and h+40 bars after the last decision bar gives identical metrics and tables.

    With ``gap``, a held name stops trading 3 bars before the span ends and trades again after it: in the cut
    panels it never comes back, so a delisting rule that looked at the rest of the file would sell it there.
    """
    panel = _span_panel(gap)
    t1, full, cuts = _runs_full_and_cut(panel)
    if gap:
        assert "A00" in set(full.weights["asset"]) and not np.isfinite(panel.close[t1 - 2:t1 + 5, 0]).any()
    for cut in cuts:
        _same_outputs(full, cut)


@pytest.mark.parametrize("rule", ["point_in_time", "from_the_file_end"])
def test_span_test_would_have_caught_delistings_read_from_the_file_end(monkeypatch, rule):
    """An engine that saw the whole file and took "no price from some bar to the end of the file" as a delisting
    (the old rule) sells A00 in the cut panels only, and the invariance test catches it. The same whole-file engine
    with the point-in-time rule leaks nothing: only bars after the span would differ, and those are dropped."""
    real = engine.simulate

    def whole_file(dates, *args, end=None, **kwargs):  # simulate to the last bar of the data, report the span
        sim = real(dates, *args, **kwargs)
        n = end + 1 - kwargs["start"]
        return engine.Simulation(sim.returns.iloc[:n], sim.value.iloc[:n], sim.traded_value.iloc[:n],
                                 sim.n_delisted_sold, sim.portfolio)

    def from_file_end(listed, after):
        T = listed.shape[0]
        last = T - 1 - np.argmax(listed[::-1], axis=0)
        out = np.zeros(listed.shape, dtype=bool)
        ended = listed.any(axis=0) & (last < T - 1)
        out[last[ended] + 1, np.flatnonzero(ended)] = True
        return out

    monkeypatch.setattr(engine, "simulate", whole_file)
    if rule == "from_the_file_end":
        monkeypatch.setattr(simulation, "exits_without_price", from_file_end)
    _, full, cuts = _runs_full_and_cut(_span_panel(gap=True), extra=(1,))
    if rule == "point_in_time":
        _same_outputs(full, cuts[0])
        return
    assert full.metrics["n_delisted_sold"] == 0 and cuts[0].metrics["n_delisted_sold"] == 1
    with pytest.raises(AssertionError):
        _same_outputs(full, cuts[0])
