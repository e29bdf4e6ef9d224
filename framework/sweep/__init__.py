"""Many runs at once: a grid of strategy parameters times seeds, serially or on a Dask cluster (docs/design.md)."""

from .plan import RunSpec, parse_baseline, parse_grid, parse_seeds, plan_runs
from .runner import SweepResult, sweep

__all__ = ["RunSpec", "parse_baseline", "SweepResult", "parse_grid", "parse_seeds", "plan_runs", "sweep"]
