"""The engine's simulation loop as one self-contained ``@njit(cache=True)`` function: compiled once, kept on disk.

``simulate_orders`` walks the bars once: on each bar with orders it values the portfolio
at the bar's order prices, finds each order's side (target weight x value minus the
position carried in, drift included), refuses a buy at limit up or a sale at limit down,
sorts the orders so sales come first (their cash pays for the buys), sizes each target
percent and charges max(side rate x value, minimum cost), the value being what the cash
left can buy. It returns the filled orders as records; simulation.py builds the vectorbt
Portfolio from them.

The arithmetic is vectorbt 1.2's own (``execute_order_nb``, ``buy_nb``, ``sell_nb``, with
their tolerances), copied here so the fills are bit for bit what ``Portfolio.from_order_func``
gave with the engine's former callbacks, with one exception: where the cash left buys no
whole lot, vectorbt filled an order of 0 shares and charged its minimum cost (and its
Portfolio then refused to compute positions and stats); here there is no order. Unlike a simulation that takes functions as
arguments, this function depends on nothing but numpy, so numba can cache it: the first
process compiles it (a few seconds) into ``__pycache__`` beside this file (or, where that is
read-only, ``NUMBA_CACHE_DIR`` or numba's user cache directory); every later process loads it.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: An order at the limit is a buy or a sale only beyond this share of the portfolio's value.
SIDE_TOLERANCE = 1e-9

# vectorbt's tolerances (vectorbt.utils.math_): what counts as equal, and as zero
_REL_TOL = 1e-9
_ABS_TOL = 1e-12

# what became of one order call
_FILLED, _NOTHING = 0, 1


@njit(cache=True)
def _is_close(a: float, b: float) -> bool:
    """vectorbt's is_close_nb."""
    if np.isnan(a) or np.isnan(b) or np.isinf(a) or np.isinf(b):
        return False
    if a == b:
        return True
    return abs(a - b) <= max(_REL_TOL * max(abs(a), abs(b)), _ABS_TOL)


@njit(cache=True)
def _add(a: float, b: float) -> float:
    """vectorbt's add_nb: a sum within the tolerance of zero is zero."""
    if np.sign(a) != np.sign(b):
        zero = _is_close(abs(a), abs(b))
    else:
        zero = _is_close(a + b, 0.0)
    return 0.0 if zero else a + b


@njit(cache=True)
def _argsort_sales_first(values, order) -> None:
    """vectorbt's insert_argsort_nb: a stable ascending insertion sort of ``values`` carrying ``order``; NaN last."""
    for j in range(1, len(values)):
        v, o = values[j], order[j]
        i = j - 1
        while i >= 0 and (values[i] > v or np.isnan(values[i])):
            values[i + 1] = values[i]
            order[i + 1] = order[i]
            i -= 1
        values[i + 1] = v
        order[i + 1] = o


