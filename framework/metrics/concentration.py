"""The concentration check: does a result rest on a handful of bars? (issue 22: a few bad ticks decided a run.)

For the strategy's and the benchmark's per-bar returns: the annual return (compounded, as ``annual_return``)
with and without the ``k`` largest single-bar returns in the direction of the result (the largest gains of a
positive result, the largest losses of a negative one; "without" books 0 on those bars). The result is
concentrated when that flips its sign or halves it."""

from __future__ import annotations

import numpy as np
import pandas as pd

#: How many single-bar returns are taken out.
BARS = 5
#: A bar is outsized beyond this many robust SDs (1.4826 MAD) of the series' bar returns: a crash day of a
#: broad index is 5-8, a one-bar x100 price error in a 40-name equal-weight benchmark is hundreds.
OUTSIZED = 10.0


def _annual(r: np.ndarray, ppy: int) -> float:
    return float(np.prod(1.0 + r) ** (ppy / len(r)) - 1.0) if len(r) else float("nan")


def concentration(returns: pd.Series, ppy: int, k: int = BARS) -> dict:
    """{"annual_return", "without" (the annual return without the k bars), "concentrated", "bars": [{"date",
    "return"}] largest first} of one return series indexed by date."""
    r = returns.to_numpy(np.float64)
    r = np.where(np.isfinite(r), r, 0.0)
    full = _annual(r, ppy)
    if len(r) <= k or not np.isfinite(full):
        return {"annual_return": full, "without": float("nan"), "flips_or_halves": False, "outsized": False,
                "concentrated": False, "bars": []}
    sign = 1.0 if full >= 0 else -1.0
    top = np.argsort(-sign * r, kind="stable")[:k]
    rest = r.copy()
    rest[top] = 0.0
    without = _annual(rest, ppy)
    flipped = np.sign(without) != np.sign(full) and full != 0
    halved = abs(without) <= 0.5 * abs(full)
    sd = 1.4826 * float(np.median(np.abs(r - np.median(r))))
    big = np.abs(r[top]) > OUTSIZED * sd if sd > 0 else np.abs(r[top]) > 0
    dates = pd.DatetimeIndex(returns.index)
    return {"annual_return": full, "without": without, "flips_or_halves": bool(flipped or halved),
            "outsized": bool(big.any()), "concentrated": bool((flipped or halved) and big.any()),
            "bars": [{"date": str(dates[j].date()), "return": float(r[j]), "robust_sds": float(abs(r[j]) / sd)
                      if sd > 0 else float("inf")} for j in top]}


def check_concentration(returns: pd.DataFrame, ppy: int, k: int = BARS) -> dict[str, dict]:
    """``concentration`` of the "strategy" and "benchmark" columns of a run's returns table (date column)."""
    frame = returns.set_index("date") if "date" in returns else returns
    return {name: concentration(frame[name], ppy, k) for name in ("strategy", "benchmark") if name in frame}


def concentration_message(found: dict[str, dict]) -> str | None:
    """The run's warning naming the bars, or None when neither result is concentrated."""
    parts = []
    for name, c in found.items():
        if c["concentrated"]:
            bars = ", ".join(f"{b['date']} {b['return']:+.2%}" for b in c["bars"])
            parts.append(f"the {name}'s annual return {c['annual_return']:+.2%} is {c['without']:+.2%} without its "
                         f"{len(c['bars'])} largest single-bar returns ({bars})")
    if not parts:
        return None
    return ("concentration: " + "; ".join(parts) + ". A few bars decide the result: check them (bad ticks? "
            "seqalpha data check) before trusting it.")
