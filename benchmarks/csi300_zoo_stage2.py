"""Stage 2 of benchmarks/results/csi300_zoo_select.md: the stage-1 winner's options over seeds 0,1,2 on 2015-2016.

    python benchmarks/csi300_zoo_stage2.py csi300_alstm [--out runs/zoo_select/alstm_options]

One ``seqalpha sweep`` whose grid is the winner's ``model_params`` with one change each: ``aux`` (auxiliary
horizons 2 and 5), ``warm`` (warm-started refits, 2 epochs), and, for a recurrent winner, ``-chrono``
(PyTorch's default gate initialisation). Prints the command and runs it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from seqalpha import load_strategy_file

ROOT = Path(__file__).resolve().parents[1]


def options(params: dict) -> dict[str, dict]:
    """Name -> the winner's model_params with that option."""
    out = {"aux": {**params, "aux_horizons": [2, 5]}, "warm": {**params, "warm_start": True, "warm_epochs": 2}}
    if params.get("gate_init") == "chrono":
        out["-chrono"] = {**params, "gate_init": "default"}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("winner", help="the stage-1 winner's file stem under strategies/")
    ap.add_argument("--out", default=None)
    ap.add_argument("--workers", type=int, default=3)
    args = ap.parse_args()
    file = ROOT / "strategies" / f"{args.winner}.py"
    cls, _ = load_strategy_file(file)
    grid = list(options(dict(cls.model_params)).values())
    out = args.out or str(ROOT / "runs" / "zoo_select" / f"{args.winner.removeprefix('csi300_')}_options")
    cmd = [sys.executable, "-m", "seqalpha.cli", "sweep", str(file), "--seeds", "0,1,2",
           "--set", "test_start=2015-01-01", "--set", "test_end=2016-12-31", "--set", "cache=False",
           "--grid", f"model_params={grid!r}", "--workers", str(args.workers), "--threads-per-worker", "1",
           "--out", out, "--resume"]
    print(" ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)


if __name__ == "__main__":
    main()
