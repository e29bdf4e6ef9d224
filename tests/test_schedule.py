"""Schedules: first bar of each period, every n bars."""

import pandas as pd
import pytest

from seqalpha.schedule import schedule_bars


def test_calendar_and_int_schedules():
    d = pd.bdate_range("2020-01-01", periods=130)
    assert list(d[schedule_bars(d, "MS")][:3].strftime("%Y-%m-%d")) == ["2020-01-01", "2020-02-03", "2020-03-02"]
    assert list(schedule_bars(d, 20)[:3]) == [0, 20, 40]
    assert len(schedule_bars(d, "D")) == 130
    assert all(d[schedule_bars(d, "W")][1:].dayofweek == 0)
    assert list(d[schedule_bars(d, "M")]) == list(d[schedule_bars(d, "MS")])


def test_bad_schedule():
    d = pd.bdate_range("2020-01-01", periods=10)
    with pytest.raises(ValueError, match="offset alias"):
        schedule_bars(d, "fortnightly")
    with pytest.raises(ValueError):
        schedule_bars(d, 0)
