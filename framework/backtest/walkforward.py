"""The walk-forward calendar: the test span, when to retrain and rebalance, and what each retrain may train on.

Timing (docs/design.md): a model retrained at bar t trains on sample dates s <= t - h - 1,
whose labels (execution price at s + 1 to s + 1 + h) are fully known at t; its validation
slice is the end of that window, h + 1 bars after the last training date.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..schedule import schedule_bars
from ..strategy import Strategy, StrategyError


def first_test_bar(strategy: Strategy, dates: pd.DatetimeIndex) -> int:
    """The first decision bar of the test period: the first bar on or after ``test_start``, else the earliest bar
    that leaves ``min_train_bars`` of labelled windows (seqalpha predict extends the same calendar to its asof)."""
    if strategy.test_start is None:
        return strategy.window - 1 + strategy.min_train_bars + strategy.horizon + 1
    return int(dates.searchsorted(pd.Timestamp(strategy.test_start)))


def test_bars(strategy: Strategy, dates: pd.DatetimeIndex) -> tuple[int, int]:
    """First and last decision bar of the test period (the last must leave a bar to trade on)."""
    T = len(dates)
    t0 = first_test_bar(strategy, dates)
    t1 = T - 2 if strategy.test_end is None else min(T - 2, int(dates.searchsorted(pd.Timestamp(strategy.test_end),
                                                                                    "right")) - 1)
    if t0 > t1:
        raise StrategyError(
            f"empty test period: first decision bar {t0} ({'test_start' if strategy.test_start else 'min_train_bars'}) "
            f"is after the last one {t1} of {T} dates ({dates[0].date()}..{dates[-1].date()})"
        )
    if t0 - strategy.horizon - 1 < strategy.window - 1:
        raise StrategyError(f"test_start {dates[t0].date()} leaves no labelled history to train on "
                            f"(window={strategy.window}, horizon={strategy.horizon})")
    return t0, t1


def training_dates(t: int, strategy: Strategy, horizon: int | None = None,
                   dates: pd.DatetimeIndex | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Sample dates for a model retrained at bar t: (train, valid), both s <= t - h - 1.

    The validation slice is the last ``valid_fraction`` of the window, or the fixed span
    ``valid_start``..``valid_end`` (cut at t - h - 1); training dates end h + 1 bars before it
    starts, so no training label overlaps a validation label, and start at ``train_start``.
    ``horizon`` overrides h: a model that also trains on labels further ahead (``aux_horizons``)
    needs the embargo of the longest. ``dates`` (the panel's) is needed for the date parameters.
    """
    h, L = (strategy.horizon if horizon is None else horizon), strategy.window
    hi = t - h - 1  # last sample whose label (exec t+1 .. t+1+h) is known at t
    lo = L - 1 if strategy.train_window is None else max(L - 1, hi - strategy.train_window + 1)
    if strategy.train_start is not None or strategy.valid_start is not None:
        if dates is None:
            raise ValueError("training_dates: train_start/valid_start need the panel's dates")
    if strategy.train_start is not None:
        lo = max(lo, int(dates.searchsorted(pd.Timestamp(strategy.train_start))))
    if hi < lo:
        return np.array([], dtype=np.int64), np.array([], dtype=np.int64)
    if strategy.valid_start is not None:  # a fixed span (Qlib's "valid" segment), never past t - h - 1
        v0 = max(lo, int(dates.searchsorted(pd.Timestamp(strategy.valid_start))))
        v1 = hi if strategy.valid_end is None else \
            min(hi, int(dates.searchsorted(pd.Timestamp(strategy.valid_end), "right")) - 1)
        train = np.arange(lo, min(v0 - h - 1, hi + 1))
        return train, np.arange(v0, v1 + 1)
    n = hi - lo + 1
    n_valid = int(round(n * strategy.valid_fraction))
    if n_valid == 0:
        return np.arange(lo, hi + 1), np.array([], dtype=np.int64)
    v0 = hi - n_valid + 1
    return np.arange(lo, v0 - h - 1), np.arange(v0, hi + 1)


def dated(strategy: Strategy, dates: pd.DatetimeIndex) -> dict:
    """``{"dates": dates}`` for ``training_dates`` when the strategy's spans are dates (``train_start``,
    ``valid_start``), else ``{}`` (the call stays ``training_dates(t, strategy, horizon)``)."""
    return {"dates": dates} if strategy.train_start is not None or strategy.valid_start is not None else {}


@dataclass(frozen=True)
class WalkForward:
    """Decision bars t0..t1; the retrain bars (each starts a segment scored by its model) and rebalance bars.

    The simulated span is t0 + 1 .. t1 + 1: the first execution bar to the one where t1's decision trades.
    """

    t0: int
    t1: int
    retrain_bars: tuple[int, ...]
    rebalance_bars: frozenset[int]

    @classmethod
    def of(cls, strategy: Strategy, dates: pd.DatetimeIndex) -> WalkForward:
        t0, t1 = test_bars(strategy, dates)
        span = dates[t0:t1 + 1]
        return cls(t0, t1, tuple((schedule_bars(span, strategy.retrain) + t0).tolist()),
                   frozenset((schedule_bars(span, strategy.rebalance) + t0).tolist()))

    @property
    def bars(self) -> np.ndarray:
        return np.arange(self.t0, self.t1 + 1)

    def segment_end(self, t: int) -> int:
        """The bar after the last one scored by the model retrained at t: the next retrain, or t1 + 1."""
        return next((r for r in self.retrain_bars if r > t), self.t1 + 1)
