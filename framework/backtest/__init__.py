"""The backtest: run_backtest (run.py) wires the Dataset, the walk-forward calendar, the trainer, the clock,
the engine and the result together."""

from .dataset import Dataset
from .run import run_backtest, simulate_span
from .walkforward import WalkForward, test_bars, training_dates

__all__ = ["Dataset", "WalkForward", "run_backtest", "simulate_span", "test_bars", "training_dates"]
