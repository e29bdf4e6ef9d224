"""Re-simulate saved runs' decisions with the engine of two code versions: what an engine change does to results.

    python benchmarks/resimulate.py RUN_DIR [RUN_DIR ...] [--before GIT_REF | --before none]

Reads each run's ``config.json``, ``rebalances.parquet`` and ``weights.parquet`` (the target
weights decided at each rebalance, which no engine change alters), rebuilds the panel from the
run's data URI and simulates the same decisions on the run's test span with the engine as it is
at GIT_REF (default HEAD) and as it is in the working tree. Both engines are given only the data
up to the span's last bar. Prints excess return, IR and excess drawdown for both, the orders
filled on limit-up and limit-down bars by side, the seconds each took, the largest per-bar
return difference from the stored run, and whether it is below 1e-12. Then compares the two engines'
filled orders field by field (count, bar, asset, side, size, price, fees) and their per-bar returns.
``--before none`` re-simulates with the working tree's engine only (no git checkout needed).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import io
import json
import subprocess
import sys
import tarfile
import tempfile
import time
import types
from pathlib import Path

import numpy as np
import pandas as pd

from seqalpha import engine, load_strategy_file, metrics
from seqalpha.backtest import Dataset, WalkForward
from seqalpha.data import load_panel
from seqalpha.plugins import collect_registries

ROOT = Path(__file__).resolve().parents[1]


def engine_at(ref: str):
    """The engine (framework/engine.py or framework/engine/) as it is at git ``ref``, imported on its own."""
    tar = subprocess.run(["git", "archive", ref, "framework"], cwd=ROOT, check=True, capture_output=True).stdout
    folder = Path(tempfile.mkdtemp())
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        archive.extractall(folder, filter="data")
    name = f"framework_at_{ref.replace('/', '_').replace('~', '_').replace('^', '_')}"
    package = types.ModuleType(name)  # a bare parent: the old framework/__init__ is not run
    package.__path__ = [str(folder / "framework")]
    sys.modules[name] = package
    return importlib.import_module(f"{name}.engine")


def simulate_inputs(strategy, dataset: Dataset, calendar: WalkForward, decisions: dict, accepted=None):
    """The positional and keyword arguments of ``engine.simulate`` for the span t0 + 1 .. t1 + 1 (keywords
    limited to ``accepted`` where given: an older engine takes fewer); costs as a plain dict."""
    panel, end = dataset.panel, calendar.t1 + 1
    cut = slice(0, end + 1)
    costs = dict(fees=strategy.fees, slippage=strategy.slippage, buy_cost=strategy.buy_cost,
                 sell_cost=strategy.sell_cost, min_cost=strategy.min_cost)
    wanted = {"start": calendar.t0 + 1, "init_cash": strategy.init_cash, "costs": costs,
              "limit_threshold": strategy.limit_threshold, "delist_after": strategy.delist_after,
              "periods_per_year": metrics.periods_per_year(panel.dates[cut]),
              "lot_size": getattr(strategy, "lot_size", None)}
    args = (panel.dates[cut], panel.assets, panel.close[cut], dataset.exec_price[cut], panel.tradable()[cut],
            decisions)
    return args, {k: v for k, v in wanted.items() if accepted is None or k in accepted}


def simulate(eng, strategy, dataset: Dataset, calendar: WalkForward, decisions: dict):
    """Simulate with any engine version on the span t0 + 1 .. t1 + 1, passing only the arguments it takes."""
    args, kwargs = simulate_inputs(strategy, dataset, calendar, decisions, inspect.signature(eng.simulate).parameters)
    kwargs["costs"] = eng.Costs(**kwargs["costs"])
    return eng.simulate(*args, **kwargs)


def load_run(run: Path, registries, loaded: dict):
    """A saved run's strategy, dataset, calendar and decisions {bar: weights} (``loaded`` caches panels by URI)."""
    config = json.loads((run / "config.json").read_text())
    cls, _ = load_strategy_file(config["strategy_file"])
    strategy = cls(**{k: v for k, v in config["params"].items() if k != "data" and hasattr(cls, k)})
    if config["data"] not in loaded:
        loaded[config["data"]] = load_panel(config["data"], registries.data_sources)
    panel = loaded[config["data"]]
    dataset = Dataset.build(strategy, panel, registries.features)
    calendar = WalkForward.of(strategy, panel.dates)
    bar = {d: i for i, d in enumerate(panel.dates)}
    col = {a: j for j, a in enumerate(panel.assets)}
    decisions = {bar[pd.Timestamp(d)]: np.zeros(len(panel.assets))
                 for d in pd.read_parquet(run / "rebalances.parquet")["date"]}
    w = pd.read_parquet(run / "weights.parquet")
    for d, a, x in zip(w["date"], w["asset"], w["weight"]):
        decisions[bar[pd.Timestamp(d)]][col[a]] = x
    return strategy, dataset, calendar, decisions


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--before", default="HEAD", help="git ref whose engine to compare with (default HEAD; "
                                                      "'none': the working tree's engine only)")
    args = ap.parse_args(argv)
    before = None if args.before.lower() == "none" else engine_at(args.before)
    registries = collect_registries()
    loaded: dict = {}
    for run in map(Path, args.runs):
        stored = pd.read_parquet(run / "returns.parquet")
        strategy, dataset, calendar, decisions = load_run(run, registries, loaded)
        panel = dataset.panel
        up, down = engine.limit_moves(panel.close.astype(np.float64), dataset.exec_price, strategy.limit_threshold)
        sims = {}
        for name, eng in ((("before", before),) if before is not None else ()) + (("now", engine),):
            t = time.perf_counter()
            sim = simulate(eng, strategy, dataset, calendar, decisions)
            seconds = time.perf_counter() - t
            r = sim.returns.to_numpy()
            bench = stored["benchmark"].to_numpy()[: len(r)]
            perf = metrics.performance(pd.Series(r), pd.Series(bench), metrics.periods_per_year(panel.dates))
            same = len(r) == len(stored) and np.allclose(r, stored["strategy"].to_numpy(), rtol=0, atol=1e-12)
            gap = np.max(np.abs(r - stored["strategy"].to_numpy())) if len(r) == len(stored) else float("nan")
            rec = sim.portfolio.orders.values
            b, c, buy = rec["idx"] + calendar.t0 + 1, rec["col"], rec["side"] == 0
            print(f"{run.name} {name}: excess {perf['excess_annual_return']:.4f}, IR {perf['information_ratio']:.4f}, "
                  f"excess MDD {perf['excess_max_drawdown']:.4f}, {len(rec)} orders; limit up: {int((up[b, c] & buy).sum())} "
                  f"buys, {int((up[b, c] & ~buy).sum())} sells; limit down: {int((down[b, c] & buy).sum())} buys, "
                  f"{int((down[b, c] & ~buy).sum())} sells; {seconds:.1f} s; largest per-bar return difference from the "
                  f"stored run {gap:.1e}; reproduces the stored returns: {same}",
                  flush=True)
            sims[name] = sim
        if before is not None:
            print(f"{run.name} before vs now: {same_orders(sims['before'], sims['now'])}", flush=True)


