"""Time the data-quality scan (framework/data/quality.py) on a panel and print its counts and worst findings.

    python benchmarks/bench_quality.py ["qlib:/work/shared/data/cn_csi300_qlib?universe=csi300&benchmark=SH000300"]
"""

from __future__ import annotations

import sys
import time

from seqalpha.data import load_panel
from seqalpha.data.quality import scan
from seqalpha.plugins import collect_registries, run_manager

URI = "qlib:/work/shared/data/cn_csi300_qlib?universe=csi300&benchmark=SH000300"


def main(uri: str = URI, worst: int = 20) -> None:
    panel = load_panel(uri, collect_registries(run_manager()).data_sources)
    print(f"panel {panel.shape} adjusted={panel.meta.get('adjusted')}")
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        report = scan(panel)
        times.append(time.perf_counter() - t0)
    print(f"scan: best {min(times):.3f} s, worst {max(times):.3f} s of 3")
    print(f"counts {report.counts}; {len(report.errors)} error(s); digest {report.digest[:16]}")
    for f in report.findings[:worst]:
        print(f"  {f.level:7s} {f.line()}")


if __name__ == "__main__":
    main(*sys.argv[1:2])
