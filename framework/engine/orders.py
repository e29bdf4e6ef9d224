"""The numba callbacks vectorbt's ``Portfolio.from_order_func`` calls: the engine's order rules, exact in one pass.

``pre_segment`` runs once per bar with orders, before any of them: it values the
portfolio at this bar's order prices, finds each order's side (target weight x value
minus the position carried in, drift included), refuses a buy at limit up or a sale at
limit down, and sorts the calls so sales come before buys (their cash pays for the buys).
``order`` then sizes each target percent as vectorbt does and charges
max(side rate x value, minimum cost), the value being what the cash left can buy.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from vectorbt.portfolio.enums import Direction, SizeType
from vectorbt.portfolio.nb import order_nb, order_nothing_nb
from vectorbt.utils.array_ import insert_argsort_nb

#: An order at the limit is a buy or a sale only beyond this share of the portfolio's value.
SIDE_TOLERANCE = 1e-9


@njit(cache=True)
def pre_segment(c, target, price, up, down, refused, blocked, exit_bar, order_value):
    """Value the group at this bar's order prices, refuse orders on the wrong side of a limit, sales first.

    ``refused`` marks every cell at the limit that gets no order; ``blocked`` only those whose order was wanted
    (more than the side tolerance): the orders the limit really stopped."""
    i = c.i
    value = c.last_cash[c.group]
    for col in range(c.from_col, c.to_col):
        c.last_val_price[col] = price[i, col]  # the valuation price of the target percents: this bar's order price
        if c.last_position[col] != 0:
            value += c.last_position[col] * price[i, col]
    tol = SIDE_TOLERANCE * abs(value)
    for k in range(c.group_len):
        col = c.from_col + k
        held = c.last_position[col] * price[i, col] if c.last_position[col] != 0 else 0.0
        wanted = target[i, col] * value - held  # signed order value; NaN: no order
        order_value[k] = wanted
        if up[i, col] or down[i, col]:
            allowed = (up[i, col] and wanted < -tol) or (down[i, col] and wanted > tol)
            refused[i, col] = not allowed
            blocked[i, col] = not allowed and abs(wanted) > tol
    insert_argsort_nb(order_value[:c.group_len], c.call_seq_now)  # ascending: sales (negative) first, NaN last
    return ()


@njit(cache=True)
def order(c, target, price, up, down, refused, blocked, exit_bar, order_value, buy_rate, sell_rate, min_cost,
          slippage, lot):
    """A target-percent order with the side's rate, or the minimum cost where that is larger; nothing if refused.
    A delisting sale pays the rate without the minimum (so a tiny position is never stuck on the books). With
    ``lot`` (not NaN) orders are whole lots, rounded towards zero; a sale of a whole position sells every share."""
    i, col = c.i, c.col
    weight = target[i, col]
    if np.isnan(weight) or refused[i, col]:
        return order_nothing_nb()
    p = price[i, col]
    size = weight * c.value_now / c.val_price_now - c.position_now  # vectorbt's own target-percent arithmetic
    granularity = np.nan
    if not np.isnan(lot) and not (weight == 0 and size < 0):
        granularity = lot
        size = np.sign(size) * (abs(size) // lot) * lot
    if size == 0:
        return order_nothing_nb()
    if size > 0:
        rate = buy_rate
        value = size * p * (1.0 + slippage)
        if value * (1.0 + rate) > c.cash_now:  # what the cash left can buy, with the rate
            value = c.cash_now / (1.0 + rate)
    else:
        rate = sell_rate
        value = -size * p * (1.0 - slippage)
    if rate * value >= min_cost or exit_bar[i, col]:
        fees, fixed = rate, 0.0
    else:
        fees, fixed = 0.0, min_cost
    return order_nb(size=weight, price=p, size_type=SizeType.TargetPercent, direction=Direction.Both, fees=fees,
                    fixed_fees=fixed, slippage=slippage, size_granularity=granularity)
