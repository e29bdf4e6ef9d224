"""Time ``alpha158`` on the whole CSI 300 folder (753 instruments, 2010-2026) in this process, and its memory.

    python benchmarks/bench_factors.py [DATA_DIR]      (default ../shared/data/cn_csi300_qlib)

Run it in a new process for the cold figure (numba's on-disk cache already compiled: run it twice, the first
run compiles). Qlib 0.9.7 took 130 s for its Alpha158 data phase on this folder (../shared/data/README.md).
Peak memory: VmHWM (peak resident, file pages included) and RssAnon (anonymous pages now) from
/proc/self/status; ``ru_maxrss`` is the same peak as VmHWM. One function per measurement.

The memory goal of a whole run whose Alpha158 features live in the feature store (3,000 assets x 5,000 days, and
the CSI 300; peak anonymous memory apart from the mapped file pages) is measured by
``benchmarks/bench_feature_memory.py`` (results: benchmarks/results/feature_memory_alpha158.txt).
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "cn_csi300_qlib"
QLIB_SECONDS = 130.0


def memory() -> dict[str, float]:
    """VmHWM, VmRSS and RssAnon / RssFile of this process, in MB (Linux /proc/self/status)."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
            out[key] = int(value.split()[0]) / 1024
    return out


def time_alpha158(folder: Path, threads: int = 2) -> dict[str, float]:
    """Seconds to load the folder and to compute alpha158 on it, with the output's shape."""
    t0 = time.perf_counter()
    from seqalpha.builtin_plugins.alpha158 import expressions_for
    from seqalpha.builtin_plugins.qlib_data import read_qlib
    from seqalpha.features.expr_engine import evaluate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        panel = read_qlib(folder, universe="csi300")
    t1 = time.perf_counter()
    fs = evaluate(expressions_for(panel), panel, threads=threads)
    t2 = time.perf_counter()
    T, N, F = fs.values.shape
    return {"import_and_load_s": t1 - t0, "alpha158_s": t2 - t1, "dates": T, "assets": N, "factors": F,
            "output_mb": fs.values.nbytes / 2**20}


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    if not folder.is_dir():
        sys.exit(f"no data folder {folder} (give the CSI 300 Qlib folder)")
    t = time_alpha158(folder)
    mem = memory()
    print(f"alpha158 on {folder.name}: {t['dates']} dates x {t['assets']} assets x {t['factors']} factors "
          f"({t['output_mb']:.0f} MB float32)")
    print(f"  import + load   {t['import_and_load_s']:7.1f} s")
    print(f"  alpha158        {t['alpha158_s']:7.1f} s   (Qlib 0.9.7: {QLIB_SECONDS:.0f} s; goal <= 15 s; "
          f"{QLIB_SECONDS / t['alpha158_s']:.1f}x Qlib)")
    print(f"  peak RSS (VmHWM) {mem['VmHWM']:7.0f} MB; now RssAnon {mem['RssAnon']:.0f} MB, RssFile {mem['RssFile']:.0f} MB")


if __name__ == "__main__":
    main()
