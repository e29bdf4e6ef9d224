"""Re-simulate saved runs' decisions with the engine of two code versions: what an engine change does to results.

    python benchmarks/resimulate.py RUN_DIR [RUN_DIR ...] [--before GIT_REF]

Reads each run's ``config.json``, ``rebalances.parquet`` and ``weights.parquet`` (the
target weights decided at each rebalance, which no engine change alters), rebuilds the
panel from the run's data URI and simulates the same decisions with ``framework/engine.py``
as it is at GIT_REF (default HEAD) and as it is in the working tree. Prints excess return,
IR and excess drawdown for both, whether the ``before`` engine reproduces the stored
returns exactly (it should, when GIT_REF is the code that made the run), and the orders
filled on limit-up and limit-down bars by side.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from framework import engine, load_strategy_file, metrics
from framework.backtest import Prepared, test_bars
from framework.data import load_panel
from framework.plugins import collect_registries

ROOT = Path(__file__).resolve().parents[1]


def engine_at(ref: str):
    """framework/engine.py as it is at git ``ref``, imported as a separate module."""
    code = subprocess.run(["git", "show", f"{ref}:framework/engine.py"], cwd=ROOT, check=True, capture_output=True,
                          text=True).stdout
    path = Path(tempfile.mkdtemp()) / "engine_before.py"
    path.write_text(code)
    spec = importlib.util.spec_from_file_location("engine_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["engine_before"] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--before", default="HEAD", help="git ref whose engine made the runs (default HEAD)")
    args = ap.parse_args()
    before = engine_at(args.before)
    registries = collect_registries()
    loaded: dict = {}
    for run in map(Path, args.runs):
        config = json.loads((run / "config.json").read_text())
        stored = pd.read_parquet(run / "returns.parquet")
        cls, _ = load_strategy_file(config["strategy_file"])
        strategy = cls(**{k: v for k, v in config["params"].items() if k != "data"})
        if config["data"] not in loaded:
            panel = load_panel(config["data"], registries.data_sources)
            loaded[config["data"]] = (panel, Prepared(strategy, panel, registries.features).exec_price)
        panel, exec_price = loaded[config["data"]]
        dates, assets = panel.dates, panel.assets
        t0, _ = test_bars(strategy, dates)
        bar = {d: i for i, d in enumerate(dates)}
        col = {a: j for j, a in enumerate(assets)}
        decisions = {bar[pd.Timestamp(d)]: np.zeros(len(assets)) for d in pd.read_parquet(run / "rebalances.parquet")["date"]}
        w = pd.read_parquet(run / "weights.parquet")
        for d, a, x in zip(w["date"], w["asset"], w["weight"]):
            decisions[bar[pd.Timestamp(d)]][col[a]] = x
        up, down = engine.limit_moves(panel.close.astype(np.float64), exec_price, strategy.limit_threshold)
        for name, eng in (("before", before), ("now", engine)):
            costs = eng.Costs(fees=strategy.fees, slippage=strategy.slippage, buy_cost=strategy.buy_cost,
                              sell_cost=strategy.sell_cost, min_cost=strategy.min_cost)
            t = time.perf_counter()
            sim = eng.simulate(dates, assets, panel.close, exec_price, panel.tradable(), decisions, start=t0 + 1,
                               init_cash=strategy.init_cash, costs=costs, limit_threshold=strategy.limit_threshold)
            seconds = time.perf_counter() - t
            perf = metrics.performance(pd.Series(sim.returns.to_numpy()), stored["benchmark"],
                                       metrics.periods_per_year(dates))
            same = np.allclose(sim.returns.to_numpy(), stored["strategy"].to_numpy(), rtol=0, atol=1e-12)
            rec = sim.portfolio.orders.values
            b, c, buy = rec["idx"] + t0 + 1, rec["col"], rec["side"] == 0
            print(f"{run.name} {name}: excess {perf['excess_annual_return']:.4f}, IR {perf['information_ratio']:.4f}, "
                  f"excess MDD {perf['excess_max_drawdown']:.4f}, {len(rec)} orders; limit up: {int((up[b, c] & buy).sum())} "
                  f"buys, {int((up[b, c] & ~buy).sum())} sells; limit down: {int((down[b, c] & buy).sum())} buys, "
                  f"{int((down[b, c] & ~buy).sum())} sells; {seconds:.1f} s; reproduces the stored returns: {same}", flush=True)


if __name__ == "__main__":
    main()
