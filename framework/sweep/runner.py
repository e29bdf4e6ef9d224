"""sweep(): every configuration of a grid times its seeds, one after another or on a Dask cluster.

Each run writes an ordinary run directory under the sweep's folder; ``results.parquet`` has one
row per run; ``summary.md`` and ``report.html`` compare the grid points over seeds (summary.py).
"""

from __future__ import annotations

import contextlib
import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from ..plugins import PluginFiles
from ..resolved import resolve_run
from ..runs import schema
from ..strategy import Strategy, StrategyError
from ..threads import DEFAULT_THREADS, check_threads
from ..util import atomic_write_bytes
from .cluster import RESOURCE, check_scheduler_address
from .plan import RunSpec, baseline_specs, cell, plan_runs
from .task import StrategyRef, Task, run_task

RESULTS = "results.parquet"


@dataclass
class SweepResult:
    """A finished (or interrupted) sweep: its folder, the grid, and one row per run."""

    out: Path
    grid: dict[str, list]
    table: pd.DataFrame  # results.parquet
    baseline: dict | None = None  # the --baseline parameters, when the sweep has a reference point

    def summary(self) -> pd.DataFrame:
        """Per grid point (the baseline first, when there is one): n seeds, mean rank IC, its standard error and
        whether it is a signal (significance.py), then mean, std and worst seed of rank IC, IC, ICIR, Sharpe,
        excess return and IR."""
        from .summary import point_summary

        return point_summary(self.table, list(self.grid))

    def against_baseline(self) -> pd.DataFrame:
        """Each grid point paired with the baseline on the same seeds (empty without a baseline)."""
        from .summary import baseline_comparisons

        return baseline_comparisons(self.table, list(self.grid), self.out)


def sweep(strategy: type[Strategy], grid: dict[str, list] | None = None, seeds: list[int] | None = None,
          out: str | Path = "runs/sweep", data: Any = None, overrides: dict | None = None, client: Any = None,
          workers: int | None = None, scheduler: str | None = None, threads: int = DEFAULT_THREADS,
          resume: bool = False, scatter_data: bool = False, progress: Callable[[str], None] | None = None,
          plugins_dir: str | None = None, baseline: dict | None = None, tracker: Any = None) -> SweepResult:
    """Run ``strategy`` for every grid point and seed; the result's ``table`` has one row per run.

    With no ``client``, ``workers`` or ``scheduler`` the runs go one after another in this process.
    ``workers=N`` starts a local Dask cluster of N processes, ``scheduler="tcp://HOST:PORT"`` joins one,
    ``client`` uses a Dask client you made. Each run uses ``threads`` threads (framework/threads.py).
    ``plugins_dir`` is a folder of plugin files loaded for every run, here and on the workers. ``out`` is made
    absolute here, so every worker writes its run where the client reads it. ``baseline={"model": "linear"}``
    adds a reference point run on the same seeds, against which every grid point is paired (summary.py); its runs
    are rows of the table with ``baseline`` True. ``tracker`` (a
    ``seqalpha.tracking.Tracker``) logs the sweep to MLflow as a parent run with one child per run, from this
    process only, as each run's row comes back.
    """
    grid = dict(grid or {})
    check_threads(threads)
    if sum(x is not None for x in (client, workers, scheduler)) > 1:
        raise StrategyError("give one of client, workers and scheduler")
    if scheduler is not None:
        check_scheduler_address(scheduler)  # before the folder is made or anything runs
    specs = plan_runs(strategy, grid, seeds, overrides)  # every configuration checked before any work starts
    if baseline:
        specs = ([replace(s, baseline=False) for s in specs]
                 + baseline_specs(strategy, dict(baseline), list(grid), seeds, overrides))
    if "data" in grid and (data is not None or scatter_data):
        raise StrategyError("a grid over data cannot be combined with --data or --scatter-data (one panel would "
                            "stand in for every grid point)")
    out = Path(out).absolute()
    plugin_files = PluginFiles.read(plugins_dir)
    _claim_folder(out, resume)
    say = progress or (lambda line: None)
    rows = _finished_rows(out, strategy, specs, data, threads, plugin_files) if resume else {}
    todo = [s for s in specs if s.name not in rows]
    if rows:
        say(f"resuming: {len(rows)} of {len(specs)} runs already complete")
    ref = StrategyRef.of(strategy)
    tasks = [Task(ref, s.overrides, str(out / s.name), s.name, threads, data, _extra(s), plugin_files) for s in todo]

    from ..tracking.sweeps import sweep_study

    with sweep_study(tracker, strategy, out, grid, seeds, overrides, data) as track:
        for row in rows.values():  # finished by an earlier attempt (resume)
            track(row)

        def record(row: dict) -> None:
            rows[row["run_dir"]] = row
            _write_results(out, specs, rows)
            track(row)

        _write_results(out, specs, rows)
        if tasks and client is None and workers is None and scheduler is None:
            for k, task in enumerate(tasks):
                say(f"run {k + 1}/{len(tasks)}: {task.name}")
                record(run_task(task))
                _status(say, rows, len(specs), 0)
        elif tasks:
            _on_cluster(tasks, record, rows, len(specs), client, workers, scheduler, threads, scatter_data, data, say)
        table = _write_results(out, specs, rows)
        from .summary import write_summary

        write_summary(out, table, list(grid), baseline)
    return SweepResult(out, grid, table, dict(baseline) if baseline else None)


