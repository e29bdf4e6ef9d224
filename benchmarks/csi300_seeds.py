"""The CSI 300 test-period table over seeds (issue 14): one row per strategy and seed in
benchmarks/results/csi300_seeds.csv.

    python benchmarks/csi300_seeds.py --chosen csi300_alstm [--strategies csi300_lstm csi300_gru ...]
                                      [--seeds 0 1 2 3 4] [--workers 2] [--threads 1]

Each row is one end-to-end ``seqalpha run strategies/<name>.py --set seed=S --set cache=False
--workers 2`` on 2017-01-01 to 2020-08-01, run alone on the machine: model cache off (the workers
fill a fresh temporary cache that dies with the run), the default thread count (1 per worker),
timed from the command's start to its end (data loading, every fit, scoring, the simulation and
the report). Rows already in the CSV are skipped, so the script resumes where a stop left it.
``chosen`` is true for the one strategy chosen on 2015-2016 (benchmarks/results/csi300_zoo_select.md);
without ``--chosen`` every row written is false (baselines: benchmarks/csi300_lgbm_seeds.py). ``--threads``
is each run's ``--threads`` (a one-fit strategy gains nothing from ``--workers``; LightGBM uses the threads).
``--ensemble N`` runs an in-run seed ensemble: seed s is the run with members N*s .. N*s+N-1 (``--set
seeds=[...]``), as issue 23's selection ran it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "benchmarks" / "results" / "csi300_seeds.csv"
COLUMNS = ["strategy", "chosen", "model", "seed", "ic", "rank_ic", "icir", "rank_icir", "excess_annual_return",
           "information_ratio", "excess_max_drawdown", "wall_seconds"]


def run_one(name: str, seed: int, workers: int, out: Path, threads: int = 1, ensemble: int = 0) -> dict:
    """Run one strategy at one seed through the command line (with ``ensemble`` N, the in-run ensemble of
    members N*seed .. N*seed+N-1); its CSV row."""
    members = [ensemble * seed + k for k in range(ensemble)]
    cmd = [sys.executable, "-m", "seqalpha.cli", "run", str(ROOT / "strategies" / f"{name}.py"), "--quiet",
           "--set", f"seed={seed}", "--set", "cache=False", "--out", str(out), "--force"]
    if ensemble:
        cmd += ["--set", f"seeds={members}"]
    if workers > 1:
        cmd += ["--workers", str(workers)]
    if threads > 1:
        cmd += ["--threads", str(threads)]
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True)
    wall = time.perf_counter() - t0
    metrics = json.loads((out / "metrics.json").read_text())
    config = json.loads((out / "config.json").read_text())
    # With --workers the loop reads the fits back from the run's own fresh temporary cache (framework/sweep/fanout.py),
    # so config.json says cache=True there; a serial run must say False.
    if config["params"]["seed"] != seed or (workers <= 1 and config["params"]["cache"]) or (
            ensemble and list(config["params"]["seeds"]) != members):
        raise RuntimeError(f"{out}: config.json says seed {config['params']['seed']}, seeds "
                           f"{config['params'].get('seeds')}, cache {config['params']['cache']}")
    row = {"strategy": name, "model": config["params"]["model"], "seed": seed, "wall_seconds": round(wall, 1)}
    row.update({k: metrics[k] for k in COLUMNS if k in metrics})
    return row


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chosen", default=None, help="the strategy chosen on 2015-2016 (file stem); none: all false")
    ap.add_argument("--strategies", nargs="+", default=None,
                    help="file stems under strategies/ (default: the chosen one, csi300_lstm, csi300_gru)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="threads of each run (its --threads)")
    ap.add_argument("--ensemble", type=int, default=0, help="in-run seed ensemble of N members: seed s has members "
                    "N*s .. N*s+N-1 (0: a single model per seed)")
    ap.add_argument("--runs", default=str(ROOT / "runs" / "csi300_seeds"), help="where the run folders go")
    ap.add_argument("--csv", type=Path, default=CSV)
    args = ap.parse_args(argv)
    if not args.strategies and not args.chosen:
        ap.error("give --chosen, --strategies or both")
    names = args.strategies or list(dict.fromkeys([args.chosen, "csi300_lstm", "csi300_gru"]))
    table = pd.read_csv(args.csv) if args.csv.exists() else pd.DataFrame(columns=COLUMNS)
    done = set(zip(table["strategy"], table["seed"].astype(int)))
    for seed in args.seeds:  # seed-major: an interrupted table still compares the strategies on the same seeds
        for name in names:
            if (name, seed) in done:
                continue
            row = run_one(name, seed, args.workers, Path(args.runs) / f"{name}-seed{seed}", args.threads, args.ensemble)
            row["chosen"] = name == args.chosen
            table = pd.concat([table, pd.DataFrame([row])], ignore_index=True)[COLUMNS]
            table[COLUMNS[4:]] = table[COLUMNS[4:]].astype(float)
            table.to_csv(args.csv, index=False, float_format="%.6g")
            print(f"{name} seed {seed}: rank IC {row['rank_ic']:.4f}, IC {row['ic']:.4f}, "
                  f"excess {row['excess_annual_return']:+.2%}, {row['wall_seconds'] / 60:.1f} min", flush=True)


if __name__ == "__main__":
    main()
