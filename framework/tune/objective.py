"""What a trial is scored on: a metric of the catalogue (and which way is better), one run per seed on the
selection span, and the mean over the seeds.

The runs are sweep tasks (framework/sweep/task.py): the same ``run_task`` a sweep's worker executes, on the
selection panel only (span.py), with the trial's values as overrides.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..registry import did_you_mean
from ..strategy import StrategyError

MAXIMIZE, MINIMIZE = "maximize", "minimize"

#: Catalogue metrics a search may optimise, with the way that is better (framework/metrics/catalogue.py).
DIRECTIONS: dict[str, str] = {
    **dict.fromkeys(("ic", "icir", "rank_ic", "rank_icir", "annual_return", "sharpe", "max_drawdown",
                     "total_return", "excess_annual_return", "information_ratio", "excess_max_drawdown",
                     "qlib_excess_annual_return", "qlib_information_ratio", "qlib_excess_max_drawdown",
                     "ic_seed_mean", "rank_ic_seed_mean"), MAXIMIZE),
    **dict.fromkeys(("annual_volatility", "turnover", "turnover_per_rebalance", "ic_seed_std", "rank_ic_seed_std"),
                    MINIMIZE),
}
#: Catalogue metrics that are not a strategy's quality (the benchmark's, counts, timings, lists), and why.
NOT_OBJECTIVES: dict[str, str] = {
    **dict.fromkeys(("benchmark_annual_return", "benchmark_max_drawdown"), "the benchmark's, not the strategy's"),
    **dict.fromkeys(("n_rebalances", "n_retrains", "n_model_fits", "n_cache_hits", "n_assets", "n_delisted_sold",
                     "n_refused_at_limit", "periods_per_year", "n_ic_dates"), "a count"),
    **dict.fromkeys(("retrain_seconds", "seconds"), "a timing"),
    **dict.fromkeys(("seeds", "ic_per_seed", "rank_ic_per_seed", "ic_per_member", "rank_ic_per_member",
                     "blend_members", "blend_weights"), "a list"),
    **dict.fromkeys(("ic_se", "rank_ic_se"), "a standard error (how precise the IC is, not how good)"),
}


def metric_direction(name: str) -> str:
    """"maximize" or "minimize" for a metric the search may optimise; one line for any other name."""
    from ..metrics import BY_NAME

    if name in DIRECTIONS:
        return DIRECTIONS[name]
    if name in NOT_OBJECTIVES:
        raise StrategyError(f"--metric {name}: {NOT_OBJECTIVES[name]}, not something to optimise; choose one of "
                            f"{', '.join(DIRECTIONS)}")
    known = list(DIRECTIONS) + [n for n in BY_NAME if n not in DIRECTIONS]
    raise StrategyError(f"--metric {name}: not a metric of the catalogue (docs/metrics.md).{did_you_mean(name, known)}"
                        f" Metrics to optimise: {', '.join(DIRECTIONS)}")


@dataclass
class TrialRecord:
    """One finished trial: its values, each seed's run (folder, metrics row) and objective, the mean, its status.

    This is what a tracker receives per trial (``tune(on_trial=...)``): ``rows`` are the sweep's results rows,
    every metric of each run, and ``run_dirs`` the run folders."""

    number: int
    params: dict[str, Any]
    seeds: list[int]
    per_seed: dict[int, float] = field(default_factory=dict)
    value: float | None = None
    status: str = "ok"  # "ok" or "failed"
    error: str | None = None
    wall_seconds: float = 0.0
    run_dirs: dict[int, Path] = field(default_factory=dict)
    rows: dict[int, dict] = field(default_factory=dict)


def score_trial(record: TrialRecord, rows: Mapping[int, dict], metric: str) -> TrialRecord:
    """Fill ``record`` from its runs' results rows (one per seed): per-seed metric, mean, status and first error."""
    record.rows = dict(rows)
    for seed in record.seeds:
        row = rows.get(seed) or {"status": "failed", "error": "the run did not finish"}
        if row.get("status") != "ok":
            record.status, record.error = "failed", record.error or f"seed {seed}: {row.get('error')}"
            continue
        value = row.get(metric)
        if value is None or not math.isfinite(float(value)):
            record.status = "failed"
            record.error = record.error or f"seed {seed}: {metric} is not a number (no labelled decision in the span?)"
            continue
        record.per_seed[seed] = float(value)
    if record.status == "ok":
        record.value = sum(record.per_seed.values()) / len(record.per_seed)
    return record