def _claim_folder(out: Path, resume: bool) -> None:
    """A sweep writes into a new folder; an existing one only with resume (it may be half done)."""
    if out.exists() and any(out.iterdir()) and not resume:
        raise StrategyError(f"sweep folder {out} already exists: pass --resume to finish it, or choose another --out")
    out.mkdir(parents=True, exist_ok=True)


def _extra(spec: RunSpec) -> dict:
    extra = {k: cell(v) for k, v in spec.point}
    if spec.baseline is not None:
        extra["baseline"] = spec.baseline
    return {**extra, "seed": spec.seed}


def _finished_rows(out: Path, strategy: type[Strategy], specs: list[RunSpec], data, threads: int,
                   plugin_files: PluginFiles) -> dict[str, dict]:
    """Rows of runs whose directory is complete (metrics.json) for the same resolved run (parameters, seed, data,
    thread count and code: ``ResolvedRun.identity_digest``); a complete run whose report is missing or cut short
    gets the report rebuilt."""
    from ..runs.compare import flat_metrics

    previous = {}
    if (out / RESULTS).exists():
        previous = {r["run_dir"]: r for r in pd.read_parquet(out / RESULTS).to_dict("records")}
    modules = plugin_files.load()
    rows = {}
    for spec in specs:
        folder = out / spec.name
        if not (folder / schema.METRICS).is_file() or not (folder / schema.CONFIG).is_file():
            continue
        try:
            config = json.loads((folder / schema.CONFIG).read_text())
        except (OSError, ValueError):
            continue
        wanted = resolve_run(strategy, spec.overrides, data, threads=threads, plugins=modules)
        if config.get("identity") != wanted.identity_digest(with_data=False):
            continue
        if not report_is_whole(folder / schema.REPORT):  # killed while writing the report: the run itself is whole
            from ..report import build_report

            build_report(folder)
        metrics = json.loads((folder / schema.METRICS).read_text())
        old = previous.get(spec.name, {})
        rows[spec.name] = {**flat_metrics(metrics), **_extra(spec), "status": "ok", "error": None,
                           "worker": old.get("worker", "earlier"), "wall_seconds": old.get("wall_seconds"),
                           "run_dir": spec.name, "threads": config.get("threads")}
    return rows


