"""The backtest engine: target weights decided at t become vectorbt orders filled at bar t+1.

Rules (DESIGN.md timing contract, and the engine's own):
* weights decided at bar t are traded at t+1, at its close (or open with execution="open");
* an asset that cannot trade at t+1 (no price, or zero volume = suspended) gets no
  order: its position is carried at its last price and its weight is not re-allocated;
* an asset that has gone ``delist_after`` bars in a row without a price is taken as
  delisted: its position is sold at its last price on that bar, and counted. The rule
  reads bars <= t only, so a name that resumes trading after the simulated span is
  treated the same whether or not the data goes on (see ``exits_without_price``);
* only bars ``start..end`` are simulated: the arrays are cut after ``end`` before
  anything reads them, so data after the test span cannot change a result;
* one cash pool, sells before buys (call_seq="auto"), proportional fees and slippage.
* optional price limit: no buy at limit up, no sale at limit down, by the order's own side.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

_VBT = None


def vbt():
    """Import vectorbt lazily (it is slow to import) and set 252-day annualisation once."""
    global _VBT
    if _VBT is None:
        import vectorbt

        vectorbt.settings.returns["year_freq"] = "252 days"
        _VBT = vectorbt
    return _VBT


@dataclass
class Simulation:
    returns: pd.Series  # portfolio simple returns per bar
    value: pd.Series
    traded_value: pd.Series  # per bar, sum |size * price|
    n_delisted_sold: int
    portfolio: object  # the vectorbt Portfolio, for users who want its API


def _ffill(a: np.ndarray) -> np.ndarray:
    return pd.DataFrame(a).ffill().to_numpy()


@dataclass
class Costs:
    """Trading costs: vectorbt's proportional ``fees`` and ``slippage`` plus Qlib's side-specific rates.

    A buy pays ``fees + buy_cost``, a sell ``fees + sell_cost``, and no order pays less
    than ``min_cost`` (in cash units), as Qlib's open_cost/close_cost/min_cost.
    """

    fees: float = 0.0
    slippage: float = 0.0
    buy_cost: float = 0.0
    sell_cost: float = 0.0
    min_cost: float = 0.0

    @property
    def side_specific(self) -> bool:
        return self.buy_cost != self.sell_cost or self.min_cost > 0


def limit_moves(close: np.ndarray, exec_price: np.ndarray, threshold: float | None) -> tuple[np.ndarray, np.ndarray]:
    """(limit_up, limit_down) per bar: the execution price moved at least +-threshold from the previous close."""
    if not threshold:
        z = np.zeros(close.shape, dtype=bool)
        return z, z
    prev = np.vstack([np.full((1, close.shape[1]), np.nan), _ffill(close.astype(np.float64))[:-1]])
    with np.errstate(invalid="ignore", divide="ignore"):
        change = exec_price / prev - 1.0
    eps = 1e-4
    return change >= threshold - eps, change <= -threshold + eps


def exits_without_price(listed: np.ndarray, after: int) -> np.ndarray:
    """(T, N) bool: the bars where an asset has gone ``after`` bars in a row without a price since it last had one.

    Its position is closed there at its last price (a delisting, or a gap too long to carry).
    Point-in-time: the flag at t reads ``listed[:t + 1]`` only, so it never depends on whether
    the name trades again later, nor on where the data ends.
    """
    if after < 1:
        raise ValueError(f"delist_after must be a positive number of bars, got {after!r}")
    T, N = listed.shape
    out = np.zeros((T, N), dtype=bool)
    missing = np.zeros(N, dtype=np.int64)  # bars in a row without a price, since the last price
    seen = np.zeros(N, dtype=bool)  # had a price before (nothing to close before the first listing)
    for t in range(T):
        missing = np.where(listed[t], 0, missing + 1)
        out[t] = seen & (missing == after)
        seen |= listed[t]
    return out


def simulate(dates: pd.DatetimeIndex, assets: pd.Index, close: np.ndarray, exec_price: np.ndarray,
             tradable: np.ndarray, decisions: dict[int, np.ndarray], start: int, fees: float = 0.0,
             slippage: float = 0.0, init_cash: float = 1e8, costs: Costs | None = None,
             limit_threshold: float | None = None, end: int | None = None, delist_after: int = 5) -> Simulation:
    """Simulate bars ``start..end`` (default: to the last bar). ``decisions[t]`` is the target weight vector (N,)
    decided at bar t and traded at t+1; decisions whose t+1 is after ``end`` are not traded.

    With ``limit_threshold`` (China's 0.1), an order that would buy at limit up or sell at
    limit down is not placed, as Qlib's exchange refuses it. The side is the order's own
    (target value minus the drifted position), not the change in target weight; since it
    depends on earlier fills, the simulation is re-run until the refused set is stable.
    """
    costs = costs or Costs(fees=fees, slippage=slippage)
    if end is not None:  # nothing after the span is read, not even for valuation or delisting
        if not start <= end < len(dates):
            raise ValueError(f"engine: end bar {end} outside start {start} .. last bar {len(dates) - 1}")
        dates, close, exec_price, tradable = dates[:end + 1], close[:end + 1], exec_price[:end + 1], tradable[:end + 1]
    T, N = close.shape
    close = close.astype(np.float64)
    listed = np.isfinite(close)
    last_close = _ffill(close)
    # never NaN where a position can exist; 1.0 before a listing (or for a name never priced), where none can
    valuation = np.nan_to_num(pd.DataFrame(last_close).bfill().to_numpy(), nan=1.0)
    price = np.where(np.isfinite(exec_price), exec_price, np.nan).astype(np.float64)
    up, down = limit_moves(close, price, limit_threshold)
    size = np.full((T, N), np.nan)
    for t in sorted(decisions):
        if t + 1 >= T:
            continue  # no next bar to trade on
        size[t + 1] = np.where(tradable[t + 1] & np.isfinite(price[t + 1]), np.asarray(decisions[t], np.float64), np.nan)
    # Delisting: after delist_after bars in a row without a price, sell everything at the last price.
    exits = exits_without_price(listed, delist_after)
    size[exits] = 0.0
    price[exits] = last_close[exits]
    sl = slice(start, T)
    idx = dates[sl]
    df = lambda a: pd.DataFrame(a[sl], index=idx, columns=assets)  # noqa: E731
    fill_price = np.where(np.isfinite(price), price, valuation)
    at_limit = (up | down) & np.isfinite(size)
    at_limit[exits] = False  # a delisting sale is never refused
    refused = np.zeros((T, N), dtype=bool)  # orders refused at the limit: found by the passes below

    def run(fee_rates):
        # vectorbt's defaults val_price=inf and update_value=False are what _intended_orders assumes:
        # each bar values the group once, before its orders, at this bar's order prices.
        return vbt().Portfolio.from_orders(
            close=df(valuation), size=df(np.where(refused, np.nan, size)), size_type="targetpercent",
            price=df(fill_price), direction="both", fees=fee_rates, slippage=costs.slippage, init_cash=init_cash,
            cash_sharing=True, group_by=True, call_seq="auto", freq="1D",
        )

    # Order values depend on the fees (side rates, minimum cost), and a refused order changes
    # later positions: iterate to the fixed point. Bar b depends only on bars before it, so the
    # refusals settle at least one limit bar per pass (5 passes on the CSI 300 runs).
    limits = bool(at_limit[sl].any())
    max_passes = _MAX_PASSES + int(at_limit[sl].any(axis=1).sum())
    rates = None
    flat_rate = costs.fees + (costs.buy_cost + costs.sell_cost) / 2  # before the orders' sides are known
    pf = run(flat_rate)
    if costs.side_specific or limits:  # else the first pass is exact
        for _ in range(max_passes):
            wanted, value = _intended_orders(pf, size[sl], fill_price[sl], init_cash)
            rates_settled = limits_settled = True
            if costs.side_specific:  # each order's own side rate, raised to meet the minimum cost
                new, order_value = _order_rates(pf.orders.values, wanted, costs)
                # settled when the fees still moving add up to less than 1e-9 of the initial cash
                rates_settled = rates is not None and np.nansum(np.abs(new - rates) * order_value) <= 1e-9 * init_cash
                rates = new
            if limits:
                now = np.zeros((T, N), dtype=bool)
                now[sl] = _refused_at_limit(wanted, value, up[sl], down[sl], at_limit[sl])
                limits_settled = not (now != refused).any()
                refused = now
            if rates_settled and limits_settled:
                break
            pf = run(df(np.pad(rates, ((start, 0), (0, 0)))) if rates is not None else flat_rate)
        else:
            if not limits_settled:
                raise RuntimeError(f"engine: the price-limit refusals did not settle in {max_passes} passes; "
                                   "the simulation would not be exact (please report this with your data)")
            warnings.warn(f"engine: the fee rates (side costs, minimum cost) did not settle in {max_passes} passes; "
                          "the last pass is reported", RuntimeWarning, stacklevel=2)
    rec = pf.orders.values
    traded = np.zeros(len(idx))
    np.add.at(traded, rec["idx"], np.abs(rec["size"] * rec["price"]))
    n_delisted = int(exits[sl][rec["idx"], rec["col"]].sum())
    return Simulation(returns=pf.returns(), value=pf.value(), traded_value=pd.Series(traded, index=idx),
                      n_delisted_sold=int(n_delisted), portfolio=pf)


_MAX_PASSES = 30


def _intended_orders(pf, target: np.ndarray, fill_price: np.ndarray, init_cash: float) -> tuple[np.ndarray, np.ndarray]:
    """(signed order value per cell, portfolio value per bar) that target-percent sizing asks for, given ``pf``'s
    positions and cash going into each bar: target weight x value at this bar's prices - position held (drift
    included). NaN where there is no target. The same arithmetic as vectorbt's from_orders."""
    pos = pf.assets().to_numpy()
    cash = np.asarray(pf.cash(), dtype=np.float64).reshape(len(pos))
    pos_before = np.vstack([np.zeros((1, pos.shape[1])), pos[:-1]])
    cash_before = np.concatenate([[init_cash], cash[:-1]])
    held = np.where(pos_before != 0, pos_before * fill_price, 0.0)
    value = cash_before + held.sum(axis=1)
    with np.errstate(invalid="ignore"):
        return target * value[:, None] - held, value


