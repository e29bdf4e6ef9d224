"""``seqalpha tune``: the command's body (cli.py holds only its arguments)."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def tune_main(args) -> int:
    """Run the search the arguments describe; print the best trial and the folder. Exit 0 when some trial
    finished, 1 when none did."""
    from ..strategy import load_strategy_file, parse_overrides
    from ..sweep import parse_seeds
    from ..tracking import open_tracker, study
    from .runner import tune

    tracker = open_tracker(getattr(args, "track", None), os.environ)  # before anything runs: a missing mlflow
    cls, _ = load_strategy_file(args.strategy_file, args.strategy)
    seeds = parse_seeds(args.seeds)
    settings = {"space": list(args.space), "select": args.select, "trials": args.trials, "metric": args.metric,
                "seeds": seeds, "set": list(args.set or []), "data": args.data, "sampler_seed": args.sampler_seed}
    with study(tracker, name=Path(args.out).name, experiment=cls.__name__, params=settings,
               tags={"seqalpha.kind": "tune", "seqalpha.tune_dir": str(Path(args.out).absolute())}) as parent:
        on_trial, on_study = track_trials(parent, args.metric)
        result = tune(cls, args.space, args.select, args.trials, args.out, seeds=seeds,
                      data=args.data, overrides=parse_overrides(args.set), metric=args.metric, workers=args.workers,
                      scheduler=args.scheduler, threads=args.threads, resume=args.resume,
                      plugins_dir=args.plugins_dir, sampler_seed=args.sampler_seed, progress=_stderr,
                      on_trial=on_trial, on_study=on_study)
    if tracker is not None and tracker.last_parent:
        print(f"tracked in MLflow: {tracker.shown_uri}  parent run {tracker.last_parent}")
    n_ok = int((result.table["status"] == "ok").sum()) if len(result.table) else 0
    if result.best_params is not None:
        values = ", ".join(f"{k}={v!r}" for k, v in result.best_params.items())
        print(f"best: trial {result.best_number}, {result.metric} {result.best_value:.4f} "
              f"(mean over seeds {','.join(map(str, result.seeds))}) with {values}")
    print(f"tune folder: {result.out}  ({len(result.table)} trials, {n_ok} ok; trials.parquet, "
          f"{'best.py, ' if result.best_file else ''}summary.md, report.html; {result.wall_seconds:.1f} s)")
    if n_ok == 0:
        first = result.table["error"].dropna()
        print("seqalpha: no trial finished" + (f"; the first error: {first.iloc[0]}" if len(first) else ""),
              file=sys.stderr)
        return 1
    return 0


def track_trials(parent, metric: str):
    """(on_trial, on_study) callbacks that log a search to MLflow from this process: each trial a child with its
    values and objective (per seed and mean), each of its runs a grandchild; the best objective and the tune
    folder's files on the parent. With tracking off (``parent`` inactive) they do nothing."""

    def on_trial(record) -> None:
        metrics = {"objective": record.value, **{f"objective.seed{s}": v for s, v in record.per_seed.items()},
                   "wall_seconds": record.wall_seconds}
        child = parent.log_trial(f"trial-{record.number}", record.params, metrics,
                                 status="FINISHED" if record.status == "ok" else "FAILED",
                                 tags={"seqalpha.metric": metric, "seqalpha.trial": record.number})
        for seed, folder in record.run_dirs.items():
            if (Path(folder) / "metrics.json").is_file():
                parent.log_run(folder, name=f"trial-{record.number}/seed={seed}", parent=child)

    def on_study(result) -> None:
        if result.best_value is not None:
            parent.log_metrics({"best_objective": result.best_value}, step=int(result.best_number or 0))
        parent.log_artifacts([result.out / n for n in ("trials.parquet", "best.py", "summary.md", "report.html")])

    return on_trial, on_study


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
