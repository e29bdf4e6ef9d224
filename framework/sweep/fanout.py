"""`seqalpha run --workers`: one run's independent fits (every retrain, every ensemble seed) on a Dask cluster.

The run is resolved once, here on the client (framework/resolved.py). Each fit is a task that
stores its model in a model-cache folder named in the task; the run then goes on as usual in
this process and finds every model there, so its numbers equal a serial run's with the same
thread count. With ``cache=True`` that folder is the user's cache (on storage every worker
sees); with ``cache=False`` it is a temporary folder for this run only, and ``config.json``
still says ``cache: false``. Nothing is passed through the process environment.
"""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ClusterError
from ..plugins import PluginFiles
from ..resolved import ResolvedRun, resolve_run
from ..strategy import Strategy
from .cluster import RESOURCE, placement
from .storable import check_models_travel
from .task import StrategyRef, panel_for, worker_address

_DATASETS: dict[tuple, Any] = {}  # per worker process: the Dataset of a (data, run identity) pair


@dataclass(frozen=True)
class FitTask:
    strategy: StrategyRef
    overrides: dict
    data: Any  # a URI or a Panel
    bar: int  # the retrain bar
    member: int  # index into Trainer.members()
    threads: int
    cache_dir: str  # the model-cache folder the fit is stored in (absolute, chosen on the client)
    identity: str  # the client's ResolvedRun.identity_digest(with_data=False): the worker must resolve the same run
    plugins: PluginFiles = PluginFiles()


def _resolve(task: FitTask) -> ResolvedRun:
    cls = task.strategy.load()
    run = resolve_run(cls, task.overrides, task.data, threads=task.threads, plugins=task.plugins.load(),
                      fits_from=task.cache_dir)
    if run.identity_digest(with_data=False) != task.identity:
        raise ClusterError(f"worker {worker_address()} resolves another run than the client (its strategy file, "
                           "plugins or installed code differ): give every worker the same files and packages")
    return run


def _trainers(task: FitTask) -> list:
    """The trainers of the run's fits: the run's Trainer, or a blend's member Trainers (each on its own Dataset,
    with the blend's embargo). Datasets are built once per worker process and run."""
    from ..backtest.blend import make_trainer
    from ..backtest.dataset import Dataset
    from ..backtest.trainer import Trainer
    from ..features.store import store_for
    from ..model import ModelCache
    from ..progress import Progress

    run = _resolve(task)
    data = task.data if task.data is not None else run.instance.data
    panel = panel_for(data, type(run.instance), run.plugin_objects) if isinstance(data, str) else data
    key = (data if isinstance(data, str) else id(data), task.identity)
    if key not in _DATASETS:
        from ..data.quality import prepare

        panel, _ = prepare(panel, run.instance.data_policy, warn=False,
                           thresholds=run.instance.quality_thresholds())  # as the run itself (warned there)
        store = store_for(run.cache, task.cache_dir)
        dataset = Dataset.build(run.instance, panel, run.registries.features, store, definitions=run.features)
        _DATASETS[key] = dataset, [(t.run, t.dataset) for t in getattr(
            make_trainer(run, dataset, None, Progress(False), store), "trainers", [])]
    dataset, members = _DATASETS[key]
    cache = ModelCache(task.cache_dir)
    if not members:
        return [Trainer(run, dataset, cache, Progress(False))]
    return [Trainer(member, member_dataset, cache, Progress(False)) for member, member_dataset in members]


def fit_slots(trainers: list) -> list[tuple]:
    """(trainer, index into its members()) of every model one retrain fits, in the order the tasks number them."""
    return [(trainer, m) for trainer in trainers for m in range(len(trainer.members()))]


def n_fits(run: ResolvedRun) -> int:
    """How many models one retrain fits: one per seed of the model (of each member, for a blend)."""
    return sum(len(m.members) for m in run.member_runs) if run.member_runs else len(run.members)


