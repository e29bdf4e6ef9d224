"""Choose the CSI 300 strategy's settings on data before the test period, never on the test itself.

    python benchmarks/csi300_select.py [--strategy strategies/csi300_lstm.py] [--only NAME ...]

Each candidate is the strategy with one change, run exactly as the strategy runs (yearly
walk-forward refits on the last 1,250 bars) but shifted two years earlier: decisions from
2015-01-01 to 2016-12-31, Qlib's validation years, so no fit and no score touches 2017 or
later. The rule, fixed before any result was seen: keep the candidate with the highest
validation rank IC (the measure the Qlib bar is set on), provided its training time leaves
the full 2017-2020 run inside 14 minutes. ``baseline seed=1`` measures how far two seeds
of the same settings differ, the noise any other difference must clear.

Prints one row per candidate and appends the table to benchmarks/results/csi300_select_log.md;
the choice made from it is explained in benchmarks/results/csi300_select.md.
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import time
from pathlib import Path

from seqalpha import load_strategy_file, run_backtest

ROOT = Path(__file__).resolve().parents[1]
VALIDATION = {"test_start": "2015-01-01", "test_end": "2016-12-31"}


def candidates(base_params: dict) -> dict[str, dict]:
    """Name -> strategy overrides; each changes one thing from the committed strategy."""
    def params(**change) -> dict:
        return {"model_params": {**base_params, **change}}
    return {
        "baseline": {},
        "baseline seed=1": {"seed": 1},
        "target=rank": {"target": "rank"},
        "loss=ic": params(loss="ic"),
        "gate_init=chrono": params(gate_init="chrono"),
        "num_layers=1": params(num_layers=1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--strategy", default=str(ROOT / "strategies" / "csi300_lstm.py"))
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "cn_csi300_qlib"))
    ap.add_argument("--only", nargs="*", help="run only these candidates (names as printed)")
    ap.add_argument("--extra", nargs=2, action="append", default=[], metavar=("NAME", "OVERRIDES"),
                    help="another candidate: a name and a dict literal of strategy overrides, whose model_params "
                         "are merged into the strategy's, e.g. rank+chrono "
                         "\"{'target': 'rank', 'model_params': {'gate_init': 'chrono'}}\"")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "csi300_select_log.md"),
                    help="markdown file each invocation appends its dated table to")
    args = ap.parse_args()
    cls, _ = load_strategy_file(args.strategy)
    todo = candidates(dict(cls.model_params))
    for name, text in args.extra:
        overrides = ast.literal_eval(text)
        if "model_params" in overrides:
            overrides["model_params"] = {**cls.model_params, **overrides["model_params"]}
        todo[name] = overrides
    if args.only:
        unknown = [k for k in args.only if k not in todo]
        if unknown:
            ap.error(f"--only {unknown}: no such candidate; candidates are {list(todo)}")
        todo = {k: v for k, v in todo.items() if k in args.only}
    uri = f"qlib:{args.data}?universe=csi300&benchmark=SH000300"
    lines = [f"## {dt.datetime.now():%Y-%m-%d %H:%M}: {Path(args.strategy).name}, decisions 2015-01-01 to "
             "2016-12-31, one candidate per row (its name says what it changes)", "",
             "| candidate | IC | ICIR | rank IC | rank ICIR | train s | wall s |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    print("\n".join(lines), flush=True)
    for name, overrides in todo.items():
        t0 = time.perf_counter()
        res = run_backtest(cls, data=uri, cache=False, progress=False, threads=2, **{**VALIDATION, **overrides})
        m = res.metrics
        lines.append(f"| {name} | {m['ic']:.4f} | {m['icir']:.4f} | {m['rank_ic']:.4f} | {m['rank_icir']:.4f} "
                     f"| {m['seconds']['train']:.0f} | {time.perf_counter() - t0:.0f} |")
        print(lines[-1], flush=True)
    out = Path(args.out)
    with out.open("a") as fh:  # a log: earlier invocations' tables stay
        fh.write("\n".join(lines) + "\n\n")


if __name__ == "__main__":
    main()
