"""A fresh process simulating a saved run's decisions: how long the engine takes to start, cold and cached.

    python benchmarks/bench_engine_start.py RUN_DIR [--processes 2] [--cold]

Reads the run's decisions and data once (as benchmarks/resimulate.py does), writes the
arguments of ``engine.simulate`` to a temporary file, then starts ``--processes`` new Python
processes one after the other. Each imports the engine, loads the arguments and calls
``engine.simulate`` twice, printing the seconds of the import, of the first call (which
compiles the kernel or loads it from numba's disk cache, and loads vectorbt's cached functions)
and of the second (warm), wall and CPU. The first process after an engine change compiles; every
later one finds the cache. ``--cold`` gives the processes an empty ``NUMBA_CACHE_DIR``, so the first
one compiles (simulating never calls vectorbt's numba functions, so nothing else lands there). Run it
from the repository root with PYTHONPATH=$PWD.
"""

from __future__ import annotations

import argparse
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import pickle, sys, time
w, c = time.perf_counter(), time.process_time()
from seqalpha import engine
from seqalpha.engine.kernel import simulate_orders
imported = time.perf_counter() - w, time.process_time() - c
with open(sys.argv[1], "rb") as f:
    args, kwargs = pickle.load(f)
kwargs["costs"] = engine.Costs(**kwargs["costs"])
timed = []
for _ in range(2):
    w, c = time.perf_counter(), time.process_time()
    sim = engine.simulate(*args, **kwargs)
    timed.append((time.perf_counter() - w, time.process_time() - c))
cached = "loaded from the disk cache" if simulate_orders.stats.cache_hits else "compiled"
print(f"import {imported[0]:.2f} s (cpu {imported[1]:.2f}); simulate, first call {timed[0][0]:.2f} s "
      f"(cpu {timed[0][1]:.2f}), kernel {cached}; second call {timed[1][0]:.2f} s (cpu {timed[1][1]:.2f}); "
      f"{len(sim.portfolio.orders.values)} orders")
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--cold", action="store_true", help="start from an empty numba cache (NUMBA_CACHE_DIR)")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from resimulate import load_run, simulate_inputs

    from seqalpha.plugins import collect_registries

    strategy, dataset, calendar, decisions = load_run(Path(args.run), collect_registries(), {})
    inputs = simulate_inputs(strategy, dataset, calendar, decisions)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "inputs.pkl"
        path.write_bytes(pickle.dumps(inputs))
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        if args.cold:
            env["NUMBA_CACHE_DIR"] = str(Path(folder) / "numba")
        for k in range(args.processes):
            out = subprocess.run([sys.executable, "-c", CHILD, str(path)], check=True, capture_output=True, text=True,
                                 env=env)
            print(f"process {k + 1}: {out.stdout.strip()}", flush=True)


if __name__ == "__main__":
    main()