def same_orders(a, b) -> str:
    """The two simulations' filled orders (count, bar, asset, side, size, price, fees) and per-bar returns, compared."""
    ra, rb = a.portfolio.orders.values, b.portfolio.orders.values
    gap = float(np.max(np.abs(a.returns.to_numpy() - b.returns.to_numpy()))) if len(a.returns) == len(b.returns) \
        else float("nan")
    parts = [f"orders {len(ra)} vs {len(rb)} (of 0 shares: {int((ra['size'] == 0).sum())} vs {int((rb['size'] == 0).sum())})"]
    if len(ra) != len(rb):  # the earlier engine's 0-share orders (a buy the cash left cannot fill a lot of) set aside
        ra = ra[ra["size"] != 0]
        parts.append(f"other orders {len(ra)} vs {len(rb)}")
    if len(ra) == len(rb):
        for field in ("idx", "col", "side", "size", "price", "fees"):
            diff = ra[field] != rb[field]
            parts.append(f"{field} {'same' if not diff.any() else f'{int(diff.sum())} differ'}")
        parts.append(f"largest size difference {float(np.max(np.abs(ra['size'] - rb['size']), initial=0.0)):.1e}")
    parts.append(f"largest per-bar return difference {gap:.1e} (below 1e-12: {gap < 1e-12})")
    return "; ".join(parts)


if __name__ == "__main__":
    main()
