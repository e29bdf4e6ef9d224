"""tune(): an Optuna search over a strategy's parameters, each trial scored on the selection span over seeds.

Every check (space, metric, seeds, the span against the test period) is made before any run starts. The panel is
cut after the selection's last label bar (span.py) as soon as it is loaded; only that cut reaches the runs. Trials
run as sweep tasks (framework/sweep/task.py), one after another or several at once on a Dask cluster (ask/tell with
as many trials in flight as there are workers). ``on_trial`` and ``on_study`` are where a tracker attaches.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from ..data import Panel, load_panel
from ..plugins import PluginFiles
from ..resolved import resolve_run
from ..strategy import Strategy, StrategyError
from ..threads import DEFAULT_THREADS, check_threads
from . import storage, writers
from .objective import TrialRecord, metric_direction, score_trial
from .space import Dist, describe, overrides_for, parse_space
from .span import Selection, check_selection, parse_select, selection_panel

RUNS = "runs"


@dataclass
class TuneResult:
    """A finished (or stopped) search: its folder, the study, one row per trial, and the best trial."""

    out: Path
    study: Any  # the optuna Study (DIR/study.db)
    table: pd.DataFrame  # trials.parquet
    metric: str
    direction: str
    selection: Selection
    space: dict[str, Dist]
    seeds: list[int]
    best_number: int | None
    best_params: dict[str, Any] | None  # the chosen values, as the strategy takes them
    best_value: float | None
    best_file: Path | None  # best.py, when the strategy came from a file
    wall_seconds: float


@dataclass(frozen=True)
class Plan:
    """Everything a trial needs, fixed before the first one."""

    strategy: type[Strategy]
    space: dict[str, Dist]
    overrides: dict
    seeds: list[int]
    selection: Selection
    metric: str
    out: Path
    threads: int
    plugin_files: PluginFiles
    plugins_dir: str | None = None


def tune(strategy: type[Strategy], space: list[str] | dict[str, Dist], select: str, trials: int,
         out: str | Path, seeds: list[int] | None = None, data: str | Panel | None = None,
         overrides: dict | None = None, metric: str = "rank_ic", workers: int | None = None,
         scheduler: str | None = None, client: Any = None, threads: int = DEFAULT_THREADS, resume: bool = False,
         plugins_dir: str | None = None, sampler_seed: int = 0, progress: Callable[[str], None] | None = None,
         on_trial: Callable[[TrialRecord], None] | None = None,
         on_study: Callable[[TuneResult], None] | None = None) -> TuneResult:
    """Search ``space`` (``["window=int(5,40)", ...]``) for the values whose runs on the selection span
    ``select`` ("START..END") score best on ``metric``, averaged over ``seeds``; ``trials`` is the study's total.

    ``data`` a URI or Panel (else the strategy's), ``overrides`` fixed parameters (``--set``), the strategy's
    ``test_start`` is the test period the search must stay clear of. Without ``workers``, ``scheduler`` or
    ``client`` the trials run one after another here. ``resume`` continues the study in ``out``.
    ``on_trial(record)`` is called after each trial is told to the study, ``on_study(result)`` once at the end
    (where a tracker attaches; both run in this process, never on a worker).
    """
    t_start = time.perf_counter()
    say = progress or (lambda line: None)
    storage.optuna_module()  # the one-line error for a missing optuna, before anything else
    check_threads(threads)
    if not isinstance(trials, int) or isinstance(trials, bool) or trials < 1:
        raise StrategyError(f"--trials must be a positive int, got {trials!r}")
    if sum(x is not None for x in (client, workers, scheduler)) > 1:
        raise StrategyError("give one of client, workers and scheduler")
    if scheduler is not None:
        from ..sweep.cluster import check_scheduler_address

        check_scheduler_address(scheduler)
    plan, settings, sel_panel = prepare(strategy, space, select, out, seeds, data, overrides, metric, threads,
                                        plugins_dir)
    direction = metric_direction(metric)
    out = plan.out
    storage.claim_folder(out, resume)
    startup = min(10, max(2, trials // 3))  # random trials before TPE models the objective
    study = storage.open_study(out, settings, direction, sampler_seed, startup, resume)
    done = storage.counted(study)
    if resume:
        say(f"resuming: {done} of {trials} trials already finished")
    distributions = {k: d.optuna() for k, d in plan.space.items()}

    def finish(trial: Any, record: TrialRecord) -> None:
        trial.set_user_attr("per_seed", json.dumps({str(k): v for k, v in record.per_seed.items()}))
        trial.set_user_attr("status", record.status)
        trial.set_user_attr("error", record.error)
        trial.set_user_attr("wall_seconds", record.wall_seconds)
        trial.set_user_attr("run_dir", f"{RUNS}/{_trial_folder(record.number)}")
        if record.status == "ok":
            study.tell(trial, record.value)
        else:
            from optuna.trial import TrialState

            study.tell(trial, state=TrialState.FAIL)
        _write_table(study, plan)
        _say_trial(say, record, study, trials, metric)
        if on_trial is not None:
            on_trial(record)

    _write_table(study, plan)
    if client is None and workers is None and scheduler is None:
        while storage.counted(study) < trials:
            trial = study.ask(distributions)
            finish(trial, evaluate_serial(plan, trial.number, _values(plan, trial), sel_panel))
    else:
        _on_cluster(plan, study, distributions, trials, sel_panel, client, workers, scheduler, finish, say)
    result = _conclude(plan, study, direction, time.perf_counter() - t_start, data)
    if on_study is not None:
        on_study(result)
    return result


def prepare(strategy: type[Strategy], space: list[str] | dict[str, Dist], select: str, out: str | Path,
            seeds: list[int] | None, data: str | Panel | None, overrides: dict | None, metric: str, threads: int,
            plugins_dir: str | None) -> tuple[Plan, dict, Panel]:
    """Check everything (space, seeds, metric, every extreme value as a run, the span against the test period),
    then load the data and cut it after the selection's last label bar: (plan, settings, selection panel)."""
    overrides = dict(overrides or {})
    metric_direction(metric)
    if seeds is not None and "seed" in overrides:
        raise StrategyError("give seeds with --seeds or --set seed=..., not both")
    base = strategy(**overrides)
    seeds = list(seeds) if seeds is not None else [base.seed]
    plugin_files = PluginFiles.read(plugins_dir)
    modules = plugin_files.load()
    start, end = parse_select(select) if isinstance(select, str) else (pd.Timestamp(select[0]),
                                                                        pd.Timestamp(select[1]))
    span = {"test_start": str(start.date()), "test_end": str(end.date())}
    registries = resolve_run(strategy, overrides, data, threads=threads, plugins=modules).registries
    if isinstance(space, dict):
        dists = dict(space)
    else:
        dists = parse_space(space, strategy)
        models = dists["model"].choices if "model" in dists else (base.model,)
        keys = {}
        for m in models:
            if not isinstance(m, str):
                raise StrategyError(f"--space model: choices must be model names, got {m!r}")
            keys[m] = sorted(getattr(registries.models.get(m).factory, "defaults", None) or {})
        dists = parse_space(space, strategy, {m: k for m, k in keys.items() if k})
    embargo, horizon = _extremes(strategy, dists, overrides, span, data, threads, modules)
    panel, label = _load(strategy, base, data, modules)
    selection = check_selection(panel.dates, start, end, base.test_start, embargo, horizon)
    sel_panel = selection_panel(panel, selection, label)
    del panel
    plan = Plan(strategy, dists, overrides, seeds, selection, metric, Path(out).absolute(), threads, plugin_files,
                plugins_dir)
    settings = {"strategy": strategy.__name__, "space": describe(dists), "seeds": seeds, "select": selection.text,
                "metric": metric, "data": label, "overrides": repr(sorted(overrides.items())), "threads": threads,
                "test_start": str(selection.test_start.date()),
                "plugins": [name for name, _ in plugin_files.files]}
    return plan, settings, sel_panel


def _extremes(strategy: type[Strategy], dists: dict[str, Dist], overrides: dict, span: dict, data, threads: int,
              modules) -> tuple[int, int]:
    """Each bound and choice of the space resolved as a run (one line naming the value a run would refuse); the
    longest embargo and horizon any of them trains on."""
    from ..backtest.run import check_model_params

    embargo = horizon = 0
    cases: list[tuple[str, dict]] = [("", {})] + [(f"--space {d.key}={v!r}: ", {d.key: v})
                                                  for d in dists.values() for v in d.extremes()]
    for where, values in cases:
        params = {**overrides_for(values, overrides, strategy), **span}
        try:
            run = resolve_run(strategy, params, data, threads=threads, plugins=modules)
            check_model_params(run)
        except StrategyError as exc:
            raise StrategyError(f"{where}{exc}") from None
        embargo, horizon = max(embargo, run.embargo), max(horizon, run.instance.horizon)
    return embargo, horizon


def _load(strategy: type[Strategy], base: Strategy, data, modules) -> tuple[Panel, str]:
    """The whole panel (the caller cuts it at once) and the name runs record for it."""
    if isinstance(data, Panel):
        return data, data.meta.get("uri", data.name)
    from ..plugins import collect_registries, run_manager, strategy_plugins

    uri = data if data is not None else base.data
    sources = collect_registries(run_manager(*modules, *strategy_plugins(strategy))).data_sources
    return load_panel(uri, sources), uri


def _values(plan: Plan, trial: Any) -> dict[str, Any]:
    return {k: d.value(trial.params[k]) for k, d in plan.space.items()}


def _trial_folder(number: int) -> str:
    return f"trial-{number:04d}"


def trial_tasks(plan: Plan, number: int, values: dict[str, Any]) -> list:
    """One sweep task per seed: the trial's values over the fixed parameters, on the selection span."""
    from ..sweep.task import StrategyRef, Task

    ref = StrategyRef.of(plan.strategy)
    base = overrides_for(values, plan.overrides, plan.strategy)
    span = {"test_start": str(plan.selection.start.date()), "test_end": str(plan.selection.end.date())}
    folder = plan.out / RUNS / _trial_folder(number)
    return [Task(ref, {**base, **span, "seed": seed}, str(folder / f"seed={seed}"),
                 f"{RUNS}/{_trial_folder(number)}/seed={seed}", plan.threads, None, {"trial": number, "seed": seed},
                 plan.plugin_files) for seed in plan.seeds]


def evaluate_serial(plan: Plan, number: int, values: dict[str, Any], panel: Panel) -> TrialRecord:
    """A trial's runs one after another in this process, scored."""
    from ..sweep.task import run_task

    t0 = time.perf_counter()
    rows = {task.extra["seed"]: run_task(task, panel) for task in trial_tasks(plan, number, values)}
    return _record(plan, number, values, rows, time.perf_counter() - t0)


def _record(plan: Plan, number: int, values: dict, rows: dict, wall: float) -> TrialRecord:
    record = TrialRecord(number, values, list(plan.seeds), wall_seconds=wall,
                         run_dirs={s: plan.out / RUNS / _trial_folder(number) / f"seed={s}" for s in plan.seeds})
    return score_trial(record, rows, plan.metric)


def _on_cluster(plan: Plan, study: Any, distributions: dict, trials: int, panel: Panel, client, workers, scheduler,
                finish, say) -> None:
    """Keep as many trials in flight as the cluster has workers: ask one, submit its seeds' runs, tell it when its
    last run is back, ask the next. Ctrl-C cancels what runs; those trials are marked interrupted on --resume."""
    from distributed import as_completed

    from ..sweep.cluster import RESOURCE, dask_client, placement
    from ..sweep.task import run_task

    with contextlib.ExitStack() as stack:
        if client is None:
            client = stack.enter_context(dask_client(workers, scheduler, plan.threads))
        resources, per_task = placement(client, plan.threads)
        if per_task != plan.threads:
            say(f"the workers do not advertise the '{RESOURCE}' resource: each run is single-threaded")
        slots = max(1, len(client.scheduler_info().get("workers", {})) or (workers or 1))
        shipped = client.scatter(panel, broadcast=True)  # only the cut panel ever reaches a worker
        flight: dict[int, dict] = {}  # trial number -> {"trial", "values", "rows", "t0", "left"}
        owner: dict[Any, tuple[int, int]] = {}
        queue = as_completed()

        def submit_next() -> None:
            trial = study.ask(distributions)
            values = _values(plan, trial)
            tasks = [replace(t, threads=per_task) for t in trial_tasks(plan, trial.number, values)]
            flight[trial.number] = {"trial": trial, "values": values, "rows": {}, "t0": time.perf_counter(),
                                    "left": len(tasks)}
            for task in tasks:
                future = client.submit(run_task, task, shipped, key=f"seqalpha-tune-{trial.number}-"
                                       f"{task.extra['seed']}-{time.time_ns()}", pure=False, retries=2,
                                       resources=resources)
                owner[future] = (trial.number, task.extra["seed"])
                queue.add(future)

        def fill() -> None:
            while len(flight) < slots and storage.counted(study) + len(flight) < trials:
                submit_next()

        fill()
        try:
            for future in queue:
                number, seed = owner.pop(future)
                try:
                    row = future.result()
                except Exception as exc:  # the task itself died (its workers killed too often)
                    row = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
                entry = flight[number]
                entry["rows"][seed] = row
                entry["left"] -= 1
                if entry["left"] == 0:
                    del flight[number]
                    finish(entry["trial"], _record(plan, number, entry["values"], entry["rows"],
                                                   time.perf_counter() - entry["t0"]))
                    fill()
        except KeyboardInterrupt:
            client.cancel(list(owner))
            say(f"interrupted: {len(flight)} trial(s) cancelled; --resume continues the study")
            raise


def _write_table(study: Any, plan: Plan) -> pd.DataFrame:
    table = writers.trials_table(study, list(plan.space), plan.metric, plan.seeds, storage.interrupted(study))
    writers.write_trials(plan.out, table)
    return table


def _say_trial(say, record: TrialRecord, study: Any, trials: int, metric: str) -> None:
    values = ", ".join(f"{k}={_short(v)}" for k, v in record.params.items())
    if record.status == "ok":
        best = study.best_trial
        what = f"{metric} {record.value:.4f} (best {best.value:.4f}, trial {best.number})"
    else:
        what = f"failed: {record.error}"
    say(f"trial {record.number} ({storage.counted(study)}/{trials}): {values} -> {what}")


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else repr(value) if isinstance(value, str) else str(value)


def _conclude(plan: Plan, study: Any, direction: str, wall: float, data) -> TuneResult:
    """trials.parquet, best.py, summary.md and report.html from the study; the result."""
    from optuna.trial import TrialState

    from ..sweep.task import StrategyRef
    from ..util import atomic_write_text
    from .page import importances, tune_html

    table = _write_table(study, plan)
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    best = study.best_trial if complete else None
    sel = plan.selection
    best_params = None if best is None else {k: d.value(best.params[k]) for k, d in plan.space.items()}
    best_file = None
    ref = StrategyRef.of(plan.strategy)
    if best is not None and ref.file is not None:
        final = overrides_for(best_params, plan.overrides, plan.strategy)
        if isinstance(data, str):
            final = {"data": data, **final}
        doc = writers.best_docstring(plan.strategy.__name__, describe(plan.space), sel.text,
                                     str(sel.last_bar.date()), plan.metric, direction, plan.seeds, len(table),
                                     best.number, float(best.value), data if isinstance(data, str) else
                                     "the strategy's own" if data is None else "a panel passed from Python",
                                     plan.plugins_dir)
        writers.write_best(plan.out, writers.best_file(Path(ref.file), plan.strategy.__name__, final, doc))
        best_file = plan.out / writers.BEST
    summary = writers.summary_text(
        plan.strategy.__name__, describe(plan.space), sel.text, str(sel.last_bar.date()), str(sel.test_start.date()),
        plan.metric, direction, plan.seeds, table,
        None if best is None else {"number": best.number, "value": float(best.value), "params": best_params},
        wall, best_file is not None)
    writers.write_summary(plan.out, summary)
    best_line = ("No trial finished." if best is None else
                 f"Best: trial {best.number}, {plan.metric} {best.value:.4f} with "
                 + ", ".join(f"{k}={_short(v)}" for k, v in best_params.items()))
    subtitle = (f"space {'; '.join(describe(plan.space))} · selection {sel.text} (data cut after "
                f"{sel.last_bar.date()}; test from {sel.test_start.date()}) · {plan.metric} ({direction}), mean over "
                f"seeds {', '.join(map(str, plan.seeds))} · {len(table)} trials")
    page = tune_html(f"seqalpha tune: {plan.strategy.__name__}", subtitle, table, list(plan.space), plan.metric,
                     direction, importances(study), best_line)
    atomic_write_text(plan.out / "report.html", page)
    return TuneResult(plan.out, study, table, plan.metric, direction, sel, plan.space, plan.seeds,
                      None if best is None else best.number, best_params,
                      None if best is None or not math.isfinite(best.value) else float(best.value), best_file, wall)