@njit(cache=True)
def _execute(cash: float, position: float, value: float, weight: float, price: float, fees: float, fixed: float,
             slippage: float, granularity: float):
    """One target-percent order as vectorbt's execute_order_nb runs it (direction both, no cash lock).

    Returns (outcome, cash, position, size, fill price, fees paid, side); cash and position are returned
    cleaned of values within the tolerance of zero even when nothing fills, as vectorbt does."""
    if _is_close(cash, 0.0):
        cash = 0.0
    if _is_close(position, 0.0):
        position = 0.0
    val_price = price
    if _is_close(val_price, 0.0):
        val_price = 0.0
    if _is_close(value, 0.0):
        value = 0.0
    if np.isnan(price):
        return _NOTHING, cash, position, 0.0, 0.0, 0.0, 0
    if np.isnan(cash) or cash < 0:
        raise ValueError("engine: cash became NaN or negative")
    if not np.isfinite(position):
        raise ValueError("engine: a position became infinite or NaN")
    if not np.isfinite(price) or price <= 0:
        raise ValueError("engine: an order price is not finite and greater than 0")
    if np.isnan(value):
        return _NOTHING, cash, position, 0.0, 0.0, 0.0, 0
    if value <= 0:
        return _NOTHING, cash, position, 0.0, 0.0, 0.0, 0
    if np.isinf(val_price) or val_price <= 0:
        raise ValueError("engine: a valuation price is not finite and greater than 0")
    size = weight * value
    size /= val_price
    size -= position
    if size > 0:  # buy_nb
        adj_price = price * (1 + slippage)
        cash_limit = cash
        if cash_limit == 0:
            return _NOTHING, cash, position, 0.0, 0.0, 0.0, 0
        adj_size = size
        if not np.isnan(granularity):
            adj_size = adj_size // granularity * granularity
        req_cash = adj_size * adj_price
        req_fees = req_cash * fees + fixed
        total_req_cash = req_cash + req_fees
        if _is_close(total_req_cash, cash_limit) or total_req_cash < cash_limit:
            final_size = adj_size
            fees_paid = req_fees
            final_req_cash = total_req_cash
        else:  # the cash left buys less: the order takes all of it, costs included
            max_req_cash = _add(cash_limit, -fixed) / (1 + fees)
            if max_req_cash <= 0:
                return _NOTHING, cash, position, 0.0, 0.0, 0.0, 0
            max_acq_size = max_req_cash / adj_price
            if not np.isnan(granularity):
                final_size = max_acq_size // granularity * granularity
                if final_size == 0:  # the cash left buys no whole lot: no order, and no minimum cost for nothing
                    return _NOTHING, cash, position, 0.0, 0.0, 0.0, 0
                new_req_cash = final_size * adj_price
                fees_paid = new_req_cash * fees + fixed
                final_req_cash = new_req_cash + fees_paid
            else:
                final_size = max_acq_size
                fees_paid = cash_limit - max_req_cash
                final_req_cash = cash_limit
        if _is_close(adj_size, 0.0):
            return _NOTHING, cash, position, 0.0, 0.0, 0.0, 0
        if not _is_close(final_size, 0.0) and final_size < 0:
            return _NOTHING, cash, position, 0.0, 0.0, 0.0, 0
        return (_FILLED, _add(cash, -final_req_cash), _add(position, final_size), final_size, adj_price, fees_paid,
                0)
    # sell_nb
    adj_price = price * (1 - slippage)
    size_limit = -size
    if np.isinf(size_limit):
        raise ValueError("engine: an order to sell an infinite size")
    if not np.isnan(granularity):
        size_limit = size_limit // granularity * granularity
    if _is_close(size_limit, 0.0):
        return _NOTHING, cash, position, 0.0, 0.0, 0.0, 0
    if not _is_close(size_limit, 0.0) and size_limit < 0:
        return _NOTHING, cash, position, 0.0, 0.0, 0.0, 0
    acq_cash = size_limit * adj_price
    fees_paid = acq_cash * fees + fixed
    final_acq_cash = _add(acq_cash, -fees_paid)
    if final_acq_cash < 0:
        return _NOTHING, cash, position, 0.0, 0.0, 0.0, 0
    return _FILLED, cash + final_acq_cash, _add(position, -size_limit), size_limit, adj_price, fees_paid, 1


