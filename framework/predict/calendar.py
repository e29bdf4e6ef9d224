"""Which bar predict decides on, and which retrain's model decides there: the backtest's calendar, extended to asof.

The backtest's walk-forward calendar (backtest/walkforward.py) starts at the first test bar and puts retrain bars
on the strategy's ``retrain`` schedule; its last decision bar is the data's second-to-last (it trades on the next
bar). Predict keeps that calendar and lets it run to ``asof``, which may be the data's last bar: the model is the
one of the last retrain bar on or before asof, trained as the trainer trains it (samples up to that bar - h - 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..backtest.walkforward import dated, first_test_bar, training_dates
from ..errors import PredictError
from ..schedule import schedule_bars
from ..strategy import Strategy


@dataclass(frozen=True)
class ModelBar:
    """The bars of one prediction: ``asof``, the retrain bar whose model scores it, the earlier retrain bars a
    warm-started chain must refit first, and where the calendar starts."""

    asof: int
    retrain: int
    chain: tuple[int, ...]  # retrain bars to fit in order (the last is ``retrain``); one bar unless warm_start
    start: int  # the calendar's first bar: the first test bar, or asof when asof comes before it
    refit: bool  # True: one fit at asof on every sample labelled by then (--refit), not the schedule's model


def asof_bar(dates: pd.DatetimeIndex, asof: str | pd.Timestamp | None) -> int:
    """The bar predict decides on: the data's last bar by default, else the last bar on or before ``asof``.
    An asof after the data's last bar, or before its first, is refused (its prices are not known)."""
    if asof is None:
        return len(dates) - 1
    try:
        when = pd.Timestamp(asof)
    except (TypeError, ValueError):
        raise PredictError(f"--asof {asof!r} is not a date (YYYY-MM-DD)") from None
    if when > dates[-1]:
        raise PredictError(f"asof {when.date()} is after the data's last bar {dates[-1].date()}: its prices are not "
                           "known yet (predict decides on a bar the data holds)")
    t = int(dates.searchsorted(when, "right")) - 1
    if t < 0:
        raise PredictError(f"asof {when.date()} is before the data's first bar {dates[0].date()}")
    return t


def model_bar(strategy: Strategy, dates: pd.DatetimeIndex, asof: int, embargo: int, warm_start: bool,
              refit: bool = False) -> ModelBar:
    """The retrain whose model decides at ``asof``: the last bar of the backtest's retrain schedule on or before
    asof (the schedule starts at the first test bar, as the backtest's does), or asof itself with ``refit``.
    Refused when that retrain has no labelled sample to train on (``embargo``: the longest label horizon)."""
    start = min(first_test_bar(strategy, dates), asof)
    if refit:
        bars: tuple[int, ...] = (asof,)
    else:
        bars = tuple(int(b) + start for b in schedule_bars(dates[start:asof + 1], strategy.retrain))
    r = bars[-1]
    train, _ = training_dates(r, strategy, embargo, **dated(strategy, dates))
    if len(train) == 0:
        first = strategy.window - 1 + embargo + 1
        when = str(dates[first].date()) if first < len(dates) else f"bar {first}"
        raise PredictError(f"no model can be trained for asof {dates[asof].date()}: its retrain at {dates[r].date()} "
                           f"has no labelled sample (window={strategy.window}, horizon={embargo}"
                           f"{', train_start=' + strategy.train_start if strategy.train_start else ''}); "
                           f"the first bar with one is {when} or later")
    chain = bars if warm_start else (r,)
    return ModelBar(asof=asof, retrain=r, chain=chain, start=start, refit=refit)
