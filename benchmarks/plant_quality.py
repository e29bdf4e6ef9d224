"""Plant one-bar price errors (x100, x0.01, x10 of the whole bar: open, high, low, close) into a real panel at
random listed (asset, date) cells with a fixed seed, run the data-quality scan, and print how many were found and
every error-level finding that is not a planted one (a genuine move flagged: a false positive).

    python benchmarks/plant_quality.py ["qlib:/work/shared/data/cn_csi300_qlib?universe=csi300&benchmark=SH000300"]

A cell is eligible when the asset has a price on the bar before and the bar after (a one-bar error is recognised
by its neighbours; the first and last bar of a series have only one) and no other planted cell is within 2 bars.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from seqalpha.data import Panel
from seqalpha.data.quality import PRICES, QualityReport, scan

URI = "qlib:/work/shared/data/cn_csi300_qlib?universe=csi300&benchmark=SH000300"
FACTORS = (100.0, 0.01, 10.0)


def plant(panel: Panel, per_factor: int = 30, seed: int = 0) -> tuple[Panel, list[tuple[str, str, float]]]:
    """A copy of ``panel`` with ``per_factor`` bars scaled by each of FACTORS: the panel and the
    (asset, date, factor) planted."""
    rng = np.random.default_rng(seed)
    c = panel.close
    ok = np.zeros(c.shape, dtype=bool)
    ok[1:-1] = np.isfinite(c[1:-1]) & np.isfinite(c[:-2]) & np.isfinite(c[2:])
    t, i = np.nonzero(ok)
    values = panel.values.copy()
    fields = [panel.fields.index(p) for p in PRICES if panel.has(p)]
    taken: set[tuple[int, int]] = set()
    planted = []
    order = rng.permutation(len(t))
    k = 0
    for factor in FACTORS:
        n = 0
        while n < per_factor:
            tt, ii = int(t[order[k]]), int(i[order[k]])
            k += 1
            if any((tt + d, ii) in taken for d in range(-2, 3)):
                continue
            taken.add((tt, ii))
            values[tt, ii, fields] *= factor
            planted.append((panel.assets[ii], str(panel.dates[tt].date()), factor))
            n += 1
    out = Panel(dates=panel.dates, assets=panel.assets, fields=panel.fields, values=values, name=panel.name,
                universe=panel.universe, benchmark=panel.benchmark, meta=dict(panel.meta))
    return out, planted


def compare(report: QualityReport, planted: list[tuple[str, str, float]]) -> tuple[list, list]:
    """The planted cells the scan missed, and the error findings that were not planted (false positives)."""
    flagged = {(f.asset, f.date) for f in report.errors}
    cells = {(a, d) for a, d, _ in planted}
    missed = [p for p in planted if (p[0], p[1]) not in flagged]
    extra = [f for f in report.errors if (f.asset, f.date) not in cells]
    return missed, extra


def main(uri: str = URI, per_factor: int = 30, seed: int = 0) -> tuple[list, list, QualityReport]:
    from seqalpha.data import load_panel
    from seqalpha.plugins import collect_registries, run_manager

    panel = load_panel(uri, collect_registries(run_manager()).data_sources)
    clean = scan(panel)
    print(f"panel {panel.close.shape}; clean scan {clean.seconds:.2f} s: {clean.counts or 'no finding'}, "
          f"{len(clean.errors)} error(s)")
    spiked, planted = plant(panel, per_factor, seed)
    t0 = time.perf_counter()
    report = scan(spiked)
    missed, extra = compare(report, planted)
    print(f"planted {len(planted)} one-bar errors ({per_factor} each of x{', x'.join(f'{f:g}' for f in FACTORS)}, "
          f"seed {seed}); scan {time.perf_counter() - t0:.2f} s: {report.counts}")
    print(f"found {len(planted) - len(missed)}/{len(planted)}; false positives (error findings not planted): "
          f"{len(extra)}")
    for a, d, f in missed:
        print(f"  missed x{f:g} {a} {d}")
    for f in extra:
        print(f"  false positive: {f.line()}")
    return missed, extra, clean


if __name__ == "__main__":
    main(*sys.argv[1:2])
