"""run_backtest: a strategy end to end, from its data to its run directory.

The steps, each in its own module: plugins for this run (framework/plugins.py), the
data and the Dataset (dataset.py), the walk-forward calendar (walkforward.py), the
clock with its trainer (clock.py, trainer.py), the engine on the test span
(framework/engine), the result (assemble.py), and the run directory (framework/runs).
"""

from __future__ import annotations

import inspect
import os
import time
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from .. import engine, metrics
from ..data import Panel, load_panel
from ..data import quality as data_quality
from ..features.store import store_for
from ..model import ModelCache, unknown_params
from ..plugins import Registries, run_manager
from ..progress import Progress, Timer
from ..registry import did_you_mean
from ..resolved import ResolvedRun, resolve_run
from ..runs import BacktestResult
from ..runs import folder as run_folder
from ..runs import schema as run_schema
from ..strategy import Strategy, StrategyError
from ..threads import DEFAULT_THREADS, pin_threads
from .assemble import assemble
from .blend import make_trainer
from .checkpoint import Checkpoint, run_fingerprint
from .clock import LoopState, run_clock
from .dataset import Dataset, benchmark_prices
from .walkforward import WalkForward


def run_backtest(strategy: Strategy | type[Strategy], data: str | Panel | None = None, out: str | Path | None = None,
                 plugins: Iterable[object] = (), progress: bool | str | None = None, resume: bool = False,
                 threads: int = DEFAULT_THREADS, force: bool = False, **overrides) -> BacktestResult:
    """Run a strategy end to end and return its BacktestResult; with ``out``, write the run directory there.

    ``strategy`` is a Strategy subclass or instance; ``data`` a URI or a Panel that overrides the
    strategy's ``data``; ``plugins`` extra plugin objects (modules or classes with @hookimpl functions)
    registered for this run only, with the strategy file's own hookimpls; ``overrides`` set parameters.
    With ``out``, the loop checkpoints into ``out/checkpoint/`` after each finished retrain segment;
    ``resume=True`` continues from there (same numbers as a run that was never stopped). The run
    directory holds the same files as ``seqalpha run`` writes, report.html included. ``threads`` is the
    number of threads torch and the BLAS/OpenMP pools use (framework/threads.py; recorded in config.json).
    A run directory is locked while the run writes there; a checkpoint of an unfinished run in it is kept
    unless ``resume`` continues it or ``force`` discards it; a run that fails leaves ``failed.json``.
    """
    run = resolve_run(strategy, overrides, data, threads=threads, plugins=plugins)
    return execute(run, data=data, out=out, progress=progress, resume=resume, force=force)


def execute(run: ResolvedRun, data: str | Panel | None = None, out: str | Path | None = None,
            progress: bool | str | None = None, resume: bool = False, force: bool = False) -> BacktestResult:
    """Run a resolved run (resolved.py) and return its result; ``out``, ``resume`` and ``force`` as in
    ``run_backtest``. Every entry point (run, the --workers fan-out, sweep tasks) ends here."""
    strategy = run.instance
    if resume and out is None:
        raise StrategyError("resume=True needs the run directory (out=...) of the run to continue")
    pin_threads(run.threads)
    manager = run_manager(*run.plugin_objects)
    check_model_params(run)
    rule = portfolio_rule(strategy, run.registries)
    if out is None:
        return _run(run, data, out, manager.hook, Progress(enabled=progress), resume, rule)
    out = Path(out).absolute()
    _check_writable(out)
    with run_folder.claim(out):
        run_folder.start(out, resume, force)
        try:
            return _run(run, data, out, manager.hook, Progress(enabled=progress), resume, rule)
        except BaseException as exc:
            run_folder.mark_failed(out, exc, strategy)
            raise


