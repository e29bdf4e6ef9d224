"""``seqalpha tune``: the command's body (cli.py holds only its arguments)."""

from __future__ import annotations

import sys


def tune_main(args) -> int:
    """Run the search the arguments describe; print the best trial and the folder. Exit 0 when some trial
    finished, 1 when none did."""
    from ..strategy import load_strategy_file, parse_overrides
    from ..sweep import parse_seeds
    from .runner import tune

    cls, _ = load_strategy_file(args.strategy_file, args.strategy)
    result = tune(cls, args.space, args.select, args.trials, args.out, seeds=parse_seeds(args.seeds),
                  data=args.data, overrides=parse_overrides(args.set), metric=args.metric, workers=args.workers,
                  scheduler=args.scheduler, threads=args.threads, resume=args.resume, plugins_dir=args.plugins_dir,
                  sampler_seed=args.sampler_seed, progress=_stderr)
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


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
