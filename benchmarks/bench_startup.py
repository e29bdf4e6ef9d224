"""How long the command line takes to start: `seqalpha --help`, `models`, `plugins` and `runs`, each in fresh processes.

    python benchmarks/bench_startup.py [--repeat 5] [--runs-dir DIR]

Each command runs ``--repeat`` times as ``python -m seqalpha.cli ...`` in a new interpreter
(nothing is warm but the operating system's file cache) with the working tree first on
``PYTHONPATH``; the figure is the median wall time, with the median CPU time (user + sys of
the child) beside it, which a busy machine inflates less. One untimed call first fills the file
cache. The budgets (docs/benchmarks.md, "Starting the command line") are checked and printed.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGETS = {"--help": 0.5, "models": 1.5, "plugins": 1.5, "runs": 1.5}


def timed(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) of one fresh ``python -m seqalpha.cli ARGS``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "seqalpha.cli", *args], env=env, cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--runs-dir", help="the folder `seqalpha runs` lists (default: an empty temporary one)")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    with tempfile.TemporaryDirectory() as empty:
        commands = {"--help": ["--help"], "models": ["models"], "plugins": ["plugins"],
                    "runs": ["runs", args.runs_dir or empty]}
        timed(commands["models"], env)  # warm the file cache
        print(f"{'command':<10} {'median wall s':>14} {'median cpu s':>13} {'budget s':>9}")
        over = 0
        for name, argv in commands.items():
            walls, cpus = zip(*(timed(argv, env) for _ in range(args.repeat)))
            wall, cpu = statistics.median(walls), statistics.median(cpus)
            ok = wall <= BUDGETS[name]
            over += not ok
            print(f"{name:<10} {wall:>14.2f} {cpu:>13.2f} {BUDGETS[name]:>9.1f}{'' if ok else '  OVER'}")
    print(f"(python {sys.version.split()[0]}, {os.cpu_count()} cpus, load average "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())})")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
