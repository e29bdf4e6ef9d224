"""The LightGBM (and MLP) Alpha158 baselines over 5 seeds on the CSI 300 test period (issue 21), appended to
benchmarks/results/csi300_seeds.csv with ``chosen`` = False and the table's columns.

    python benchmarks/csi300_lgbm_seeds.py [--strategies csi300_lgbm_alpha158 csi300_mlp_alpha158]
                                           [--seeds 0 1 2 3 4] [--threads 2]

Each row is one ``seqalpha run strategies/<name>.py --set seed=S --set cache=False --threads 2``
(benchmarks/csi300_seeds.py's ``run_one``: timed from the command's start to its end, the data's
Alpha158 factors included), one fit at the start of 2017, run alone on the machine; Qlib's own run
used ``num_threads`` 2. Rows already in the CSV are skipped. Compare with Qlib 0.9.7's run on the same
folder: IC 0.0410, rank IC 0.0446 (../shared/data/README.md).
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--strategies", nargs="+", default=["csi300_lgbm_alpha158"])
    ap.add_argument("--seeds", nargs="+", default=["0", "1", "2", "3", "4"])
    ap.add_argument("--threads", default="2")
    args, rest = ap.parse_known_args()
    spec = importlib.util.spec_from_file_location("csi300_seeds", HERE / "csi300_seeds.py")
    seeds = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(seeds)
    seeds.main(["--strategies", *args.strategies, "--seeds", *args.seeds, "--workers", "1",
                "--threads", args.threads, *rest])  # no --chosen: every row is chosen=False


if __name__ == "__main__":
    main()
