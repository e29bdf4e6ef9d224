"""The backtest engine: target weights in; orders, returns and costs out of a cached numba kernel (simulation.py)."""

from .costs import Costs
from .market import equal_weight_benchmark, exits_without_price, limit_moves
from .simulation import Simulation, bar_freq, simulate

__all__ = ["Costs", "Simulation", "bar_freq", "equal_weight_benchmark", "exits_without_price", "limit_moves",
           "simulate"]
