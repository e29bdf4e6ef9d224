"""Lots: a buy the cash left cannot fill a whole lot of is no order, and costs nothing."""

from __future__ import annotations

import numpy as np
import pandas as pd

from seqalpha import engine


def test_a_buy_the_cash_cannot_fill_a_whole_lot_of_is_no_order_and_costs_nothing():
    """A takes one lot and its minimum cost; B's lot would need 100,000 of the 99,800 left: no order, no cost."""
    dates, assets = pd.bdate_range("2021-01-01", periods=5), pd.Index(["A", "B"])
    close = np.full((5, 2), 1000.0)
    sim = engine.simulate(dates, assets, close, close, np.ones_like(close, bool), {0: np.array([0.5, 0.5])},
                          start=0, init_cash=200_000.0, costs=engine.Costs(fees=0.001, min_cost=200.0), lot_size=100)
    rec = sim.portfolio.orders.values
    assert len(rec) == 1 and rec["col"][0] == 0 and rec["size"][0] == 100 and rec["fees"][0] == 200.0
    assert sim.value.iloc[-1] == 200_000.0 - 200.0  # A's minimum cost only
    assert sim.portfolio.stats()["Total Trades"] == 1  # vectorbt's positions and stats work (no 0-share order)
