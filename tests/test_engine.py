"""The engine: next-bar fills, delisting liquidation at the last price, suspended assets carried, costs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seqalpha import engine


def _prices(T=10, N=2):
    close = np.tile(np.linspace(10, 19, T)[:, None], (1, N))
    close[:, 1] = 20.0
    return pd.bdate_range("2021-01-01", periods=T), pd.Index(["X", "Y"][:N]), close


def test_fill_is_next_bar_close():
    dates, assets, close = _prices()
    sim = engine.simulate(dates, assets, close, close, np.ones_like(close, bool), {2: np.array([1.0, 0.0])}, start=0)
    rec = sim.portfolio.orders.values
    assert list(rec["idx"]) == [3] and rec["price"][0] == pytest.approx(close[3, 0])
    assert sim.returns.iloc[3] == pytest.approx(0.0)  # bought at the close of bar 3: first return comes at bar 4
    assert sim.returns.iloc[4] == pytest.approx(close[4, 0] / close[3, 0] - 1)


@pytest.mark.parametrize("after", [1, 3])
def test_delisted_asset_sold_at_last_price_not_frozen(after):
    dates, assets, close = _prices(T=12)
    close[6:, 0] = np.nan  # X's last price is at bar 5
    sim = engine.simulate(dates, assets, close, close, np.isfinite(close), {0: np.array([1.0, 0.0])}, start=0,
                          delist_after=after)
    rec = sim.portfolio.orders.values
    sells = rec[rec["side"] == 1]
    sale = 5 + after  # the bar on which X has gone `after` bars without a price
    assert list(sells["idx"]) == [sale] and sells["price"][0] == pytest.approx(close[5, 0])
    assert sim.n_delisted_sold == 1
    value = sim.value.to_numpy()
    assert np.all(value[5:] == value[5])  # carried at the last price, then cash at that price


def test_a_gap_shorter_than_delist_after_is_carried():
    dates, assets, close = _prices(T=12)
    close[6:8, 0] = np.nan  # two bars without a price, then X trades again
    sim = engine.simulate(dates, assets, close, close, np.isfinite(close), {0: np.array([1.0, 0.0])}, start=0,
                          delist_after=3)
    assert sim.n_delisted_sold == 0
    assert (sim.portfolio.orders.values["side"] == 0).all()  # never sold
    assert sim.returns.iloc[8] == pytest.approx(close[8, 0] / close[5, 0] - 1)  # repriced when it trades again


def test_exits_without_price_read_only_the_past():
    """The exit flag at t is the same whatever the data holds after t (point-in-time)."""
    rng = np.random.default_rng(0)
    listed = rng.random((80, 12)) < 0.7
    listed[:5, :4] = False  # late listings
    for after in (1, 2, 5):
        full = engine.exits_without_price(listed, after)
        for t in range(80):
            np.testing.assert_array_equal(engine.exits_without_price(listed[:t + 1], after), full[:t + 1])
        run = np.zeros(12, dtype=int)
        seen = np.zeros(12, dtype=bool)
        for t in range(80):  # the rule, spelled out bar by bar
            run = np.where(listed[t], 0, run + 1)
            np.testing.assert_array_equal(full[t], seen & (run == after))
            seen |= listed[t]


def test_nothing_after_the_end_bar_is_read():
    """simulate(..., end=e) gives the same result whatever the arrays hold after e, and stops at e."""
    dates, assets, close = _prices(T=12)
    close[7:9, 0] = np.nan  # X has no price on the last two bars of the span...
    other = close.copy()
    other[9:, 0] = np.nan  # ...and, in one world, never again after the end bar
    other[9:, 1] = 1e6
    args = dict(decisions={0: np.array([0.5, 0.5]), 3: np.array([1.0, 0.0]), 9: np.array([0.0, 1.0])}, start=1, end=8,
                costs=engine.Costs(buy_cost=0.001, sell_cost=0.002, min_cost=1.0), init_cash=1e4)
    a = engine.simulate(dates, assets, close, close, np.isfinite(close), **args)
    b = engine.simulate(dates, assets, other, other, np.isfinite(other), **args)
    assert a.returns.index[-1] == dates[8] and len(a.returns) == 8
    pd.testing.assert_series_equal(a.returns, b.returns)
    pd.testing.assert_series_equal(a.traded_value, b.traded_value)
    assert a.n_delisted_sold == b.n_delisted_sold == 0


def test_suspended_asset_gets_no_order_and_keeps_value():
    dates, assets, close = _prices()
    tradable = np.ones_like(close, bool)
    tradable[3, 0] = False  # X suspended on the execution bar
    sim = engine.simulate(dates, assets, close, close, tradable, {0: np.array([0.5, 0.5]), 2: np.array([0.0, 1.0])},
                          start=0)
    rec = sim.portfolio.orders.values
    assert not ((rec["idx"] == 3) & (rec["col"] == 0)).any()  # no order filled on the suspended bar
    x_pos = sim.portfolio.assets().to_numpy()[:, 0]
    assert x_pos[3] == x_pos[1] > 0  # the position is carried


def test_fees_reduce_returns():
    dates, assets, close = _prices()
    free = engine.simulate(dates, assets, close, close, np.ones_like(close, bool), {0: np.array([1.0, 0.0])}, start=0)
    paid = engine.simulate(dates, assets, close, close, np.ones_like(close, bool), {0: np.array([1.0, 0.0])}, start=0,
                           costs=engine.Costs(fees=0.01))
    assert paid.value.iloc[-1] < free.value.iloc[-1] * 0.995


def test_equal_weight_benchmark_uses_yesterdays_members():
    close = np.array([[10.0, 10.0], [11.0, 5.0], [11.0, 5.0]])
    universe = np.array([[True, False], [True, True], [True, True]])
    b = engine.equal_weight_benchmark(close, universe)
    assert b[1] == pytest.approx(0.1) and b[2] == pytest.approx(0.0)


def test_side_specific_costs_and_minimum():
    dates, assets, close = _prices()
    decisions = {0: np.array([1.0, 0.0]), 4: np.array([0.0, 1.0])}
    sim = engine.simulate(dates, assets, close, close, np.ones_like(close, bool), decisions, start=0, init_cash=1000.0,
                          costs=engine.Costs(buy_cost=0.001, sell_cost=0.01, min_cost=5.0))
    rec = sim.portfolio.orders.values
    value = np.abs(rec["size"] * rec["price"])
    rate = rec["fees"] / value
    buy, sell = rec["side"] == 0, rec["side"] == 1
    # orders of ~1000: a buy pays max(0.1%, 5/value) = the minimum 5; the sell pays 1%, above the minimum
    np.testing.assert_allclose(rec["fees"][buy], np.maximum(0.001 * value[buy], 5.0), rtol=1e-6)
    np.testing.assert_allclose(rate[sell], np.maximum(0.01, 5.0 / value[sell]), rtol=1e-6)


def test_limit_up_blocks_buys_and_limit_down_blocks_sales():
    dates, assets, close = _prices()
    close[3, 0] = close[2, 0] * 1.10  # X limit up on the first execution bar
    close[4:, 0] = close[3, 0]
    close[6, 1] = close[5, 1] * 0.90  # Y limit down on the second execution bar
    close[7:, 1] = close[6, 1]
    decisions = {2: np.array([0.5, 0.5]), 5: np.array([0.5, 0.0])}
    sim = engine.simulate(dates, assets, close, close, np.ones_like(close, bool), decisions, start=0,
                          limit_threshold=0.095)
    rec = sim.portfolio.orders.values
    assert not ((rec["idx"] == 3) & (rec["col"] == 0)).any()  # no buying X at limit up
    assert ((rec["idx"] == 3) & (rec["col"] == 1)).any()  # Y bought as usual
    assert not ((rec["idx"] == 6) & (rec["col"] == 1)).any()  # no selling Y at limit down
    free = engine.simulate(dates, assets, close, close, np.ones_like(close, bool), decisions, start=0)
    assert ((free.portfolio.orders.values["idx"] == 3) & (free.portfolio.orders.values["col"] == 0)).any()


def test_limit_rule_uses_the_orders_own_side_not_the_change_in_target():
    """A lower target can still be a buy after a fall (refused at limit up); an unchanged one a sale (allowed)."""
    dates = pd.bdate_range("2021-01-01", periods=10)
    assets = pd.Index(["X", "Y"])
    close = np.full((10, 2), 20.0)
    close[2:, 0] = 10.0  # X halves after it is bought at bar 1: its weight drifts down to about 1/3
    close[6, 0] = 11.0  # then X is limit up on bar 6
    close[7:, 0] = 11.0
    tradable = np.ones_like(close, bool)
    # target for X falls from 0.5 to 0.4, but X is at ~0.33: reaching 0.4 means buying X at limit up
    decisions = {0: np.array([0.5, 0.5]), 5: np.array([0.4, 0.6])}
    sim = engine.simulate(dates, assets, close, close, tradable, decisions, start=0, limit_threshold=0.095)
    rec = sim.portfolio.orders.values
    assert not ((rec["idx"] == 6) & (rec["col"] == 0)).any()  # the buy at limit up is refused
    assert ((rec["idx"] == 6) & (rec["col"] == 1)).any()  # Y still trades
    free = engine.simulate(dates, assets, close, close, tradable, decisions, start=0)
    buys = free.portfolio.orders.values
    assert ((buys["idx"] == 6) & (buys["col"] == 0) & (buys["side"] == 0)).any()  # without the rule it is a buy

    # X rises to limit up while its target stays 0.5: rebalancing sells X, which the rule allows
    up = np.full((10, 2), 20.0)
    up[6:, 0] = 22.0
    daily = {t: np.array([0.5, 0.5]) for t in range(9)}
    sim = engine.simulate(dates, assets, up, up, tradable, daily, start=0, limit_threshold=0.095)
    rec = sim.portfolio.orders.values
    sold = (rec["idx"] == 6) & (rec["col"] == 0)
    assert sold.any() and (rec["side"][sold] == 1).all()


def test_limit_rule_refusal_decides_the_side_of_the_next_limit_bar():
    """Two limit-up bars in a row: refusing the first (a buy, though its target fell) turns the second into a buy
    as well, which must be refused too. Guessing from target changes, or one correction pass, buys at limit up."""
    T = 10
    dates, assets = pd.bdate_range("2021-01-01", periods=T), pd.Index(["X", "Y"])
    close = np.full((T, 2), 10.0)
    close[2:6, 0] = [9.2, 8.5, 7.8, 7.2]  # X drifts down to a weight of ~0.42, no decisions meanwhile
    close[6, 0] = 7.92  # limit up
    close[7:, 0] = 8.712  # limit up again on bar 7, then flat
    # bar 6: target 0.45 is below the old 0.5 but above X's ~0.44 -> a buy, refused.
    # bar 7: X is then ~0.466 < 0.47 -> a buy, refused; had bar 6 filled, X would be ~0.474 > 0.47 -> a sale.
    decisions = {0: np.array([0.5, 0.5]), 5: np.array([0.45, 0.55]), 6: np.array([0.47, 0.53])}
    sim = engine.simulate(dates, assets, close, close, np.ones_like(close, bool), decisions, start=0,
                          limit_threshold=0.095)
    rec = sim.portfolio.orders.values
    assert not ((rec["col"] == 0) & np.isin(rec["idx"], [6, 7])).any()  # no X order on either limit-up bar
    pos = sim.portfolio.assets().to_numpy()
    assert pos[7, 0] == pos[5, 0]


def test_minimum_cost_never_blocks_a_large_order():
    """A tiny order declined for its minimum cost must not leave a rate behind that blocks a large order later."""
    T = 10
    dates, assets = pd.bdate_range("2021-01-01", periods=T), pd.Index(["X", "Y"])
    close = np.full((T, 2), 20.0)
    close[2:6, 0] = 30.0  # X drifts up to 0.6
    close[6:, 0] = 27.0  # X limit down on bar 6: the sale towards 0.55 is refused
    decisions = {0: np.array([0.5, 0.5]), 5: np.array([0.55, 0.45]), 6: np.array([0.55 - 1e-8, 0.45 + 1e-8])}
    sim = engine.simulate(dates, assets, close, close, np.ones_like(close, bool), decisions, start=0,
                          limit_threshold=0.095, costs=engine.Costs(min_cost=5.0))
    rec = sim.portfolio.orders.values
    sale = (rec["idx"] == 7) & (rec["col"] == 0)
    assert sale.any() and rec["side"][sale][0] == 1 and rec["fees"][sale][0] == pytest.approx(5.0)
    pos = sim.portfolio.assets().to_numpy()
    assert pos[7, 0] * close[7, 0] / sim.value.iloc[7] == pytest.approx(0.55, rel=1e-6)


def test_one_pass_matches_the_fixed_point_of_refusals_and_minimum_costs():
    """A cash-limited buy pays the minimum cost out of the cash it has: value + min_cost = cash, exactly."""
    dates, assets, close = _prices()
    decisions = {0: np.array([1.0, 0.0])}
    sim = engine.simulate(dates, assets, close, close, np.ones_like(close, bool), decisions, start=0, init_cash=100.0,
                          costs=engine.Costs(buy_cost=0.001, min_cost=5.0))
    rec = sim.portfolio.orders.values
    assert len(rec) == 1 and rec["fees"][0] == pytest.approx(5.0)
    assert rec["size"][0] * rec["price"][0] + rec["fees"][0] == pytest.approx(100.0)


@pytest.mark.parametrize(("freq", "ppy"), [("B", 252), ("W-FRI", 52), ("MS", 12)])
def test_portfolio_stats_annualise_with_the_panel_frequency(freq, ppy):
    """result.portfolio.stats() annualises daily, weekly and monthly bars right, without a global vectorbt setting."""
    import vectorbt as vbt

    before = vbt.settings["returns"]["year_freq"]
    rng = np.random.default_rng(0)
    close = 10 * np.exp(np.cumsum(rng.standard_normal((120, 2)) * 0.02, axis=0))
    dates = pd.date_range("2020-01-01", periods=120, freq=freq)
    sim = engine.simulate(dates, pd.Index(["X", "Y"]), close, close, np.ones_like(close, bool),
                          {0: np.array([0.5, 0.5])}, start=0, periods_per_year=ppy)
    r = sim.returns.to_numpy()
    stats = sim.portfolio.stats()
    assert stats["Sharpe Ratio"] == pytest.approx(r.mean() / r.std(ddof=1) * np.sqrt(ppy), rel=1e-6)
    assert vbt.settings["returns"]["year_freq"] == before


def test_importing_and_running_change_no_vectorbt_setting():
    import copy

    import vectorbt as vbt

    from seqalpha import Strategy, run_backtest

    before = copy.deepcopy({k: dict(vbt.settings[k]) for k in ("returns", "portfolio", "array_wrapper")})

    class Tiny(Strategy):
        data = "synthetic?assets=10&days=200"
        model = "linear"
        window = 5
        min_train_bars = 60

    res = run_backtest(Tiny, progress=False)
    assert {k: dict(vbt.settings[k]) for k in before} == before
    r = res.returns["strategy"].to_numpy()
    assert res.portfolio.stats()["Sharpe Ratio"] == pytest.approx(r.mean() / r.std(ddof=1) * np.sqrt(252), rel=1e-6)


def test_refusals_count_only_orders_the_limit_stopped():
    """Names at the limit that nobody wanted to trade are not refusals; a wanted sale at limit down is one."""
    dates = pd.bdate_range("2021-01-01", periods=6)
    assets = pd.Index(["A", "B", "C", "D"])
    close = np.full((6, 4), 10.0)
    close[3, 2] = 8.9  # C limit down on bar 3, never held
    close[3, 3] = 11.1  # D limit up on bar 3, never held
    close[3, 1] = 8.9  # B limit down on bar 3, held and wanted sold
    decisions = {0: np.array([0.5, 0.5, 0.0, 0.0]), 2: np.array([1.0, 0.0, 0.0, 0.0])}
    sim = engine.simulate(dates, assets, close, close, np.ones_like(close, bool), decisions, start=0,
                          limit_threshold=0.095)
    assert sim.n_refused_at_limit == 1  # only B's sale
    rec = sim.portfolio.orders.values
    assert not ((rec["idx"] == 3) & (rec["col"] == 1)).any()


def test_a_delisting_sale_is_never_stuck_behind_the_minimum_cost():
    dates, assets, close = _prices(T=12)
    close[6:, 0] = np.nan
    sim = engine.simulate(dates, assets, close, close, np.isfinite(close), {0: np.array([0.001, 0.0])}, start=0,
                          init_cash=1000.0, costs=engine.Costs(min_cost=5.0), delist_after=2)
    assert sim.n_delisted_sold == 1  # a 1-cash position sold although the minimum cost is 5
    assert sim.portfolio.assets().to_numpy()[-1, 0] == 0


def test_open_execution_never_values_a_position_at_the_bars_own_close():
    """At the open of bar 3, A (no open price that bar) is valued at bar 2's close, not bar 3's."""
    dates = pd.bdate_range("2021-01-01", periods=6)
    assets = pd.Index(["A", "B"])
    close = np.full((6, 2), 10.0)
    close[3:, 0] = 20.0  # A doubles at the close of bar 3
    opens = close.copy()
    opens[3, 0] = np.nan  # no open for A on bar 3
    decisions = {0: np.array([0.5, 0.5]), 2: np.array([0.5, 0.25])}
    sim = engine.simulate(dates, assets, close, opens, np.isfinite(opens), decisions, start=0, init_cash=1000.0)
    rec = sim.portfolio.orders.values
    sale = rec[(rec["idx"] == 3) & (rec["col"] == 1)]
    # value at the open of bar 3 = 500 (A at 10) + 500 (B): B's target 0.25 x 1000 = 250, so 25 shares are sold
    assert len(sale) == 1 and sale["size"][0] == pytest.approx(25.0)
