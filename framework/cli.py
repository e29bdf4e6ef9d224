"""The ``seqalpha`` command line: run, sweep, tune, predict, audit, data check, plugins, models, cache (report, runs and compare for
saved runs)."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import warnings
from pathlib import Path

from .errors import SeqalphaError
from .threads import DEFAULT_THREADS

# Everything else is imported inside the command that needs it: `seqalpha --help` and the listing
# commands stay fast (docs/benchmarks.md, "Starting the command line"; tests/test_startup.py).


def format_metrics(metrics: dict) -> str:
    """The metrics table printed after a run: the catalogue's terminal rows, then wall seconds per phase."""
    from .metrics import TERMINAL

    lines = []
    for m in TERMINAL:
        v = metrics.get(m.name)
        text = "n/a" if v is None else (f"{v:d}" if isinstance(v, int) else f"{v:.4f}")
        lines.append(f"  {m.label:<30} {text:>12}")
    sec = metrics.get("seconds", {})
    lines.append("  " + "wall seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in sec.items()))
    return "\n".join(lines)


def summarize_warnings(caught) -> str:
    """One line per distinct warning with its count, instead of warnings scattered through the progress."""
    counts: dict[str, int] = {}
    for w in caught:
        key = f"{w.category.__name__}: {w.message}"
        counts[key] = counts.get(key, 0) + 1
    if not counts:
        return ""
    lines = [f"{sum(counts.values())} warning(s) during the run:"]
    lines += [f"  {f'(x{n}) ' if n > 1 else ''}{msg}" for msg, n in counts.items()]
    return "\n".join(lines)


def cmd_run(args) -> int:
    from .backtest import run_backtest
    from .plugins import PluginFiles
    from .strategy import StrategyError, load_strategy_file, parse_overrides
    from .util import safe_file_name

    tracker = _tracker(args)  # before anything runs: a missing mlflow is one line
    cls, module = load_strategy_file(args.strategy_file, args.strategy)
    overrides = parse_overrides(args.set)
    strategy = cls(**overrides)
    out = args.out
    if out is None and args.resume:  # the latest run directory of this strategy
        previous = sorted(p for p in Path("runs").glob(f"{safe_file_name(cls.__name__)}-*") if p.is_dir())
        if not previous:
            raise StrategyError(f"--resume: no run directory runs/{cls.__name__}-* to resume; name one with --out")
        out = previous[-1]
    out = out or Path("runs") / f"{safe_file_name(cls.__name__)}-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}"
    plugin_files = PluginFiles.read(args.plugins_dir)
    progress = False if args.quiet else ("verbose" if args.verbose else None)
    with warnings.catch_warnings(record=True) as caught:  # collected, summarised after the metrics
        warnings.simplefilter("default")
        plugins = plugin_files.load()
        observers = _observers(tracker)
        if args.workers or args.scheduler:
            from .sweep.cluster import dask_client
            from .sweep.fanout import run_on_cluster

            with dask_client(args.workers, args.scheduler, args.threads) as client:
                result = run_on_cluster(cls, overrides, args.data, out, client, args.threads,
                                        None if args.quiet else _stderr, plugins=plugin_files, progress=progress,
                                        resume=args.resume, force=args.force, observers=observers)
        else:
            result = run_backtest(strategy, data=args.data, out=out, plugins=[*plugins, *observers],
                                  progress=progress, resume=args.resume, threads=args.threads, force=args.force)
    if not args.quiet:
        print(f"{cls.__name__}  model={strategy.model}  data={result.config['data']}  "
              f"test {result.config['span'][0]}..{result.config['span'][1]}  threads={result.config['threads']}")
        custom = {n: getattr(strategy, n) for n in type(strategy).own_param_names()}  # in the order declared
        if custom:
            print("custom parameters: " + ", ".join(f"{k}={v!r}" for k, v in custom.items()))
    print(format_metrics(result.metrics))
    summary = summarize_warnings(caught)
    if summary:
        print(summary, file=sys.stderr)
    print(f"run directory: {out}  (report: {Path(out) / 'report.html'})")
    if observers and observers[0].run_id:
        print(f"tracked in MLflow: {tracker.shown_uri}  run {observers[0].run_id}")
    return 0


def _tracker(args):
    """The MLflow Tracker that --track or $SEQALPHA_TRACKING_URI ask for (read once, here), else None."""
    import os

    from .tracking import open_tracker

    return open_tracker(args.track, os.environ)


def _observers(tracker) -> list:
    from .tracking.plugin import TrackingPlugin

    return [TrackingPlugin(tracker)] if tracker is not None else []


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def cmd_sweep(args) -> int:
    from .strategy import StrategyError, load_strategy_file, parse_overrides
    from .sweep import parse_baseline, parse_grid, parse_seeds, sweep

    tracker = _tracker(args)
    cls, _ = load_strategy_file(args.strategy_file, args.strategy)
    grid = parse_grid(args.grid)
    if not args.grid and args.seeds is None:
        raise StrategyError("a sweep needs --grid KEY=LIST and/or --seeds 0,1,2")
    result = sweep(cls, grid=grid, seeds=parse_seeds(args.seeds), out=args.out, data=args.data,
                   overrides=parse_overrides(args.set), workers=args.workers, scheduler=args.scheduler,
                   threads=args.threads_per_worker, resume=args.resume, scatter_data=args.scatter_data,
                   progress=_stderr, plugins_dir=args.plugins_dir, baseline=parse_baseline(args.baseline),
                   tracker=tracker)
    from .runs import format_table

    against = result.against_baseline()
    if not against.empty:
        print(format_table(against[["point", "seeds", "mean rank_ic point - baseline", "SE (seeds and days)",
                                    "beat the baseline", "against the baseline"]]))
    summary = result.summary()
    if not summary.empty:
        cols = ["baseline", *result.grid, "n_seeds", "rank_ic mean", "rank_ic se", "signal", "rank_ic std",
                "rank_ic worst", "sharpe mean"]
        print(format_table(summary[[c for c in cols if c in summary]]))
    failed = result.table[result.table["status"] == "failed"] if len(result.table) else result.table
    print(f"sweep folder: {result.out}  ({len(result.table)} runs, {len(failed)} failed; results.parquet, summary.md, "
          "report.html)")
    if tracker is not None and tracker.last_parent:
        print(f"tracked in MLflow: {tracker.shown_uri}  parent run {tracker.last_parent}")
    if len(failed):  # exit 0 only when every run succeeded
        first = f"{failed['run_dir'].iloc[0]}: {failed['error'].iloc[0]}"
        what = (f"all {len(result.table)} runs failed" if len(failed) == len(result.table)
                else f"{len(failed)} of {len(result.table)} runs failed")
        print(f"seqalpha: {what}; the first error: {first}", file=sys.stderr)
        return 1
    return 0


def cmd_tune(args) -> int:
    from .tune.command import tune_main

    return tune_main(args)


def cmd_audit(args) -> int:
    from .audit.runner import audit_main
    from .plugins import PluginFiles
    from .strategy import load_strategy_file, parse_overrides

    cls, _ = load_strategy_file(args.strategy_file, args.strategy)
    return audit_main(cls, args.data, parse_overrides(args.set), args.json,
                      plugins=PluginFiles.read(args.plugins_dir).load())


def cmd_data_check(args) -> int:
    from .data.check import check_main

    return check_main(args.uri, args.json, args.out, args.plugins_dir)


def cmd_predict(args) -> int:
    from .predict.command import predict_main

    return predict_main(args)


def cmd_report(args) -> int:
    from .report import build_report

    print(build_report(args.run_dir))
    return 0


def cmd_runs(args) -> int:
    from .runs import format_table, list_runs

    print(format_table(list_runs(args.dir, sort=args.sort)))
    return 0


def cmd_compare(args) -> int:
    from .runs import compare_runs, format_table

    print(format_table(compare_runs(args.runs, out_html=args.out).reset_index()))
    if args.out:
        print(f"comparison page: {args.out}")
    return 0


def cmd_cache(args) -> int:
    from .features.store import FOLDER, FeatureStore
    from .model import ModelCache
    from .model.cache import DERIVED_SUFFIX, CacheError

    cache = ModelCache()
    store = FeatureStore(cache.root / FOLDER)
    if args.clear or args.older_than is not None:
        doomed = cache.stale(args.older_than)  # refuses a negative age, or a folder that may not be a cache
        features = store.stale(args.older_than)  # refuses a features/ folder that may not be a store
        size = sum(p.stat().st_size for p in [*doomed, *features]) / 2**20
        n_derived = sum(p.name.endswith(DERIVED_SUFFIX) for p in doomed)
        what = (f"{len(doomed) - n_derived} model(s), {n_derived} derived entr(ies) and {len(features)} feature "
                f"entr(ies), {size:.1f} MiB, from {cache.root}")
        if (doomed or features) and not args.yes:
            if not sys.stdin.isatty():
                raise CacheError(f"not deleting {what} without confirmation (not a terminal): add --yes")
            if input(f"delete {what}? [y/N] ").strip().lower() not in ("y", "yes"):
                print("nothing deleted")
                return 0
        files, size = cache.delete(doomed)
        left = {p.name for p in cache.entries()}
        gone = [p for p in doomed if p.name not in left]
        n_derived = sum(p.name.endswith(DERIVED_SUFFIX) for p in gone)
        print(f"removed {len(gone) - n_derived} model(s) and {n_derived} derived entr(ies), {size / 2**20:.1f} MiB, "
              f"from {cache.root}")
        files, size = store.delete(features)
        print(f"removed {files} feature entr(ies), {size / 2**20:.1f} MiB, from {store.root}")
    entries = cache.entries()
    size = sum(p.stat().st_size for p in entries)
    derived = sum(p.name.endswith(DERIVED_SUFFIX) for p in entries)  # cards, cached scores (model/derived_cache.py)
    print(f"model cache {cache.root}: {len(entries) - derived} model(s) and {derived} derived entr(ies) (model "
          f"cards, cached scores), {size / 2**20:.1f} MiB (location: $SEQALPHA_CACHE_DIR, else ~/.cache/seqalpha/models)")
    stored = store.entries()
    size = sum(p.stat().st_size for p in stored)
    print(f"feature store {store.root}: {len(stored)} entr(ies), {size / 2**20:.1f} MiB")
    if getattr(args, "list", False):
        for path in stored:
            print(f"  {path.name[:-len('.features')]}  {path.stat().st_size / 2**20:.1f} MiB")
    return 0


def cmd_plugins(args) -> int:
    from .plugins import PluginFiles, collect_registries, list_plugins, load_errors, run_manager

    manager = run_manager(*PluginFiles.read(args.plugins_dir).load())
    reg = collect_registries(manager)
    provided: dict[str, list[str]] = {}
    for kind, registry in (("model", reg.models), ("portfolio", reg.portfolios), ("data source", reg.data_sources),
                           ("feature set", reg.features)):
        for entry in registry.entries.values():
            provided.setdefault(entry.plugin, []).append(f"{kind} {entry.name}")
    for name, module in list_plugins(manager):
        items = ", ".join(provided.get(name, [])) or "(observer hooks only)"
        print(f"{name:<36} {module:<36} {items}")
    for name, error in load_errors.items():
        print(f"{name:<36} FAILED TO IMPORT: {error}")
    return 0


def cmd_models(args) -> int:
    from .plugins import PluginFiles, collect_registries, run_manager

    reg = collect_registries(run_manager(*PluginFiles.read(args.plugins_dir).load()))
    for entry in reg.models.entries.values():  # entry.doc reads a lazy factory's docstring without importing it
        print(f"{entry.name:<16} {entry.plugin:<36} {entry.doc}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .tracking.settings import add_track_argument

    parser = argparse.ArgumentParser(prog="seqalpha", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show the full traceback of any error")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a strategy file's backtest")
    run.add_argument("strategy_file")
    run.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a strategy parameter")
    run.add_argument("--data", help="data URI overriding the strategy's (synthetic, parquet:PATH, csv:PATH, qlib:DIR?...)")
    run.add_argument("--out", help="run directory (default runs/<Strategy>-<timestamp>)")
    run.add_argument("--strategy", help="which Strategy class, when the file defines several")
    run.add_argument("--plugins-dir", help="a folder of .py files with @hookimpl functions to load for this run")
    run.add_argument("--quiet", "-q", action="store_true", help="print only the metrics table")
    run.add_argument("--verbose", "-v", action="store_true", help="also log every rebalance")
    run.add_argument("--resume", action="store_true",
                     help="continue a stopped run in --out DIR (default: this strategy's latest runs/ folder) "
                          "from its last finished retrain")
    run.add_argument("--force", action="store_true",
                     help="replace the finished run in --out DIR, or discard its unfinished run's checkpoint, "
                          "and start over")
    run.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                     help=f"threads for torch and BLAS (default {DEFAULT_THREADS}; recorded in config.json)")
    run.add_argument("--workers", type=int, help="fit the run's models on a local Dask cluster of N processes")
    run.add_argument("--scheduler", help="fit the run's models on the Dask cluster at tcp://HOST:PORT")
    add_track_argument(run)
    run.set_defaults(func=cmd_run)
    sw = sub.add_parser("sweep", help="run a grid of parameters times seeds, serially or on a Dask cluster")
    sw.add_argument("strategy_file")
    sw.add_argument("--grid", action="append", metavar="KEY=LIST", help="a parameter and a Python list of values")
    sw.add_argument("--seeds", help="seeds, e.g. 0,1,2 (default: the strategy's own seed)")
    sw.add_argument("--set", action="append", metavar="KEY=VALUE", help="a fixed parameter for every run")
    sw.add_argument("--data", help="data URI overriding the strategy's")
    sw.add_argument("--baseline", action="append", metavar="KEY=VALUE",
                    help="a reference point run on the same seeds, e.g. model=linear (repeatable); every grid point "
                         "is paired with it. A baseline changing model starts from that model's defaults unless "
                         "model_params is given too")
    sw.add_argument("--out", required=True, help="the sweep folder (refused if it exists, unless --resume)")
    sw.add_argument("--resume", action="store_true", help="finish a sweep: run only what is missing or failed")
    sw.add_argument("--workers", type=int, help="a local Dask cluster of N worker processes")
    sw.add_argument("--scheduler", help="join the Dask cluster at tcp://HOST:PORT")
    sw.add_argument("--threads-per-worker", type=int, default=DEFAULT_THREADS,
                    help=f"threads each run uses (default {DEFAULT_THREADS})")
    sw.add_argument("--scatter-data", action="store_true",
                    help="load the data here and ship it to the workers (when they cannot see the data path)")
    sw.add_argument("--strategy", help="which Strategy class, when the file defines several")
    sw.add_argument("--plugins-dir", help="a folder of .py plugin files, loaded for every run (shipped to the workers)")
    add_track_argument(sw)
    sw.set_defaults(func=cmd_sweep)
    tu = sub.add_parser("tune", help="search a strategy's parameters with Optuna on a selection span that ends "
                                     "before the test period (scored over seeds)")
    tu.add_argument("strategy_file")
    tu.add_argument("--space", action="append", metavar="KEY=DIST", required=True,
                    help="a searched parameter: window=int(5,40), lr=loguniform(1e-4,1e-2), hidden_size=int(16,128,log), "
                         "model=choice('lstm','gru'), dropout=uniform(0,0.5); model_params.KEY for a model's")
    tu.add_argument("--trials", type=int, required=True, help="trials in the study (a resumed study counts its own)")
    tu.add_argument("--select", required=True, metavar="START..END",
                    help="the selection span the trials are scored on; it must end h + 2 bars before test_start")
    tu.add_argument("--seeds", help="seeds each trial runs, e.g. 0,1,2 (default: the strategy's own seed)")
    tu.add_argument("--metric", default="rank_ic", help="the objective (default rank_ic; see docs/metrics.md)")
    tu.add_argument("--set", action="append", metavar="KEY=VALUE", help="a fixed parameter for every run")
    tu.add_argument("--data", help="data URI overriding the strategy's")
    tu.add_argument("--out", required=True, help="the tune folder (study.db, trials.parquet, best.py, report.html)")
    tu.add_argument("--resume", action="store_true", help="continue the study in --out up to --trials")
    tu.add_argument("--workers", type=int, help="a local Dask cluster of N worker processes (N trials at once)")
    tu.add_argument("--scheduler", help="join the Dask cluster at tcp://HOST:PORT")
    tu.add_argument("--threads", type=int, default=DEFAULT_THREADS, help=f"threads each run uses (default {DEFAULT_THREADS})")
    tu.add_argument("--sampler-seed", type=int, default=0, help="the TPE sampler's seed (default 0)")
    tu.add_argument("--strategy", help="which Strategy class, when the file defines several")
    tu.add_argument("--plugins-dir", help="a folder of .py plugin files, loaded for every run (shipped to the workers)")
    add_track_argument(tu)
    tu.set_defaults(func=cmd_tune)
    audit = sub.add_parser("audit", help="check a strategy's own features, universe, model and target_weights for "
                                         "look-ahead; each check passes, warns or fails (exit 0: none failed, "
                                         "warnings printed; 1: a check failed; 2: usage error)")
    audit.add_argument("strategy_file")
    audit.add_argument("--data", help="data URI overriding the strategy's (a short slice keeps it quick)")
    audit.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a strategy parameter")
    audit.add_argument("--json", action="store_true", help="print the checks as JSON on stdout")
    audit.add_argument("--strategy", help="which Strategy class, when the file defines several")
    audit.add_argument("--plugins-dir", help="a folder of .py files with @hookimpl functions to load for the audit")
    audit.set_defaults(func=cmd_audit)
    pr = sub.add_parser("predict", help="tomorrow's targets and orders: decide at --asof (default: the data's last bar) "
                                        "exactly as the backtest would, from the holdings given")
    pr.add_argument("strategy_file")
    pr.add_argument("--asof", help="the decision date (default: the data's last bar)")
    pr.add_argument("--holdings", help="what is held: a CSV of asset,shares, a previous predict folder, or a "
                                       "backtest run folder (its positions before the decision at asof)")
    pr.add_argument("--cash", type=float, help="cash held (default: none beside a CSV, init_cash without "
                                                     "--holdings, a predict folder's cash after its orders); with a "
                                                     "run folder: the portfolio's value")
    pr.add_argument("--refit", action="store_true", help="fit on every sample labelled by asof instead of using "
                                                         "the retrain schedule's model (said in predict.json)")
    pr.add_argument("--out", help="the predict folder (default predictions/<Strategy>-<timestamp>)")
    pr.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a strategy parameter")
    pr.add_argument("--data", help="data URI overriding the strategy's")
    pr.add_argument("--strategy", help="which Strategy class, when the file defines several")
    pr.add_argument("--plugins-dir", help="a folder of .py files with @hookimpl functions to load")
    pr.add_argument("--threads", type=int, default=DEFAULT_THREADS, help=f"threads (default {DEFAULT_THREADS})")
    pr.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    pr.set_defaults(func=cmd_predict)
    cache = sub.add_parser("cache", help="show the model cache's and the feature store's sizes; --clear or "
                                         "--older-than DAYS to prune them (asks first on a terminal; --yes elsewhere)")
    cache.add_argument("--clear", action="store_true", help="remove every cached model and stored feature entry")
    cache.add_argument("--older-than", type=float, metavar="DAYS",
                       help="remove models and feature entries not used for DAYS days (>= 0)")
    cache.add_argument("--yes", "-y", action="store_true", help="delete without asking (needed off a terminal)")
    cache.add_argument("--list", action="store_true", help="also list the feature store's entries (key, size)")
    cache.set_defaults(func=cmd_cache)
    listing = sub.add_parser("plugins", help="list plugins and what each registered")
    listing.add_argument("--plugins-dir", help="also load the .py plugin files of this folder")
    listing.set_defaults(func=cmd_plugins)
    models = sub.add_parser("models", help="list registered models")
    models.add_argument("--plugins-dir", help="also load the .py plugin files of this folder")
    models.set_defaults(func=cmd_models)
    data = sub.add_parser("data", help="check a data source: bad ticks, unadjusted splits, stale prices, impossible "
                                       "bars, extreme factor values")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    check = data_sub.add_parser("check", help="scan a data URI and print its findings (exit 0: no error, warnings "
                                              "printed; 1: an error-level finding; 2: usage error)")
    check.add_argument("uri", help="data URI (synthetic?..., parquet:PATH, csv:PATH, qlib:DIR?...)")
    check.add_argument("--json", action="store_true", help="print the scan (counts, every finding) as JSON")
    check.add_argument("--out", help="also write DIR/data_check.html (a price chart around every finding) and "
                                     "DIR/data_quality.json")
    check.add_argument("--plugins-dir", help="a folder of .py files with @hookimpl functions (data sources) to load")
    check.set_defaults(func=cmd_data_check)
    report = sub.add_parser("report", help="(re)build RUN_DIR/report.html")
    report.add_argument("run_dir")
    report.set_defaults(func=cmd_report)
    runs = sub.add_parser("runs", help="list saved runs, newest first")
    runs.add_argument("dir", nargs="?", default="runs")
    runs.add_argument("--sort", default="created", help="column to sort by (sharpe, ic, rank_ic, created, ...)")
    runs.set_defaults(func=cmd_runs)
    compare = sub.add_parser("compare", help="metrics of several runs side by side, and an overlay page")
    compare.add_argument("runs", nargs="+")
    compare.add_argument("--out", help="write the HTML comparison page here")
    compare.set_defaults(func=cmd_compare)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a command; a user's mistake (SeqalphaError) is one line on stderr and exit 2, a bug keeps its
    traceback; ``--debug`` shows the traceback of every error."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except SeqalphaError as exc:
        if args.debug:
            raise
        print(f"seqalpha: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("seqalpha: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
