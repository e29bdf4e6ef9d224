"""Portfolios comparable with Qlib's: TopkDropout that holds what it keeps, 100-share lots, and Qlib's metric
conventions side by side with seqalpha's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seqalpha import Strategy, engine, run_backtest
from seqalpha.builtin_plugins.portfolios import topk_dropout
from seqalpha.metrics import qlib_conventions


class Dropout(Strategy):
    data = "synthetic?assets=30&days=260&seed=4"
    model = "linear"
    window = 5
    horizon = 1
    rebalance = "D"
    retrain = "QS"
    min_train_bars = 60
    portfolio = "topk_dropout"
    portfolio_params = {"k": 8, "n_drop": 2}
    fees = 0.001
    init_cash = 1e7


def test_qlib_conventions_sum_returns_with_238_days():
    rng = np.random.default_rng(0)
    r, b = pd.Series(rng.normal(0.001, 0.01, 500)), pd.Series(rng.normal(0.0005, 0.008, 500))
    q = qlib_conventions(r, b, 252)
    active = r - b
    assert q["qlib_excess_annual_return"] == pytest.approx(active.mean() * 238)
    assert q["qlib_information_ratio"] == pytest.approx(active.mean() / active.std() * np.sqrt(238))
    summed = active.cumsum()
    assert q["qlib_excess_max_drawdown"] == pytest.approx((summed - summed.cummax()).min())
    assert qlib_conventions(r, b, 12)["qlib_excess_annual_return"] == pytest.approx(active.mean() * 12)


@pytest.mark.slow
def test_hold_keeps_names_without_orders_and_trades_less():
    rule = topk_dropout(k=3, n_drop=1, hold=True)
    scores = pd.Series([5.0, 4, 3, 2, 1], index=list("abcde"))
    first = rule(scores, pd.Series(dtype=float))
    assert first.to_dict() == {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}
    later = rule(pd.Series([1.0, 4, 3, 5, 2], index=list("abcde")), first)
    assert later.isna().sum() == 2 and later.dropna().index.tolist() == ["d"]  # a sold, b and c kept with no order
    held = run_backtest(Dropout, progress=False, portfolio_params={"k": 8, "n_drop": 2, "hold": True})
    plain = run_backtest(Dropout, progress=False)
    kept = held.weights[held.weights["weight"].isna()]
    assert len(kept) > 0
    orders = held.portfolio.orders.records_readable
    dates = held.returns["date"].tolist()
    for date, asset in zip(kept["date"], kept["asset"]):
        nxt = dates[dates.index(date) + 1] if date in dates else next(d for d in dates if d > date)
        assert not ((orders["Timestamp"] == nxt) & (orders["Column"] == asset)).any()
    assert held.metrics["turnover"] < plain.metrics["turnover"]


def test_lots_round_every_order():
    dates = pd.bdate_range("2021-01-01", periods=8)
    close = np.full((8, 2), 37.0)
    close[:, 1] = 53.0
    decisions = {0: np.array([0.5, 0.5]), 3: np.array([0.3, 0.0])}
    sim = engine.simulate(dates, pd.Index(["X", "Y"]), close, close, np.ones_like(close, bool), decisions, start=0,
                          init_cash=100_000.0, lot_size=100)
    rec = sim.portfolio.orders.values
    # X at 0.5 wants 1,351 shares: 1,300; Y 943: 900. Then Y is sold in full (900) and X trimmed towards 0.3
    # (811 shares): the sale of 489 rounds towards zero, to 400.
    assert list(rec["size"]) == [1300.0, 900.0, 900.0, 400.0]
    assert sim.portfolio.assets().to_numpy()[-1].tolist() == [900.0, 0.0]
    res = run_backtest(Dropout, progress=False, lot_size=100)
    assert np.all(np.mod(res.portfolio.orders.values["size"], 100) == 0)
