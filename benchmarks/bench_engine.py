"""The engine against plain vectorbt: the same weights and prices, 500 assets x 2,500 days, rebalancing every 5 bars.

    python benchmarks/bench_engine.py [--assets 500] [--days 2500] [--every 5] [--repeat 5]

Cases: plain fees (0.1%); Qlib's costs (buy 0.05%, sell 0.15%, minimum 5 per order); Qlib's
costs with the 9.5% price limit. The reference is ``vbt.Portfolio.from_orders`` with target
percents, one cash pool, sales first and a flat 0.1% fee: what the engine would cost if it
had no rules of its own. Both are warm (compiled, one untimed call first); the figure is the
best of ``--repeat`` calls. Prints seconds and the ratio engine / from_orders per case. ``engine.simulate``
builds its vectorbt Portfolio only when ``.portfolio`` is read; the last line reads it too.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import vectorbt as vbt

from seqalpha import engine


def market(n_assets: int, n_days: int, every: int, seed: int = 0):
    """Random prices with limit-sized moves, some late listings and delistings, and equal-weight top-50 targets."""
    rng = np.random.default_rng(seed)
    r = rng.standard_normal((n_days, n_assets)) * 0.02
    r[rng.random(r.shape) < 0.01] = 0.1
    r[rng.random(r.shape) < 0.01] = -0.1
    close = 10 * np.exp(np.cumsum(np.log1p(r), axis=0))
    for i in rng.choice(n_assets, n_assets // 10, replace=False):
        close[: rng.integers(1, n_days // 2), i] = np.nan
    for i in rng.choice(n_assets, n_assets // 10, replace=False):
        close[rng.integers(n_days // 2, n_days):, i] = np.nan
    decisions = {}
    for t in range(0, n_days - 1, every):
        listed = np.flatnonzero(np.isfinite(close[t]))
        w = np.zeros(n_assets)
        w[rng.choice(listed, min(50, len(listed)), replace=False)] = 1 / 50
        decisions[t] = w
    return pd.bdate_range("2010-01-01", periods=n_days), pd.Index([f"A{i}" for i in range(n_assets)]), close, decisions


def plain_vectorbt(dates, assets, close, decisions):
    """from_orders on the same targets (traded next bar, valued at the last close), no rules of the engine's."""
    T, N = close.shape
    size = np.full((T, N), np.nan)
    for t, w in decisions.items():
        size[t + 1] = np.where(np.isfinite(close[t + 1]), w, np.nan)
    valuation = np.nan_to_num(pd.DataFrame(close).ffill().bfill().to_numpy(), nan=1.0)
    frame = lambda a: pd.DataFrame(a, index=dates, columns=assets)  # noqa: E731
    return vbt.Portfolio.from_orders(close=frame(valuation), size=frame(size), size_type="targetpercent",
                                     price=frame(valuation), direction="both", fees=0.001, init_cash=1e8,
                                     cash_sharing=True, group_by=True, call_seq="auto", freq="1D")


def best_of(fn, repeat: int) -> float:
    fn()  # warm: compile and fill caches
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--assets", type=int, default=500)
    ap.add_argument("--days", type=int, default=2500)
    ap.add_argument("--every", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    dates, assets, close, decisions = market(args.assets, args.days, args.every)
    tradable = np.isfinite(close)
    qlib = engine.Costs(buy_cost=0.0005, sell_cost=0.0015, min_cost=5.0)
    cases = {"plain fees": (engine.Costs(fees=0.001), None), "Qlib costs": (qlib, None),
             "Qlib costs + limit": (qlib, 0.095)}
    base = best_of(lambda: plain_vectorbt(dates, assets, close, decisions), args.repeat)
    print(f"{args.assets} assets x {args.days} days, rebalancing every {args.every} bars; best of {args.repeat}, warm")
    print(f"vectorbt from_orders (reference): {base:.3f} s")
    for name, (costs, limit) in cases.items():
        seconds = best_of(lambda c=costs, lim=limit: engine.simulate(dates, assets, close, close, tradable, decisions,
                                                                     start=0, costs=c, limit_threshold=lim),
                          args.repeat)
        print(f"engine, {name:<20} {seconds:.3f} s   ratio {seconds / base:.2f}x")
    qlib_limit = lambda: engine.simulate(dates, assets, close, close, tradable, decisions, start=0,  # noqa: E731
                                         costs=qlib, limit_threshold=0.095)
    seconds = best_of(lambda: qlib_limit().portfolio, args.repeat)
    print(f"engine, {'the same + Portfolio':<20} {seconds:.3f} s   ratio {seconds / base:.2f}x")


if __name__ == "__main__":
    main()
