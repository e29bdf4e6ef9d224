"""A fast start: the engine's compiled kernel is cached on disk, and simulating never imports vectorbt."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seqalpha import engine
from seqalpha.lazy import BuiltOnRead

ROOT = Path(__file__).resolve().parents[1]


def _market(T=12, N=3):
    close = 10 + np.cumsum(np.random.default_rng(0).standard_normal((T, N)) * 0.2, axis=0)
    return pd.bdate_range("2021-01-01", periods=T), pd.Index(["X", "Y", "Z"][:N]), close


@pytest.mark.slow
def test_a_new_process_loads_the_kernel_from_the_disk_cache_and_never_imports_vectorbt():
    dates, assets, close = _market()
    engine.simulate(dates, assets, close, close, np.ones_like(close, bool), {0: np.array([0.5, 0.5, 0.0])},
                    start=0)  # compiled here if no cache exists yet, and written to it
    child = """
import sys
import numpy as np, pandas as pd
from seqalpha import engine
from seqalpha.engine.kernel import simulate_orders, value_and_returns
close = np.full((6, 2), 10.0)
sim = engine.simulate(pd.bdate_range("2021-01-01", periods=6), pd.Index(["X", "Y"]), close, close,
                      np.ones((6, 2), bool), {0: np.array([0.5, 0.5])}, start=0, costs=engine.Costs(min_cost=5.0))
print(len(simulate_orders.stats.cache_hits), len(simulate_orders.stats.cache_misses),
      len(value_and_returns.stats.cache_hits), len(value_and_returns.stats.cache_misses),
      "vectorbt" in sys.modules, round(float(sim.value.iloc[-1]), 6))
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", child], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    hits, misses, vhits, vmisses, imported, value = out.stdout.split()
    assert (hits, misses, vhits, vmisses) == ("1", "0", "1", "0")  # loaded, nothing compiled
    assert imported == "False"
    assert float(value) == 1e8 - 2 * 5.0  # two buys at the minimum cost, prices flat


def test_the_portfolio_is_built_on_first_read_and_agrees_with_the_simulation():
    import vectorbt as vbt

    dates, assets, close = _market()
    close[7:, 2] = np.nan  # Z delisted
    sim = engine.simulate(dates, assets, close, close, np.isfinite(close),
                          {0: np.array([0.3, 0.3, 0.3]), 4: np.array([0.5, 0.2, 0.3])}, start=0,
                          costs=engine.Costs(buy_cost=0.0005, sell_cost=0.0015, min_cost=5.0), init_cash=1e4,
                          lot_size=10, delist_after=2)
    assert BuiltOnRead.pending(sim, "portfolio")
    again = pickle.loads(pickle.dumps(sim))  # a Dask worker's result travels unbuilt
    assert BuiltOnRead.pending(again, "portfolio")
    for s in (sim, again):
        pf = s.portfolio
        assert isinstance(pf, vbt.Portfolio) and not BuiltOnRead.pending(s, "portfolio")
        assert s.portfolio is pf  # built once
        pd.testing.assert_series_equal(pf.returns(), s.returns, check_exact=True)
        pd.testing.assert_series_equal(pf.value(), s.value, check_exact=True)
    rec = sim.portfolio.orders.values
    assert sim.n_delisted_sold == 1 and (rec["size"][rec["side"] == 0] % 10 == 0).all()
    np.testing.assert_array_equal(again.portfolio.orders.values, rec)


def test_a_run_result_keeps_its_portfolio_unbuilt_until_read():
    from seqalpha import Strategy, run_backtest

    class Tiny(Strategy):
        data = "synthetic?assets=8&days=160"
        model = "linear"
        window = 5
        min_train_bars = 60

    res = run_backtest(Tiny, progress=False)
    assert BuiltOnRead.pending(res, "portfolio")
    r = res.portfolio.returns().to_numpy()
    np.testing.assert_array_equal(r, res.returns["strategy"].to_numpy())