def _write_results(out: Path, specs: list[RunSpec], rows: dict[str, dict]) -> pd.DataFrame:
    """results.parquet in plan order (runs not finished yet are left out), written atomically."""
    table = pd.DataFrame([rows[s.name] for s in specs if s.name in rows])
    if not table.empty:
        first = ["seed", "status", "error", "worker", "wall_seconds", "run_dir", "threads"]
        lead = [c for c in table.columns if c not in first and not _is_metric(c)]
        rest = sorted((c for c in table.columns if c not in lead and c not in first), key=_metric_order)
        table = table[lead + first + rest]
    atomic_write_bytes(out / RESULTS, table.to_parquet(index=False))
    return table


@functools.cache
def _catalogue_positions() -> dict[str, int]:
    from ..metrics import CATALOGUE

    return {m.name: k for k, m in enumerate(CATALOGUE)}


def _metric_order(column: str) -> tuple[int, str]:
    """Metric columns in the catalogue's order (metrics.json is written with sorted keys, results in any order)."""
    order = _catalogue_positions()
    return order.get(column.split(".")[0], len(order)), column


def _is_metric(column: str) -> bool:
    from ..metrics import BY_NAME

    return column.split(".")[0] in BY_NAME


def _status(say, rows: dict, total: int, running: int, dashboard: str | None = None) -> None:
    """One progress line; `running` counts submitted tasks not finished yet, so it includes those still queued."""
    failed = sum(r["status"] == "failed" for r in rows.values())
    say(f"runs: {len(rows) - failed} done, {running} queued or running, {failed} failed, of {total}"
        + (f" (dashboard {dashboard})" if dashboard else ""))


def _on_cluster(tasks: list[Task], record, rows: dict, total: int, client, workers, scheduler, threads: int,
                scatter_data: bool, data, say) -> None:
    """Submit every task to Dask; record rows as they finish; Ctrl-C cancels what has not finished."""
    from distributed import as_completed

    from .cluster import dask_client, placement

    with contextlib.ExitStack() as stack:
        if client is None:
            client = stack.enter_context(dask_client(workers, scheduler, threads))
        resources, per_task = placement(client, threads)
        if per_task != threads:
            say(f"the workers do not advertise the '{RESOURCE}' resource: each worker thread runs its own "
                "single-threaded run (see framework/sweep/cluster.py)")
        shipped = client.scatter(_client_panel(tasks[0], data), broadcast=True) if scatter_data else None
        tasks = [replace(t, threads=per_task) for t in tasks]
        futures = [client.submit(run_task, t, shipped, key=f"seqalpha-run-{t.name}-{time.time_ns()}", pure=False,
                                 retries=2, resources=resources) for t in tasks]
        dashboard = getattr(client, "dashboard_link", None)
        _status(say, rows, total, len(futures), dashboard)
        pending = set(futures)
        try:
            for future in as_completed(futures):
                pending.discard(future)
                try:
                    row = future.result()
                except Exception as exc:  # the task itself died (e.g. its workers were killed too often)
                    task = tasks[futures.index(future)]
                    row = {**task.extra, "status": "failed", "error": f"{type(exc).__name__}: {exc}",
                           "worker": None, "wall_seconds": None, "run_dir": task.name, "threads": task.threads}
                record(row)
                _status(say, rows, total, len(pending), dashboard)
        except KeyboardInterrupt:
            client.cancel(list(pending))
            say(f"interrupted: {len(pending)} runs cancelled, {len(rows)} kept in results.parquet")
            raise


def _client_panel(task: Task, data):
    """--scatter-data: the panel loaded here, in the client, to ship to the workers."""
    from .task import panel_for

    cls = task.strategy.load()
    uri = data if data is not None else cls(**task.overrides).data
    if not isinstance(uri, str):
        return uri
    return panel_for(uri, cls)


def report_is_whole(path: Path) -> bool:
    """Whether a report.html exists and ends as a page does (a report cut short by a kill is rebuilt)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            fh.seek(max(0, fh.tell() - 64))
            return b"</html>" in fh.read().lower()
    except OSError:
        return False