def _refused_at_limit(wanted: np.ndarray, value: np.ndarray, up: np.ndarray, down: np.ndarray,
                      at_limit: np.ndarray) -> np.ndarray:
    """Cells at the limit whose order would buy at limit up or sell at limit down.

    A cell at the limit that needs no order is marked refused too: nothing is traded either way.
    """
    tol = 1e-9 * np.abs(value)[:, None]
    with np.errstate(invalid="ignore"):
        allowed = (up & (wanted < -tol)) | (down & (wanted > tol))
    return at_limit & ~allowed


def _order_rates(rec, wanted: np.ndarray, costs: Costs) -> tuple[np.ndarray, np.ndarray]:
    """(per-cell fee rates, order values): the order's side rate, or min_cost / order value when that is larger.

    Rates come from this pass alone: the filled value where an order was filled, else the
    value the target asks for. An order whose minimum cost exceeds its value keeps a rate
    above 1, so vectorbt declines it on every pass rather than flickering in and out.
    """
    rates = np.full(wanted.shape, costs.fees)
    value = np.abs(wanted)
    buy = wanted > 0
    value[rec["idx"], rec["col"]] = np.abs(rec["size"] * rec["price"])
    buy[rec["idx"], rec["col"]] = rec["side"] == 0
    side_rate = np.where(buy, costs.fees + costs.buy_cost, costs.fees + costs.sell_cost)
    with np.errstate(divide="ignore", invalid="ignore"):
        floor = np.where(value > 0, costs.min_cost / value, 0.0)
    active = np.isfinite(wanted) & (value > 0)
    rates[active] = np.maximum(side_rate, floor)[active]
    return rates, value


def equal_weight_benchmark(close: np.ndarray, universe: np.ndarray) -> np.ndarray:
    """Per-bar return of the equal-weight universe: mean close-to-close return of members at t-1."""
    c = close.astype(np.float64)
    r = np.full(c.shape, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        r[1:] = c[1:] / c[:-1] - 1.0
    r[1:][~universe[:-1]] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = np.nanmean(r, axis=1)
    return np.nan_to_num(out, nan=0.0)
