"""Schedules: which bars of a calendar are rebalance or retrain bars."""

from __future__ import annotations

import numpy as np
import pandas as pd

_ALIASES = {"M": "MS", "ME": "MS", "Q": "QS", "QE": "QS", "Y": "YS", "A": "YS", "YE": "YS", "BM": "BMS"}


def schedule_bars(dates: pd.DatetimeIndex, rule: str | int | None) -> np.ndarray:
    """Sorted indices into ``dates``: the first bar of each period (offset alias) or every n bars (int).

    ``None`` means only the first bar (for ``retrain``: fit once, Qlib's static split).

    The first bar is always included. "W" is weekly, "M"/"MS" monthly, "QS" quarterly,
    "2QS" half-yearly, "D" every bar; any pandas offset alias works.
    """
    n = len(dates)
    if n == 0:
        return np.array([], dtype=np.int64)
    if rule is None:
        return np.array([0], dtype=np.int64)
    if isinstance(rule, bool):
        raise ValueError(f"schedule must be a pandas offset alias or a positive int, got {rule!r}")
    if isinstance(rule, (int, np.integer)) or (isinstance(rule, str) and rule.isdigit()):
        step = int(rule)
        if step < 1:
            raise ValueError(f"schedule: every n bars needs n >= 1, got {rule!r}")
        return np.arange(0, n, step, dtype=np.int64)
    if rule in ("D", "B", "1D"):
        return np.arange(n, dtype=np.int64)
    head = rule.lstrip("0123456789")
    alias = rule[: len(rule) - len(head)] + _ALIASES.get(head, head)
    try:
        offset = pd.tseries.frequencies.to_offset(alias)
    except ValueError:
        raise ValueError(f"schedule {rule!r} is not a pandas offset alias (try 'W', 'MS', 'QS', 'YS' or an int)") from None
    start = offset.rollback(dates[0].normalize()) if hasattr(offset, "rollback") else dates[0]
    bounds = pd.date_range(start, dates[-1], freq=offset)
    idx = dates.searchsorted(bounds, "left")
    idx = np.unique(np.r_[0, idx[idx < n]])
    return idx.astype(np.int64)
