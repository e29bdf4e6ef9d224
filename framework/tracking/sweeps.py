"""A sweep as an MLflow parent run with one child per grid point and seed, logged by the client as each run's row
comes back (serial or from a Dask worker): the workers never touch the store."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .writer import Tracker, study


@contextlib.contextmanager
def sweep_study(tracker: Tracker | None, strategy: type, out: Path, grid: dict[str, list], seeds: list[int] | None,
                overrides: dict | None, data: Any) -> Iterator[Callable[[dict], None]]:
    """The parent run of a sweep in ``out`` for the block; yields ``log(row)``, which logs a results row's run
    folder as a child (a failed run as a FAILED child with its error). The sweep's results.parquet, summary.md and
    report.html are attached to the parent when the block ends. With ``tracker=None`` ``log`` does nothing."""
    if tracker is None:
        yield lambda row: None
        return
    file = getattr(sys.modules.get(strategy.__module__), "__file__", None)
    params = {"grid": {k: repr(v) for k, v in grid.items()}, "seeds": repr(seeds),
              "set": {k: repr(v) for k, v in (overrides or {}).items()}, "data": data if isinstance(data, str) else None}
    tags = {"seqalpha.kind": "sweep", "seqalpha.strategy": strategy.__name__, "seqalpha.strategy_file": file,
            "seqalpha.sweep_dir": str(out), "mlflow.source.name": file}
    experiment = tracker.experiment or strategy.__name__
    with study(tracker, out.name, experiment, params={k: v for k, v in params.items() if v not in (None, {})},
               tags=tags) as parent:
        logged: set[str] = set()

        def log(row: dict) -> None:
            name = str(row["run_dir"])
            if name in logged:
                return
            logged.add(name)
            point = {k: row.get(k) for k in grid}
            tags = {"seqalpha.sweep.point": repr(point), "seqalpha.seed": row.get("seed"),
                    "seqalpha.worker": row.get("worker")}
            if row.get("status") == "ok":
                parent.log_run(out / name, name=name, tags=tags)
            else:
                parent.log_trial(name, {**point, "seed": row.get("seed")}, status="FAILED",
                                 tags={**tags, "seqalpha.error": row.get("error")})

        yield log
        parent.log_artifacts([out / "results.parquet", out / "summary.md", out / "report.html"])
