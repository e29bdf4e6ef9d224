"""Orders from target weights and current shares: whole lots, a price basis, the estimated cost under the
strategy's costs, and a note on names that may not trade (at the price limit or without a price on asof).

Sizes follow the engine (framework/engine/kernel.py): the order is target value / price - shares held, rounded
toward zero to whole lots (``lot_size``; whole shares when None); a NaN target weight places no order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..strategy import Strategy

COLUMNS = ["asset", "side", "shares", "price", "value", "est_cost", "shares_held", "shares_after", "note"]


def estimated_shares(weights: pd.Series, price: pd.Series, value: float) -> pd.Series:
    """Shares of a portfolio worth ``value`` held at ``weights`` (a run folder stores weights, not shares); a NaN
    weight (held, no order at the last decision) gets an equal part of what the known weights leave."""
    known = weights.dropna()
    nan = weights.index[weights.isna()]
    fill = max(1.0 - float(known[known > 0].sum()), 0.0) / len(nan) if len(nan) else 0.0
    w = weights.fillna(fill)
    return (w * value / price.reindex(w.index).to_numpy(np.float64)).astype(float)


def make_orders(target: pd.Series, shares: pd.Series, price: pd.Series, value: float, strategy: Strategy,
                flags: pd.Series) -> pd.DataFrame:
    """One row per order (sells first, then buys, largest first): ``target`` weights by asset (NaN: no order),
    ``shares`` held, ``price`` the basis (close on asof), ``value`` the portfolio's value, ``flags`` a note per
    asset for names that may not trade."""
    lot = float(strategy.lot_size or 1)
    names = target.index.union(shares.index)
    held = shares.reindex(names).fillna(0.0)
    tw = target.reindex(names)
    tw[~names.isin(target.index)] = 0.0  # held names left out of the targets are sold
    p = price.reindex(names).to_numpy(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        raw = tw.to_numpy(np.float64) * value / p - held.to_numpy(np.float64)
    size = np.trunc(np.nan_to_num(raw / lot, nan=0.0)) * lot  # toward zero, whole lots, as the engine
    size[~np.isfinite(p)] = 0.0
    keep = size != 0
    side = np.where(size > 0, "buy", "sell")
    traded = np.abs(size) * np.nan_to_num(p)
    rate = np.where(size > 0, strategy.fees + strategy.buy_cost, strategy.fees + strategy.sell_cost)
    cost = np.maximum(traded * rate, strategy.min_cost) + traded * strategy.slippage
    orders = pd.DataFrame({"asset": names.astype(str), "side": side, "shares": np.abs(size), "price": p,
                           "value": traded, "est_cost": cost, "shares_held": held.to_numpy(np.float64),
                           "shares_after": held.to_numpy(np.float64) + size,
                           "note": flags.reindex(names).fillna("").to_numpy(str)})[keep]
    order = np.lexsort((orders["asset"].to_numpy(str), -orders["value"].to_numpy(), orders["side"] != "sell"))
    return orders.iloc[order].reset_index(drop=True)[COLUMNS]


def trading_flags(close: np.ndarray, tradable: np.ndarray, assets: pd.Index, asof: int,
                  threshold: float | None) -> pd.Series:
    """A note per asset that may not trade after asof: its close on asof is at the price limit (up: buys may not
    fill; down: sells may not), or it has no price or no volume on asof."""
    from ..engine.market import limit_moves

    up, down = limit_moves(close[: asof + 1], close[: asof + 1], threshold)
    notes = np.full(len(assets), "", dtype=object)
    notes[up[asof]] = "close at the price limit up on asof: a buy may not fill"
    notes[down[asof]] = "close at the price limit down on asof: a sale may not fill"
    notes[~tradable[asof]] = "no price or no volume on asof: may not be tradable"
    return pd.Series(notes, index=assets.astype(str))[notes != ""]