def _run(run: ResolvedRun, data, out, hook, progress: Progress, resume: bool, rule) -> BacktestResult:
    wall0 = time.perf_counter()
    strategy, registries = run.instance, run.registries
    cache = ModelCache(run.cache_dir) if run.cache_dir is not None else None
    if cache is not None and not cache.writable():
        warnings.warn(f"the model cache {cache.root} cannot be written: running without it (set SEQALPHA_CACHE_DIR "
                      "to a writable folder)", RuntimeWarning, stacklevel=3)
        cache = None
    timer = Timer()
    data = data if data is not None else strategy.data
    with timer.phase("data"):
        progress.log(f"loading data {data if isinstance(data, str) else data.name}")
        panel = data if isinstance(data, Panel) else load_panel(data, registries.data_sources)
        panel, quality = data_quality.prepare(panel, strategy.data_policy,  # before anything reads it
                                              thresholds=strategy.quality_thresholds())
        store = store_for(run.cache, run.cache_dir) if cache is not None else None  # warned once: unwritable
        dataset = Dataset.build(strategy, panel, registries.features, store, definitions=run.features)
        run = run.with_data(panel, dataset.feature_names, dataset.data_digest, dataset.feature_key,
                            universe=dataset.universe if strategy.expression_program().cross_sectional else None,
                            quality_digest=quality.digest)
        trainer = make_trainer(run, dataset, cache, progress, store)  # a blend builds its members' Datasets
    calendar = WalkForward.of(strategy, panel.dates)

    state, start, checkpoint = LoopState(), calendar.t0, None
    if out is not None:
        checkpoint = Checkpoint(Path(out) / run_schema.CHECKPOINT, run_fingerprint(
            run, dataset, calendar.t0, calendar.t1, [*LoopState.__dataclass_fields__], trainer.datasets[1:]))
        restored = checkpoint.load() if resume else None
        if restored is not None:
            start, saved = restored
            state = LoopState(**saved)
            trainer.restore_chain(state.warm, checkpoint.folder)
            timer = Timer(carried={**state.timer, "data": timer.seconds["data"]})
            progress.log(f"resuming at {panel.dates[start].date()} after {len(state.retrains)} finished retrains")
        else:
            if resume:
                progress.log(f"no checkpoint in {out}: starting from the beginning")
            checkpoint.clear()
    hook.backtest_started(strategy=strategy, panel=panel)
    state = run_clock(strategy, dataset, calendar, trainer, rule, hook, state, start, timer, progress, checkpoint)

    with timer.phase("simulate"):
        progress.log("simulating orders")
        sim, benchmark = simulate_span(strategy, dataset, calendar, dict(state.decisions))
    result = assemble(run, dataset, calendar, state, sim, benchmark, timer.seconds, wall0,
                      {"resumed_at": str(panel.dates[start].date()) if start > calendar.t0 else None})
    result.data_quality = quality.as_json(strategy.data_policy)
    warn_concentration(result)
    if out is not None:
        result.write(out)
        checkpoint.clear()
    hook.backtest_finished(strategy=strategy, result=result)
    return result


def simulate_span(strategy: Strategy, dataset: Dataset, calendar: WalkForward,
                  decisions: dict[int, np.ndarray]) -> tuple[engine.Simulation, np.ndarray]:
    """The engine on the test span only, t0 + 1 .. t1 + 1 (nothing after it is read), and the benchmark's
    returns on the same bars."""
    panel, t0, t1 = dataset.panel, calendar.t0, calendar.t1
    costs = engine.Costs(fees=strategy.fees, slippage=strategy.slippage, buy_cost=strategy.buy_cost,
                         sell_cost=strategy.sell_cost, min_cost=strategy.min_cost)
    sim = engine.simulate(panel.dates, panel.assets, panel.close, dataset.exec_price, panel.tradable(), decisions,
                          start=t0 + 1, end=t1 + 1, costs=costs, init_cash=strategy.init_cash,
                          limit_threshold=strategy.limit_threshold, delist_after=strategy.delist_after,
                          lot_size=strategy.lot_size,
                          periods_per_year=metrics.periods_per_year(panel.dates[:t1 + 2]))
    bench = benchmark_prices(strategy, panel)
    if bench is not None:
        bench_returns = pd.Series(bench).pct_change().fillna(0.0).to_numpy()
    else:
        bench_returns = engine.equal_weight_benchmark(panel.close, dataset.universe)
    return sim, bench_returns[t0 + 1:t1 + 2]


