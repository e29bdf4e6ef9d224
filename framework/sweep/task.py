"""One run of a sweep, as a worker executes it: threads pinned, the panel loaded once per worker, the run
directory written (or continued after a killed attempt), a results row returned."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data import DataError, Panel, load_panel, parse_uri
from ..plugins import PluginFiles
from ..strategy import Strategy, load_strategy_file

#: Panels this process has loaded, by data URI: a worker reads each data folder once for all its runs.
_PANELS: dict[str, Panel] = {}


@dataclass(frozen=True)
class StrategyRef:
    """How a worker gets the strategy class: its file and class name (loaded there, with the file's plugins), or,
    for a class not defined in a file, the class pickled by value."""

    name: str
    file: str | None = None
    pickled: bytes | None = None

    @classmethod
    def of(cls, strategy: type[Strategy]) -> StrategyRef:
        module = sys.modules.get(strategy.__module__)
        file = getattr(module, "__file__", None)
        if file and Path(file).is_file():
            return cls(strategy.__name__, str(Path(file).resolve()))
        import cloudpickle

        return cls(strategy.__name__, pickled=cloudpickle.dumps(strategy))

    def load(self) -> type[Strategy]:
        if self.file is not None:
            return load_strategy_file(self.file, self.name)[0]
        import cloudpickle

        return cloudpickle.loads(self.pickled)


@dataclass(frozen=True)
class Task:
    strategy: StrategyRef
    overrides: dict
    out: str  # the run directory
    name: str  # the run directory relative to the sweep's folder
    threads: int
    data: Any = None  # a URI, a Panel (scattered), or None: the strategy's own data
    extra: dict = field(default_factory=dict)  # grid point and seed, copied into the results row
    plugins: PluginFiles = field(default_factory=PluginFiles)  # --plugins-dir files, loaded on the worker


def worker_address() -> str:
    """The Dask worker running this task, or "local" outside a cluster."""
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return "local"


def panel_for(uri: str, strategy: type[Strategy], plugins: tuple = ()) -> Panel:
    """The panel of ``uri``, loaded once per process; a path this worker cannot see is named as such."""
    if uri not in _PANELS:
        from ..plugins import collect_registries, run_manager, strategy_plugins

        scheme, location, _ = parse_uri(uri)
        if location and not Path(location).expanduser().exists():
            raise DataError(f"data {uri!r}: {location} is not visible on worker {worker_address()}: put the "
                                    "data on storage every worker sees, or pass --scatter-data to ship the panel")
        sources = collect_registries(run_manager(*plugins, *strategy_plugins(strategy))).data_sources
        _PANELS[uri] = load_panel(uri, sources)
    return _PANELS[uri]


def run_task(task: Task, shipped: Panel | None = None) -> dict:
    """Run one configuration into its run directory; a results row (status ok or failed, never an exception).

    ``shipped`` is a panel scattered from the client (--scatter-data); Dask passes it as an argument of its own
    because it resolves futures only there, not inside the Task."""
    from ..backtest import run_backtest
    from ..backtest.checkpoint import CheckpointMismatch
    from ..runs.compare import flat_metrics
    from ..threads import pin_threads

    t0 = time.perf_counter()
    row: dict[str, Any] = {**task.extra, "status": "ok", "error": None}
    try:
        pin_threads(task.threads)
        cls = task.strategy.load()
        plugins = task.plugins.load()
        data = shipped if shipped is not None else task.data
        if data is None:
            data = cls(**task.overrides).data
        if isinstance(data, str):
            data = panel_for(data, cls, tuple(plugins))
        # a grid over data: `data` is a parameter run_backtest also takes as an argument, so the strategy is
        # passed as an instance with every override (its identity is then the one resume checks)
        strategy, overrides = (cls(**task.overrides), {}) if "data" in task.overrides else (cls, task.overrides)
        try:
            result = run_backtest(strategy, data=data, out=task.out, plugins=plugins, progress=False, resume=True,
                                  threads=task.threads, **overrides)
        except CheckpointMismatch:  # a checkpoint of an earlier attempt with other code or data: start over
            result = run_backtest(strategy, data=data, out=task.out, plugins=plugins, progress=False, resume=False,
                                  force=True, threads=task.threads, **overrides)
        row.update({**flat_metrics(result.metrics), **task.extra})  # a grid key keeps its own value
    except Exception as exc:  # recorded as a failed run; the sweep goes on
        row.update(status="failed", error=f"{type(exc).__name__}: {exc}")
    row.update(worker=worker_address(), wall_seconds=time.perf_counter() - t0, run_dir=task.name,
               threads=task.threads)
    return row
