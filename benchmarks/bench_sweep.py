"""Many runs at once on this machine: what the sweep machinery and worker processes buy, measured.

    python benchmarks/bench_sweep.py [--parts sweep overhead together csi300] [--workers 2]

* sweep: 8 runs of strategies/lstm_topk.py (window 20, 30 x seeds 0-3, model cache off), serially in
  one process and with --workers N: wall times, their ratio, and scaling efficiency
  (serial / (N x parallel)).
* overhead: 8 runs of a trivial model (last-step ridge on a small panel): the sweep's seconds per
  run beyond the runs' own ``seconds.total``, serial and on N workers.
* together: two `seqalpha run strategies/lstm_topk.py` processes started at once, against one alone.
* csi300: one run of strategies/csi300_lstm.py serially and with `seqalpha run --workers N`
  (threads 1 each; about 15 and 10 minutes here).
Prints one line per measurement; nothing is cached between the serial and parallel runs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "strategies" / "lstm_topk.py"


def seqalpha(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "seqalpha.cli", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def timed(*commands: list[str], env: dict) -> list[float]:
    """Start the commands together; each one's wall seconds."""
    t0 = time.perf_counter()
    procs = [seqalpha(*c, env=env) for c in commands]
    ends = []
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            raise SystemExit(f"seqalpha {' '.join(commands[procs.index(p)])} failed:\n{err[-2000:]}")
        ends.append(time.perf_counter() - t0)
    return ends


def part_sweep(tmp: Path, workers: int, env: dict, strategy: Path = DEFAULT, tag: str = "sweep",
               extra: tuple[str, ...] = ("--grid", "window=[20, 30]", "--seeds", "0,1,2,3")) -> None:
    import pandas as pd

    walls = {}
    for label, more in (("serial", ()), (f"{workers} workers", ("--workers", str(workers)))):
        out = tmp / f"{tag}-{label.replace(' ', '-')}"
        t0 = time.perf_counter()
        timed(["sweep", str(strategy), *extra, "--set", "cache=False", "--out", str(out), *more], env=env)
        walls[label] = time.perf_counter() - t0
        table = pd.read_parquet(out / "results.parquet")
        own = table["seconds.total"].sum()
        print(f"{tag}, {label}: {len(table)} runs in {walls[label]:.1f} s; runs' own time {own:.1f} s; machinery "
              f"and start-up {(walls[label] - own / (1 if label == 'serial' else workers)) / len(table):.2f} s a run",
              flush=True)
    serial, parallel = walls["serial"], walls[f"{workers} workers"]
    print(f"{tag}: {workers} workers {serial / parallel:.2f}x faster than serial; scaling efficiency "
          f"{serial / (workers * parallel):.0%}", flush=True)


def part_overhead(tmp: Path, workers: int, env: dict) -> None:
    trivial = tmp / "trivial.py"
    trivial.write_text("from seqalpha import Strategy\n\n\nclass Trivial(Strategy):\n"
                       "    data = 'synthetic?assets=10&days=200'\n    model = 'linear'\n    window = 5\n"
                       "    min_train_bars = 60\n    retrain = None\n")
    part_sweep(tmp, workers, env, trivial, "overhead", ("--grid", "window=[4, 5, 6, 7]", "--grid", "horizon=[1, 2]"))


def part_together(tmp: Path, env: dict) -> None:
    alone = timed(["run", str(DEFAULT), "-q", "--set", "cache=False", "--out", str(tmp / "alone")], env=env)[0]
    both = timed(["run", str(DEFAULT), "-q", "--set", "cache=False", "--out", str(tmp / "a")],
                 ["run", str(DEFAULT), "-q", "--set", "cache=False", "--out", str(tmp / "b")], env=env)
    print(f"together: one run alone {alone:.1f} s; two started together {both[0]:.1f} s and {both[1]:.1f} s "
          f"({max(both) / alone:.2f}x the time alone)", flush=True)


def part_csi300(tmp: Path, workers: int, env: dict) -> None:
    strategy = ROOT / "strategies" / "csi300_lstm.py"
    serial = timed(["run", str(strategy), "-q", "--set", "cache=False", "--out", str(tmp / "csi-serial")], env=env)[0]
    fanned = timed(["run", str(strategy), "-q", "--set", "cache=False", "--workers", str(workers),
                    "--out", str(tmp / "csi-workers")], env=env)[0]
    print(f"csi300: one run serial {serial / 60:.1f} min, --workers {workers} {fanned / 60:.1f} min "
          f"({serial / fanned:.2f}x)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parts", nargs="+", default=["sweep", "overhead", "together"],
                    choices=["sweep", "overhead", "together", "csi300"])
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    print(f"{os.cpu_count()} cores visible", flush=True)
    with tempfile.TemporaryDirectory(prefix="seqalpha-bench-") as tmp:
        env = {**os.environ, "SEQALPHA_CACHE_DIR": str(Path(tmp) / "cache")}
        for part in args.parts:
            if part == "sweep":
                part_sweep(Path(tmp), args.workers, env)
            elif part == "overhead":
                part_overhead(Path(tmp), args.workers, env)
            elif part == "together":
                part_together(Path(tmp), env)
            else:
                part_csi300(Path(tmp), args.workers, env)


if __name__ == "__main__":
    main()