def check_model_params(run: ResolvedRun) -> None:
    """The resolved run's model parameters checked (run, predict and tune call it)."""
    _check_model_params(run.instance, run.model_entry, run.factory, run.cache_dir if run.cache else None)


def _check_model_params(strategy: Strategy, model_entry, factory=None, cache_dir: str | None = None) -> None:
    """The model's parameters checked before data loading (a run folder is made): unknown names (with the likely
    cause, params written for another model) and values the model refuses (lr='fast', epochs=0), by building it
    once. A model answered from its card (model/card.py) is built only the first time these parameters are seen:
    that they built is then recorded in the model cache ``cache_dir``."""
    from ..model.cache import ModelCache, split_cache_options
    from ..model.card import CardFactory, checked_key

    factory = factory if factory is not None else model_entry.factory
    known = getattr(factory, "defaults", None)
    params, _ = split_cache_options(strategy.model_params)  # unsafe_pickle_cache is the cache's option
    problem = unknown_params(repr(strategy.model), known, params) if isinstance(known, dict) else None
    if problem:
        raise StrategyError(f"{problem} If the strategy's model_params were written for another model, override "
                            f"them too, e.g. --set model={strategy.model} --set model_params={{}}")
    cache, key = None, None
    if isinstance(factory, CardFactory) and cache_dir is not None:
        cache = ModelCache(cache_dir)
        key = checked_key(factory, params)
        if cache.load_tree(key) is True:
            return
    try:
        factory(**params)
    except (ValueError, TypeError) as exc:
        raise StrategyError(f"model_params for {strategy.model!r}: {exc}") from None
    if key is not None:
        cache.store_tree(key, True)


def portfolio_rule(strategy: Strategy, registries: Registries):
    """The strategy's portfolio rule, built before any data is loaded: an unknown parameter gets a "did you mean",
    a value the rule refuses gets its message."""
    entry = registries.portfolios.get(strategy.portfolio)
    try:
        accepted = inspect.signature(entry.factory).parameters
    except (TypeError, ValueError):
        accepted = None
    if accepted is not None and not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values()):
        unknown = [k for k in strategy.portfolio_params if k not in accepted]
        if unknown:
            raise StrategyError(f"portfolio_params: {strategy.portfolio!r} takes no {unknown[0]!r}."
                                f"{did_you_mean(unknown[0], accepted)} It takes: {', '.join(accepted) or 'nothing'}.")
    try:
        return entry.factory(**strategy.portfolio_params)
    except (ValueError, TypeError) as exc:
        raise StrategyError(f"portfolio_params for {strategy.portfolio!r}: {exc}") from None


def _check_writable(out) -> None:
    """Refuse a run directory that cannot be written before any data is loaded or model trained."""
    if out is None:
        return
    folder = Path(out)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise StrategyError(f"the run directory {folder} cannot be written: {exc.strerror or exc}") from None


class ConcentrationWarning(UserWarning):
    """A run's annual return (strategy or benchmark) rests on a few outsized bars (metrics/concentration.py)."""


def warn_concentration(result: BacktestResult) -> None:
    """One ConcentrationWarning naming the bars when removing the 5 largest single-bar returns of the strategy or
    the benchmark flips or halves its annual return and one of them is outsized."""
    from ..metrics.concentration import check_concentration, concentration_message

    message = concentration_message(check_concentration(result.returns, result.metrics["periods_per_year"]))
    if message:
        warnings.warn(message, ConcentrationWarning, stacklevel=4)
