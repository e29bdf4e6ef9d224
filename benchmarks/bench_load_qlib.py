"""Time loading a whole Qlib folder (default: ../shared/data/cn_csi300_qlib) with the qlib: data source.

Usage: ``python benchmarks/bench_load_qlib.py [DIR] [--universe NAME] [--benchmark CODE] [--repeat N]``.
Prints best and median wall seconds over N loads (the first warms the page cache) and the
panel's shape and memory.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DIR = ROOT.parent / "shared" / "data" / "cn_csi300_qlib"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", nargs="?", default=str(DEFAULT_DIR), help="Qlib data folder")
    ap.add_argument("--universe", default="all", help="instruments/<NAME>.txt (default: all)")
    ap.add_argument("--benchmark", default=None, help="benchmark code, e.g. SH000300")
    ap.add_argument("--repeat", type=int, default=3, help="number of loads (default 3)")
    return ap.parse_args(argv)


def time_loads(args: argparse.Namespace) -> tuple[list[float], object]:
    """Load the folder ``args.repeat`` times; the seconds of each load and the last panel."""
    sys.path.insert(0, str(ROOT))
    from seqalpha.builtin_plugins.qlib_data import read_qlib

    seconds, panel = [], None
    for _ in range(args.repeat):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            panel = read_qlib(args.dir, universe=args.universe, benchmark=args.benchmark)
        seconds.append(time.perf_counter() - start)
    return seconds, panel


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    args = parse_args(argv)
    seconds, p = time_loads(args)
    mask_mb = 0 if p.universe is None else p.universe.nbytes / 2**20
    print(f"dir        {args.dir}  (universe={args.universe}, benchmark={args.benchmark})")
    print(f"loads      {', '.join(f'{s:.3f}' for s in seconds)} s")
    print(f"best       {min(seconds):.3f} s   median {statistics.median(seconds):.3f} s")
    print(f"shape      {p.shape} (dates, assets, fields) fields={list(p.fields)}")
    print(f"memory     values {p.values.nbytes / 2**20:.1f} MiB {p.values.dtype} + universe mask {mask_mb:.1f} MiB")
    print(f"calendar   {p.dates[0].date()} .. {p.dates[-1].date()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
