"""The selection span (``--select START..END``): checked against the strategy's test period, and the panel cut so
that tune never holds a price of the test period.

The last decision bar t1 of the span trades on t1 + 1 and its label reads the execution price h bars later
(h: the embargo, the longest horizon any searched configuration trains on). So the selection's last price is
bar t1 + 1 + h, and it must lie before the test period's first bar: t1 + h + 2 <= test_start's bar.
The panel is cut right after t1 + 1 + h before any run, or anything else, reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..data import Panel
from ..strategy import StrategyError


@dataclass(frozen=True)
class Selection:
    """The span the trials are scored on, where its last label ends, and the test period it stays clear of."""

    start: pd.Timestamp  # first decision date (the runs' test_start)
    end: pd.Timestamp  # --select's END (the runs' test_end)
    last_decision: pd.Timestamp  # t1: the last bar on or before END
    last_bar: pd.Timestamp  # t1 + 1 + embargo: the last price the selection reads; the panel ends here
    test_start: pd.Timestamp  # the strategy's first test date
    embargo: int

    @property
    def text(self) -> str:
        return f"{self.start.date()}..{self.end.date()}"


def parse_select(text: str | None) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``"2016-01-01..2017-12-31"`` -> (start, end); anything else is one line."""
    if not text or ".." not in str(text):
        raise StrategyError(f"--select expects START..END dates, e.g. 2016-01-01..2017-12-31; got {text!r}")
    first, _, last = str(text).partition("..")
    try:
        start, end = pd.Timestamp(first.strip()), pd.Timestamp(last.strip())
    except (ValueError, TypeError):
        raise StrategyError(f"--select {text!r}: START and END must be dates such as 2016-01-01") from None
    if pd.isna(start) or pd.isna(end) or not start < end:
        raise StrategyError(f"--select {text!r}: START must be a date before END")
    return start, end


def check_selection(dates: pd.DatetimeIndex, start: pd.Timestamp, end: pd.Timestamp, test_start: str | None,
                    embargo: int, horizon: int) -> Selection:
    """The selection span on the data's calendar, refused in one line when its labels would reach the test period
    (``embargo``: the longest label horizon of any searched configuration; ``horizon``: the largest h)."""
    if test_start is None:
        raise StrategyError("tune needs the strategy's test_start (where its test period begins, which tune must "
                            "not read): set it in the strategy or with --set test_start=DATE")
    first_test = pd.Timestamp(test_start)
    t_test = int(dates.searchsorted(first_test, "left"))  # the first bar of the test period (len(dates): none yet)
    t0 = int(dates.searchsorted(start, "left"))
    t1 = int(dates.searchsorted(end, "right")) - 1
    if t1 < t0 or t0 >= len(dates):
        raise StrategyError(f"--select {start.date()}..{end.date()}: no bar of the data "
                            f"({dates[0].date()}..{dates[-1].date()}) lies in the span")
    gap = embargo + 2  # t1 + 1 (the trade) + embargo (the label) must come before t_test
    if t1 + gap > t_test:
        latest = t_test - gap
        last_ok = f"on or before {dates[latest].date()}" if latest >= 0 else "before the data starts"
        what = f"horizon {horizon}" + (f", embargo {embargo} with the auxiliary horizons" if embargo > horizon
                                       else "")
        raise StrategyError(
            f"--select {start.date()}..{end.date()} comes too close to the test period (test_start "
            f"{first_test.date()}): its last decision {dates[t1].date()} trades on the next bar and its label reads "
            f"{embargo} bars further ({what}), into the test period; end the selection {last_ok}, at least "
            f"h + 2 = {gap} bars before test_start")
    if t1 + 1 + embargo >= len(dates):
        raise StrategyError(f"--select ends {dates[t1].date()}: its labels need {embargo + 1} more bars of data "
                            f"than the data has (it ends {dates[-1].date()})")
    return Selection(start, end, dates[t1], dates[t1 + 1 + embargo], first_test, embargo)


def selection_panel(panel: Panel, selection: Selection, label: str) -> Panel:
    """The panel cut after the selection's last label bar: no price of the test period is kept. ``label`` names it
    in run configs (the data URI and the cut)."""
    cut = panel.slice_dates(end=selection.last_bar)
    if cut.dates[-1] != selection.last_bar or cut.dates[-1] >= selection.test_start:  # never: check_selection
        raise AssertionError(f"the selection panel ends {cut.dates[-1]}, not before the test period")
    cut.name = f"{label} until {selection.last_bar.date()}"
    return cut
