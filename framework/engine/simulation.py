"""simulate(): target weights decided at t become orders filled at bar t+1, in one pass of the compiled kernel.

Rules (docs/design.md, "Timing" and "Engine"):

* weights decided at bar t are traded at t+1, at its close (or open with execution="open");
* an asset that cannot trade at t+1 (no price, or zero volume = suspended) gets no order:
  its position is carried at its last price and its weight is not re-allocated; a NaN
  target weight means "no order for this name" too;
* an asset that has gone ``delist_after`` bars in a row without a price is taken as
  delisted: its position is sold at its last price on that bar, and counted;
* one cash pool, sales before buys; costs as ``Costs`` says (side rates, minimum cost); optional lots;
* optional price limit: no buy at limit up, no sale at limit down, by the order's own side;
* only bars ``start..end`` are simulated: the arrays are cut after ``end`` before anything
  reads them, so data after the test span cannot change a result.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..lazy import BuiltOnRead, Later
from .costs import Costs
from .kernel import simulate_orders, value_and_returns
from .market import exits_without_price, ffill, limit_moves


@dataclass
class Simulation:
    returns: pd.Series  # portfolio simple returns per bar
    value: pd.Series
    traded_value: pd.Series  # per bar, sum |size * price|
    n_delisted_sold: int
    # the vectorbt Portfolio, for users who want its API: built (importing vectorbt) on first read
    portfolio: object = BuiltOnRead()
    n_refused_at_limit: int = 0  # orders not placed because they would buy at limit up or sell at limit down


def bar_freq(periods_per_year: int) -> pd.Timedelta:
    """The bar length to give vectorbt so its annualisation (year_freq / freq) is ``periods_per_year``.

    vectorbt annualises with its ``year_freq`` setting (365 days unless you changed it); a bar of
    year_freq / 252 (about 1.45 calendar days, a trading day's share of the year) makes
    ``portfolio.stats()`` annualise daily equity bars with 252, without changing any global setting.
    """
    import vectorbt as vbt

    year = pd.Timedelta(vbt.settings["returns"]["year_freq"] or "365 days")
    return year / periods_per_year


def simulate(dates: pd.DatetimeIndex, assets: pd.Index, close: np.ndarray, exec_price: np.ndarray,
             tradable: np.ndarray, decisions: dict[int, np.ndarray], start: int, end: int | None = None,
             costs: Costs | None = None, init_cash: float = 1e8, limit_threshold: float | None = None,
             delist_after: int = 5, periods_per_year: int = 252, lot_size: float | None = None) -> Simulation:
    """Simulate bars ``start..end`` (default: to the last bar). ``decisions[t]`` is the target weight vector (N,)
    decided at bar t and traded at t+1 (NaN: no order for that asset); decisions whose t+1 is after ``end``
    are not traded. ``lot_size`` makes every order a whole number of lots (a sale of a whole position excepted)."""
    costs = costs if costs is not None else Costs()
    if end is not None:  # nothing after the span is read, not even for valuation or delisting
        if not start <= end < len(dates):
            raise ValueError(f"engine: end bar {end} outside start {start} .. last bar {len(dates) - 1}")
        dates, close, exec_price, tradable = dates[:end + 1], close[:end + 1], exec_price[:end + 1], tradable[:end + 1]
    T, N = close.shape
    close = close.astype(np.float64)
    listed = np.isfinite(close)
    last_close = ffill(close)
    # never NaN where a position can exist; 1.0 before a listing (or for a name never priced), where none can
    valuation = np.nan_to_num(pd.DataFrame(last_close).bfill().to_numpy(), nan=1.0)
    # a held name without an order price is valued, when the bar's orders are sized, at its last close before
    # the bar: with execution at the open, this bar's close is not known yet
    before = np.vstack([valuation[:1], valuation[:-1]])
    price = np.where(np.isfinite(exec_price), exec_price, np.nan).astype(np.float64)
    up, down = limit_moves(close, price, limit_threshold)
    target = np.full((T, N), np.nan)
    for t in sorted(decisions):
        if t + 1 >= T:
            continue  # no next bar to trade on
        target[t + 1] = np.where(tradable[t + 1] & np.isfinite(price[t + 1]), np.asarray(decisions[t], np.float64),
                                 np.nan)
    exits = exits_without_price(listed, delist_after)  # sold at the last price, never refused
    target[exits] = 0.0
    price[exits] = last_close[exits]
    up &= ~exits
    down &= ~exits
    sl = slice(start, T)
    fill_price = np.ascontiguousarray(np.where(np.isfinite(price), price, before)[sl], dtype=np.float64)
    target = np.ascontiguousarray(target[sl], dtype=np.float64)
    up = np.ascontiguousarray(up[sl] & np.isfinite(target), dtype=np.bool_)
    down = np.ascontiguousarray(down[sl] & np.isfinite(target), dtype=np.bool_)
    exit_bar = np.ascontiguousarray(exits[sl], dtype=np.bool_)
    idx, col, size, fill, fees, side, refused, blocked = simulate_orders(
        target, fill_price, up, down, exit_bar, float(init_cash), float(costs.buy_rate), float(costs.sell_rate),
        float(costs.min_cost), float(costs.slippage), float(lot_size) if lot_size else np.nan)
    close_sl = np.ascontiguousarray(valuation[sl], dtype=np.float64)
    value, returns = value_and_returns(idx, col, size, fill, fees, side, close_sl, float(init_cash))
    traded = np.zeros(T - start)
    np.add.at(traded, idx, np.abs(size * fill))
    n_delisted = int(exit_bar[idx, col].sum())
    index = pd.DatetimeIndex(dates[sl])
    pf = Later(portfolio, pd.DataFrame(close_sl, index=index, columns=assets),
               order_records(idx, col, size, fill, fees, side), float(init_cash), periods_per_year)
    # named as vectorbt names a grouped portfolio's series
    return Simulation(returns=pd.Series(returns, index=index, name="group"),
                      value=pd.Series(value, index=index, name="group"),
                      traded_value=pd.Series(traded, index=index), n_delisted_sold=n_delisted, portfolio=pf,
                      n_refused_at_limit=int(blocked.sum()))


#: vectorbt's order record (vectorbt.portfolio.enums.order_dt), spelled out so simulating never imports vectorbt
ORDER_DT = np.dtype([("id", np.int64), ("col", np.int64), ("idx", np.int64), ("size", np.float64),
                     ("price", np.float64), ("fees", np.float64), ("side", np.int64)], align=True)


def order_records(idx: np.ndarray, col: np.ndarray, size: np.ndarray, price: np.ndarray, fees: np.ndarray,
                  side: np.ndarray) -> np.ndarray:
    """The kernel's fills as vectorbt order records, numbered in the order they were filled."""
    rec = np.empty(len(idx), dtype=ORDER_DT)
    rec["id"] = np.arange(len(idx))
    rec["col"], rec["idx"], rec["size"], rec["price"], rec["fees"], rec["side"] = col, idx, size, price, fees, side
    return rec


def portfolio(valuation: pd.DataFrame, records: np.ndarray, init_cash: float, periods_per_year: int):
    """The vectorbt Portfolio of these fills: one cash pool over all columns, valued at ``valuation`` each bar.

    The same object ``Portfolio.from_order_func`` builds after its simulation (no call sequence attached)."""
    import vectorbt as vbt
    from vectorbt.base.array_wrapper import ArrayWrapper
    from vectorbt.portfolio.enums import log_dt, order_dt

    if order_dt != ORDER_DT:
        raise RuntimeError(f"vectorbt's order record changed: {order_dt}; the engine writes {ORDER_DT}")
    wrapper = ArrayWrapper.from_obj(valuation, freq=bar_freq(periods_per_year), group_by=True)
    return vbt.Portfolio(wrapper, valuation, records, np.empty(0, dtype=log_dt),
                         np.array([init_cash], dtype=np.float64), True)
