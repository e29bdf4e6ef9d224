"""A result that recovers: plant one-bar x100 spikes into a synthetic panel and run a small strategy (model
"linear" on the data's own factor columns) on the clean panel, under data_policy "warn" and under "mask".

Prints the equal-weight benchmark's annual return for each (goal: "warn" more than 5 points from clean, "mask"
within 0.5) and the strategy's Pearson IC over the data seeds (goal: "mask" within 2 SD of clean).

    python benchmarks/quality_recovery.py [SEEDS=0,1,2] [ASSETS=40] [DAYS=500] [SPIKES=10]
"""

from __future__ import annotations

import sys
import warnings

import numpy as np

from seqalpha import Strategy, run_backtest
from seqalpha.data import Panel, load_panel
from seqalpha.plugins import collect_registries, run_manager


class Recovery(Strategy):
    """Linear on the synthetic panel's factor columns (feature_set "columns"), top-k long, daily."""

    model = "linear"
    window = 5
    horizon = 1
    min_train_bars = 100
    retrain = "QS"
    rebalance = 1
    cache = False


def spiked(panel: Panel, n: int, seed: int, first: int) -> tuple[Panel, list[tuple[str, str]]]:
    """A copy of ``panel`` with ``n`` closes x100 for one bar, at random cells on or after bar ``first`` whose
    neighbours are priced, at most one per asset and bar pair; the panel and the (asset, date) cells."""
    rng = np.random.default_rng(1000 + seed)
    c = panel.close
    ok = np.zeros(c.shape, dtype=bool)
    ok[first:-1] = np.isfinite(c[first:-1]) & np.isfinite(c[first - 1:-2]) & np.isfinite(c[first + 1:])
    t, i = np.nonzero(ok)
    pick = rng.choice(len(t), size=n, replace=False)
    values = panel.values.copy()
    k = panel.fields.index("close")
    values[t[pick], i[pick], k] *= 100.0
    cells = [(panel.assets[ii], str(panel.dates[tt].date())) for tt, ii in zip(t[pick], i[pick])]
    return Panel(dates=panel.dates, assets=panel.assets, fields=panel.fields, values=values, name=panel.name,
                 universe=panel.universe, benchmark=panel.benchmark, meta=dict(panel.meta)), cells


def recovery(seed: int, assets: int = 40, days: int = 500, spikes: int = 10, strategy=Recovery) -> dict:
    """{"clean"|"warn"|"mask": {"benchmark": annual return, "ic": Pearson IC}, "cells": the planted cells}."""
    panel = load_panel(f"synthetic?assets={assets}&days={days}&seed={seed}",
                       collect_registries(run_manager()).data_sources)
    bad, cells = spiked(panel, spikes, seed, first=strategy.min_train_bars + 2 * strategy.window)
    out: dict = {"cells": cells}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the data-quality warning: expected here
        for name, data, policy in (("clean", panel, "warn"), ("warn", bad, "warn"), ("mask", bad, "mask")):
            result = run_backtest(strategy, data=data, data_policy=policy, progress=False)
            out[name] = {"benchmark": float(result.metrics["benchmark_annual_return"]),
                         "ic": float(result.metrics["ic"])}
    return out


def main(seeds: str = "0,1,2", assets: str = "40", days: str = "500", spikes: str = "10") -> None:
    runs = {int(s): recovery(int(s), int(assets), int(days), int(spikes)) for s in seeds.split(",")}
    print(f"synthetic?assets={assets}&days={days}&seed=S, {spikes} one-bar x100 closes planted in the test span; "
          "model linear on the data's factor columns")
    print("seed  benchmark annual return: clean / warn / mask (warn-clean, mask-clean, points)   IC: clean / warn / mask")
    for s, r in runs.items():
        c, w, m = (r[k]["benchmark"] for k in ("clean", "warn", "mask"))
        ic = " / ".join(f"{r[k]['ic']:+.4f}" for k in ("clean", "warn", "mask"))
        print(f"{s:>4}  {c:+.2%} / {w:+.2%} / {m:+.2%}  ({100 * (w - c):+.2f}, {100 * (m - c):+.2f})   {ic}")
    ics = {k: np.array([r[k]["ic"] for r in runs.values()]) for k in ("clean", "warn", "mask")}
    sd = ics["clean"].std(ddof=1) if len(runs) > 1 else float("nan")
    print(f"IC over {len(runs)} seeds: clean {ics['clean'].mean():+.4f} (SD {sd:.4f}), warn {ics['warn'].mean():+.4f}, "
          f"mask {ics['mask'].mean():+.4f}; |mask - clean| = {abs(ics['mask'].mean() - ics['clean'].mean()):.4f} "
          f"= {abs(ics['mask'].mean() - ics['clean'].mean()) / sd:.2f} SD")


if __name__ == "__main__":
    main(*sys.argv[1:5])