@njit(cache=True)
def simulate_orders(target, price, up, down, exit_bar, init_cash, buy_rate, sell_rate, min_cost, slippage, lot):
    """Simulate every bar; ``target`` (T, N) holds target weights (NaN: no order), ``price`` the order prices.

    ``up`` / ``down`` mark limit-up / limit-down cells (already only where a target exists), ``exit_bar`` the
    delisting sales; ``lot`` is NaN for no lots. Returns the filled orders as arrays (bar, column, size,
    price, fees, side: 0 buy, 1 sale), and the (T, N) ``refused`` (at the limit, no order) and ``blocked``
    (a wanted order the limit stopped) masks."""
    n_bars, n_cols = target.shape
    cap = n_bars * n_cols
    rec_idx = np.empty(cap, dtype=np.int64)
    rec_col = np.empty(cap, dtype=np.int64)
    rec_size = np.empty(cap, dtype=np.float64)
    rec_price = np.empty(cap, dtype=np.float64)
    rec_fees = np.empty(cap, dtype=np.float64)
    rec_side = np.empty(cap, dtype=np.int64)
    refused = np.zeros((n_bars, n_cols), dtype=np.bool_)
    blocked = np.zeros((n_bars, n_cols), dtype=np.bool_)
    position = np.zeros(n_cols, dtype=np.float64)
    order_value = np.empty(n_cols, dtype=np.float64)
    call_seq = np.empty(n_cols, dtype=np.int64)
    cash = init_cash
    n = 0
    for i in range(n_bars):
        has_orders = False
        for col in range(n_cols):
            if not np.isnan(target[i, col]):
                has_orders = True
                break
        if not has_orders:
            continue
        # value once per bar, before its orders, at this bar's order prices
        value = cash
        for col in range(n_cols):
            if position[col] != 0:
                value += position[col] * price[i, col]
        tol = SIDE_TOLERANCE * abs(value)
        for col in range(n_cols):
            held = position[col] * price[i, col] if position[col] != 0 else 0.0
            wanted = target[i, col] * value - held  # signed order value; NaN: no order
            order_value[col] = wanted
            call_seq[col] = col
            if up[i, col] or down[i, col]:  # judged by the order's own side
                allowed = (up[i, col] and wanted < -tol) or (down[i, col] and wanted > tol)
                refused[i, col] = not allowed
                blocked[i, col] = not allowed and abs(wanted) > tol
        _argsort_sales_first(order_value, call_seq)
        for k in range(n_cols):
            col = call_seq[k]
            weight = target[i, col]
            place = not (np.isnan(weight) or refused[i, col])
            p = price[i, col]
            fees, fixed, granularity, rate, worth = 0.0, 0.0, np.nan, 0.0, 0.0
            if place:
                size = weight * value / p - position[col]  # the target-percent arithmetic, before the lot
                if not np.isnan(lot) and not (weight == 0 and size < 0):  # a whole position is sold whole
                    granularity = lot
                    size = np.sign(size) * (abs(size) // lot) * lot
                if size == 0:
                    place = False
                elif size > 0:
                    rate = buy_rate
                    worth = size * p * (1.0 + slippage)
                    if worth * (1.0 + rate) > cash:  # what the cash left can buy, with the rate
                        worth = cash / (1.0 + rate)
                else:
                    rate = sell_rate
                    worth = -size * p * (1.0 - slippage)
                if place:
                    # the side's rate, or the minimum cost where larger; a delisting sale never pays the minimum
                    if rate * worth >= min_cost or exit_bar[i, col]:
                        fees = rate
                    else:
                        fixed = min_cost
            if not place:  # vectorbt still cleans near-zero cash and position on a call without an order
                if _is_close(cash, 0.0):
                    cash = 0.0
                if _is_close(position[col], 0.0):
                    position[col] = 0.0
                continue
            outcome, cash, held, size, fill, paid, side = _execute(
                cash, position[col], value, weight, p, fees, fixed, slippage, granularity)
            position[col] = held
            if outcome == _FILLED:
                rec_idx[n], rec_col[n], rec_size[n] = i, col, size
                rec_price[n], rec_fees[n], rec_side[n] = fill, paid, side
                n += 1
    return (rec_idx[:n], rec_col[:n], rec_size[:n], rec_price[:n], rec_fees[:n], rec_side[:n], refused, blocked)


@njit(cache=True)
def value_and_returns(idx, col, size, price, fees, side, close, init_cash):
    """Per-bar value and simple returns of the filled orders, valued at ``close`` (T, N, never NaN) after each bar.

    vectorbt's own arithmetic (asset and cash flows per cell, cumulated with its zero tolerance, summed over the
    columns), so both equal ``Portfolio.value()`` and ``Portfolio.returns()`` of the same records bit for bit,
    without importing vectorbt."""
    n_bars, n_cols = close.shape
    asset_flow = np.zeros((n_bars, n_cols), dtype=np.float64)
    cash_flow = np.zeros((n_bars, n_cols), dtype=np.float64)
    for r in range(len(idx)):  # per cell, in the order the orders were filled
        i, c = idx[r], col[r]
        s = size[r]
        if side[r] == 1:
            s *= -1
        asset_flow[i, c] = _add(asset_flow[i, c], s)
        cash_flow[i, c] = _add(cash_flow[i, c], -s * price[r] - fees[r])
    assets = np.empty((n_bars, n_cols), dtype=np.float64)
    for c in range(n_cols):
        held = 0.0
        for i in range(n_bars):
            held = _add(held, asset_flow[i, c])
            assets[i, c] = held
    # sums over the columns from 0.0, left to right, as numba's np.sum(axis=1) in vectorbt adds them
    flow = np.zeros(n_bars, dtype=np.float64)
    held_value = np.zeros(n_bars, dtype=np.float64)
    for i in range(n_bars):
        for c in range(n_cols):
            flow[i] += cash_flow[i, c]
            held_value[i] += (close[i, c] if assets[i, c] != 0 else 0.0) * assets[i, c]
    value = np.empty(n_bars, dtype=np.float64)
    returns = np.empty(n_bars, dtype=np.float64)
    cash, before = init_cash, init_cash
    for i in range(n_bars):
        cash = _add(cash, flow[i])
        value[i] = cash + held_value[i]
        if before == 0:
            returns[i] = 0.0 if value[i] == 0 else np.inf * np.sign(value[i])
        else:
            returns[i] = (value[i] - before) / before
            if before < 0:
                returns[i] *= -1
        before = value[i]
    return value, returns
