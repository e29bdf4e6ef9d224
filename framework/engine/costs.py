"""Trading costs: the one way costs enter the engine."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Costs:
    """Proportional ``fees`` and ``slippage``, plus Qlib's side-specific rates and minimum cost per order.

    A buy pays ``fees + buy_cost`` of its value, a sale ``fees + sell_cost``, and no order pays
    less than ``min_cost`` (cash units), as Qlib's open_cost / close_cost / min_cost. ``slippage``
    moves the fill price against the order (buys fill at price x (1 + slippage)).
    """

    fees: float = 0.0
    slippage: float = 0.0
    buy_cost: float = 0.0
    sell_cost: float = 0.0
    min_cost: float = 0.0

    def __post_init__(self) -> None:
        for name in ("fees", "slippage", "buy_cost", "sell_cost", "min_cost"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"cost {name} must be a finite number >= 0, got {value!r}")
        if self.fees + max(self.buy_cost, self.sell_cost) >= 1 or self.slippage >= 1:
            raise ValueError(f"costs of 100% or more per order cannot be right: {self}")

    @property
    def buy_rate(self) -> float:
        return self.fees + self.buy_cost

    @property
    def sell_rate(self) -> float:
        return self.fees + self.sell_cost