def fit_task(task: FitTask) -> dict:
    """Fit one member of one retrain into the cache folder (a hit if another worker already did)."""
    from ..threads import pin_threads

    t0 = time.perf_counter()
    pin_threads(task.threads)
    trainer, member = fit_slots(_trainers(task))[task.member]
    _, train, valid = trainer.slices(task.bar)
    params, seed = trainer.members()[member]
    _, info = trainer.fit_member(params, train, valid, seed)
    return {"bar": task.bar, "seed": seed, "cached": bool(info.get("cached")), "worker": worker_address(),
            "seconds": time.perf_counter() - t0}


@contextlib.contextmanager
def _fits_folder(run: ResolvedRun) -> Iterator[str]:
    """The folder the fits go to: the run's cache folder, or a temporary one when the run does not cache."""
    if run.cache_dir is not None:
        yield run.cache_dir
        return
    with tempfile.TemporaryDirectory(prefix="seqalpha-fits-") as tmp:
        yield tmp


def run_on_cluster(cls: type[Strategy], overrides: dict, data: Any, out, client, threads: int, say=None,
                   plugins: PluginFiles | None = None, progress=None, resume: bool = False, force: bool = False,
                   observers: tuple = ()):
    """Fit every model of the run on the cluster, then run it here from those fits (run_backtest's result).
    ``observers``: plugin objects for this process's run only (e.g. tracking), never shipped to the workers."""
    from ..backtest import WalkForward
    from ..backtest.run import execute
    from ..threads import pin_threads

    say = say or (lambda line: None)
    pin_threads(threads)
    plugins = plugins or PluginFiles()
    modules = plugins.load()
    run = resolve_run(cls, overrides, data, threads=threads, plugins=[*modules, *observers])
    if run.warm_start:  # each refit starts from the previous one: nothing to fan out
        say("warm-started refits depend on each other: running them in order here")
        return execute(run, data=data, out=out, progress=progress, resume=resume, force=force)
    for one in run.member_runs or (run,):  # a blend's members travel one by one
        _check_cacheable(one)
    if out is not None:  # refuse a finished run's folder or a checkpoint before fitting anything on the cluster
        from ..runs.folder import check_start

        check_start(out, resume, force)
    for one in run.member_runs or (run,):  # models come back through the cache: refuse one it cannot store safely
        check_models_travel(one)
    ref = StrategyRef.of(cls)
    uri = data if data is not None else run.instance.data
    panel = panel_for(uri, cls, tuple(modules)) if isinstance(uri, str) else uri
    calendar = WalkForward.of(run.instance, panel.dates)
    with _fits_folder(run) as folder:
        if run.cache_dir is None:
            run = dataclasses.replace(run, cache_dir=str(Path(folder).resolve()))  # recorded: the identity is unchanged
        n_members = n_fits(run)
        tasks = [FitTask(ref, overrides, uri, t, m, threads, folder, run.identity_digest(with_data=False), plugins)
                 for t in calendar.retrain_bars for m in range(n_members)]
        resources, per_task = placement(client, threads)
        if per_task != threads:
            raise ClusterError(f"the cluster's workers do not advertise the '{RESOURCE}' resource, so their fits "
                               f"cannot use {threads} threads like this run: start them with --nthreads {threads} "
                               f"--resources {RESOURCE}=1")
        futures = [client.submit(fit_task, t, pure=False, retries=2, resources=resources,
                                 key=f"seqalpha-fit-{t.bar}-{t.member}-{time.time_ns()}") for t in tasks]
        say(f"fitting {len(tasks)} models on the cluster ({len(calendar.retrain_bars)} retrains x {n_members} "
            f"members){f'; dashboard {client.dashboard_link}' if getattr(client, 'dashboard_link', None) else ''}")
        done = client.gather(futures)
        say(f"fitted {len(done)} models on {len({d['worker'] for d in done})} workers; running the loop here")
        return execute(run, data=panel, out=out, progress=progress, resume=resume, force=force)


def _check_cacheable(run: ResolvedRun) -> None:
    """Models travel from the workers through the model cache: refuse, in one line, a model whose code version
    cannot be read (it could never be found there)."""
    if run.code.get("model") is None:
        raise ClusterError(f"model {run.model!r}: its source cannot be read, so its fits cannot be found in the "
                           "model cache the workers fill; run without --workers")
