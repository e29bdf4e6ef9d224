"""`seqalpha run --workers N`: one run's independent fits (every retrain, every ensemble seed) on a Dask cluster.

Each fit is a task that stores its model in the shared model cache; the run then goes on as
usual in this process and finds every model there, so its numbers equal a serial run's with the
same thread count. The cache directory must be on storage every worker sees
(``SEQALPHA_CACHE_DIR``); a strategy with ``cache = False`` gets a temporary one for the run.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..strategy import Strategy, StrategyError
from .cluster import RESOURCE, placement
from .storable import check_models_travel
from .task import StrategyRef, panel_for, worker_address

_DATASETS: dict[tuple, Any] = {}  # per worker process: the Dataset of a (data, strategy parameters) pair


@dataclass(frozen=True)
class FitTask:
    strategy: StrategyRef
    overrides: dict
    data: Any  # a URI or a Panel
    bar: int  # the retrain bar
    member: int  # index into Trainer.members()
    threads: int
    cache_dir: str


def _trainer(task: FitTask):
    from ..backtest.dataset import Dataset
    from ..backtest.run import strategy_plugins
    from ..backtest.trainer import Trainer
    from ..model import ModelCache, takes_seed
    from ..plugins import collect_registries, run_manager
    from ..progress import Progress

    cls = task.strategy.load()
    strategy = cls(**task.overrides)
    registries = collect_registries(run_manager(*strategy_plugins(strategy)))
    data = task.data if task.data is not None else strategy.data
    panel = panel_for(data, cls) if isinstance(data, str) else data
    key = (data if isinstance(data, str) else id(data), repr(sorted(strategy.params().items())))
    if key not in _DATASETS:
        _DATASETS[key] = Dataset.build(strategy, panel, registries.features)
    entry = registries.models.get(strategy.model)
    params = dict(strategy.model_params)
    if takes_seed(entry.factory) and "seed" not in params:
        params["seed"] = strategy.seed
    return Trainer(strategy, _DATASETS[key], entry, params, ModelCache(task.cache_dir), Progress(False), task.threads)


def fit_task(task: FitTask) -> dict:
    """Fit one member of one retrain into the cache (a hit if another worker already did)."""
    from ..threads import pin_threads

    t0 = time.perf_counter()
    pin_threads(task.threads)
    trainer = _trainer(task)
    _, train, valid = trainer.slices(task.bar)
    params, seed = trainer.members()[task.member]
    _, info = trainer.fit_member(params, train, valid, seed)
    return {"bar": task.bar, "seed": seed, "cached": bool(info.get("cached")), "worker": worker_address(),
            "seconds": time.perf_counter() - t0}


@contextlib.contextmanager
def _cache_for(strategy: Strategy) -> Iterator[str]:
    """The cache directory the fits go to: the usual one, or a temporary one when the strategy turns caching off."""
    from ..model import cache_dir

    if strategy.cache:
        yield str(cache_dir())
        return
    with tempfile.TemporaryDirectory(prefix="seqalpha-fits-") as tmp:
        before = os.environ.get("SEQALPHA_CACHE_DIR")
        os.environ["SEQALPHA_CACHE_DIR"] = tmp
        try:
            yield tmp
        finally:
            if before is None:
                os.environ.pop("SEQALPHA_CACHE_DIR", None)
            else:
                os.environ["SEQALPHA_CACHE_DIR"] = before


def run_on_cluster(cls: type[Strategy], overrides: dict, data: Any, out, client, threads: int, say=None, **run_kwargs):
    """Fit every model of the run on the cluster, then run it here from the cache (run_backtest's result)."""
    from ..backtest import WalkForward, run_backtest
    from ..threads import pin_threads

    pin_threads(threads)
    strategy = cls(**overrides)
    if strategy.model_params.get("warm_start"):  # each refit starts from the previous one: nothing to fan out
        (say or (lambda line: None))("warm-started refits depend on each other: running them in order here")
        return run_backtest(cls, data=data, out=out, threads=threads, **run_kwargs, **overrides)
    check_models_travel(strategy)  # models come back through the cache: refuse one it cannot store safely
    ref = StrategyRef.of(cls)
    uri = data if data is not None else strategy.data
    panel = panel_for(uri, cls) if isinstance(uri, str) else uri
    calendar = WalkForward.of(strategy, panel.dates)
    say = say or (lambda line: None)
    with _cache_for(strategy) as cache:
        n_members = _member_count(strategy)
        tasks = [FitTask(ref, overrides, uri, t, m, threads, cache)
                 for t in calendar.retrain_bars for m in range(n_members)]
        resources, per_task = placement(client, threads)
        if per_task != threads:
            raise StrategyError(f"the cluster's workers do not advertise the '{RESOURCE}' resource, so their fits "
                                f"cannot use {threads} threads like this run: start them with --nthreads {threads} "
                                f"--resources {RESOURCE}=1")
        futures = [client.submit(fit_task, t, pure=False, retries=2, resources=resources,
                                 key=f"seqalpha-fit-{t.bar}-{t.member}-{time.time_ns()}") for t in tasks]
        say(f"fitting {len(tasks)} models on the cluster ({len(calendar.retrain_bars)} retrains x {n_members} "
            f"members){f'; dashboard {client.dashboard_link}' if getattr(client, 'dashboard_link', None) else ''}")
        done = client.gather(futures)
        say(f"fitted {len(done)} models on {len({d['worker'] for d in done})} workers; running the loop here")
        overrides = {**overrides, "cache": True}
        return run_backtest(cls, data=panel, out=out, threads=threads, **run_kwargs, **overrides)


def _member_count(strategy: Strategy) -> int:
    """Models one retrain fits (Trainer.members)."""
    from ..backtest.run import strategy_plugins
    from ..backtest.trainer import member_seeds
    from ..plugins import collect_registries, run_manager

    entry = collect_registries(run_manager(*strategy_plugins(strategy))).models.get(strategy.model)
    return len(member_seeds(strategy, entry.factory))
