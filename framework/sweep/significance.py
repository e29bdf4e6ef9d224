"""Is a grid point any good at all? Its mean rank IC against zero, and a grid point against the baseline, with a
standard error that counts both the seeds and the days (docs/metrics.md, "A sweep point's standard error").

For n seeds with run means m_i (each the mean of its daily rank IC series) and run standard errors s_i (the
run's ``rank_ic_se``, Newey-West over its days)::

    SE^2 = var(m_i, ddof=1) / n  +  mean(s_i^2)

The seeds share the test days. A run's mean is truth + day noise + seed noise; the day noise is largely the
same for every seed (the same market, the same days), so it does not average out over seeds and is not seen in
their spread. The spread over seeds measures the seed noise (it shrinks as 1/n); each run's own s_i measures
the day noise, which is kept whole. With correlation rho between the seeds' day noise, the true variance of the
point's mean is var_seed / n + s^2 (rho + (1 - rho) / n) <= var_seed / n + s^2 <= E[SE^2] for every rho in
[0, 1]: conservative, and never smaller than either part alone. With one seed it is the run's own s_1.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

NOISE_SE = 2.0
NO_SIGNAL = "no signal"


def combined_se(means, ses) -> float:
    """The standard error of a point's mean over seeds (module docstring); NaN when a run has no finite SE."""
    m = np.asarray(means, dtype=np.float64)
    s = np.asarray(ses, dtype=np.float64)
    keep = np.isfinite(m)
    m, s = m[keep], s[keep]
    n = len(m)
    if n == 0 or not np.isfinite(s).all():
        return float("nan")
    between = float(np.var(m, ddof=1)) / n if n > 1 else 0.0
    return float(np.sqrt(between + float(np.mean(s ** 2))))


def signal_verdict(mean: float, se: float) -> str:
    """"no signal" when |mean| <= 2 SE, else "positive" or "negative" (a reversed signal); "" when unknown."""
    if not (np.isfinite(mean) and np.isfinite(se)):
        return ""
    if abs(mean) <= NOISE_SE * se:
        return NO_SIGNAL
    return "positive" if mean > 0 else "negative"


def point_significance(group: pd.DataFrame, metric: str = "rank_ic") -> dict:
    """For the runs of one grid point: the mean of ``metric``, its standard error and the verdict."""
    means = group[metric].astype(float) if metric in group else pd.Series(dtype=float)
    ses = group[f"{metric}_se"].astype(float) if f"{metric}_se" in group else pd.Series(np.nan, index=means.index)
    se = combined_se(means, ses)
    mean = float(means.mean()) if len(means) else float("nan")
    return {f"{metric} se": se, "signal": signal_verdict(mean, se)}


def difference_se(out: Path | None, run_a: str, run_b: str, se_a: float, se_b: float) -> float:
    """The standard error of the mean daily rank IC difference between two runs on the same days: from their
    ic.parquet (the daily difference series, ``mean_standard_error`` with the run's horizon), else, when a table
    cannot be read, sqrt(se_a^2 + se_b^2) (the two runs taken as independent: larger when their days agree)."""
    from ..metrics import mean_standard_error
    from ..runs import schema

    try:
        if out is None:
            raise OSError("no sweep folder")
        a, b = (pd.read_parquet(schema.table_path(Path(out) / run, "ic")) for run in (run_a, run_b))
        both = a[["date", "rank_ic"]].merge(b[["date", "rank_ic"]], on="date", suffixes=("_a", "_b"))
        config = json.loads((Path(out) / run_a / schema.CONFIG).read_text())
        horizon = int((config.get("params") or {}).get("horizon", 1))
        return mean_standard_error((both["rank_ic_a"] - both["rank_ic_b"]).to_numpy(np.float64), horizon)
    except (OSError, ValueError, KeyError):
        return float(np.sqrt(se_a ** 2 + se_b ** 2))
