"""CSI 300 benchmark: strategies/csi300_lstm.py and csi300_gru.py on the Qlib-format folder, beside Qlib's rows.

    python benchmarks/csi300.py [--data DIR] [--models lstm gru] [--seeds 0 1] [--threads 2]
                                [--out benchmarks/results/csi300.md]

The published rows use 2 threads (this machine's 2 cores; the same count gives the same numbers).

Prints (and writes) a markdown table: IC, ICIR, rank IC, rank ICIR, annualised excess
return, information ratio, max drawdown, wall time per phase, with the CPU settings.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import torch

from seqalpha import load_strategy_file, run_backtest

ROOT = Path(__file__).resolve().parents[1]
QLIB_PUBLISHED = {  # Qlib's README, CSI 300, Alpha360, its own data (20 seeds)
    "lstm": (0.0448, 0.3474, 0.0549, 0.4366, 0.0647, 0.8963, -0.0875),
    "gru": (0.0493, 0.3772, 0.0584, 0.4638, 0.0720, 0.9730, -0.0821),
}
QLIB_SAME_DATA = (0.0146, 0.094, 0.0295, 0.200, -0.0115, -0.17, -0.078, 57.5 * 60)  # Qlib 0.9.7 on this folder, LSTM


METRICS = ("ic", "icir", "rank_ic", "rank_icir", "excess_annual_return", "information_ratio", "excess_max_drawdown")


def row(name, m, seconds=None):
    cells = [f"{m[k]:.4f}" for k in METRICS]
    return f"| {name} | " + " | ".join(cells) + f" | {seconds if seconds is not None else ''} |"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "cn_csi300_qlib"))
    ap.add_argument("--models", nargs="+", default=["lstm", "gru"])
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "csi300.md"))
    ap.add_argument("--runs", default=str(ROOT / "runs" / "benchmark"))
    ap.add_argument("--threads", type=int, default=2, help="torch/BLAS threads per run (published rows: 2)")
    ap.add_argument("--seeds", nargs="+", type=int, default=None,
                    help="run each model once per seed (default: the strategy's own seed) and add a mean row")
    args = ap.parse_args()
    lines = ["| run | IC | ICIR | rank IC | rank ICIR | ann. excess return | IR | max drawdown (excess) | wall time |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for model in args.models:
        cls, _ = load_strategy_file(ROOT / "strategies" / f"csi300_{model}.py")
        uri = f"qlib:{args.data}?universe=csi300&benchmark=SH000300"
        seeds = args.seeds or [cls.seed]
        runs = []
        for seed in seeds:
            t0 = time.perf_counter()
            res = run_backtest(cls, data=uri, out=Path(args.runs) / f"{model}-seed{seed}", cache=False,  # no model cache
                               seed=seed, threads=args.threads, force=True)  # a rerun replaces the last one
            wall = time.perf_counter() - t0
            runs.append((res.metrics, wall))
            sec = res.metrics["seconds"]
            phases = ", ".join(f"{k} {sec[k]:.0f}s" for k in ("data", "train", "predict", "simulate"))
            label = f"seqalpha {model.upper()} (this data, 2 cores{f', seed {seed}' if args.seeds else ''})"
            lines.append(row(label, res.metrics, f"{wall / 60:.1f} min ({phases})"))
            print(lines[-1], flush=True)
        if len(runs) > 1:
            mean = {k: sum(m[k] for m, _ in runs) / len(runs) for k in runs[0][0] if k in METRICS}
            lines.append(row(f"seqalpha {model.upper()}, mean of seeds {seeds}", mean,
                             f"{sum(w for _, w in runs) / len(runs) / 60:.1f} min per run"))
            print(lines[-1], flush=True)
    lines.append("| Qlib 0.9.7 LSTM (this data, 2 cores) | " + " | ".join(f"{v:.4f}" for v in QLIB_SAME_DATA[:7])
                 + f" | {QLIB_SAME_DATA[7] / 60:.1f} min |")
    for model, vals in QLIB_PUBLISHED.items():
        lines.append(f"| Qlib published {model.upper()} (Qlib's data) | " + " | ".join(f"{v:.4f}" for v in vals) + " | |")
    settings = (f"\nCPU: {os.cpu_count()} cores visible, torch {torch.__version__} with {args.threads} threads, "
                f"{platform.processor() or platform.machine()}; model settings as in strategies/csi300_*.py.\n")
    text = "\n".join(lines) + "\n" + settings
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
