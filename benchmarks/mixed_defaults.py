"""Do a model's default parameters learn three signal forms at once? Rank IC as a share of the oracle's.

    python benchmarks/mixed_defaults.py [--model lstm] [--seeds 0 1] [--configs "zscore default" ...]

The panel is `synthetic?form=mixed` (60 assets x 700 days): a factor's value 15 bars back, a
level's deviation from its 20-bar mean, and the product of two factors, summed (see
plugins/synthetic.py). The strategy: window 30, h = 1, weekly rebalance, refit every half
year, model cache off. Prints one line per configuration and panel seed (about 25 s each on
2 cores), then how the scores of the last run split over the three parts.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from framework import Strategy, run_backtest
from plugins.synthetic import MIXED_LAG, MIXED_MA, make_synthetic_panel

CONFIGS = {
    "zscore default": {"normalize": "zscore"},
    "robust default": {"normalize": "robust"},
    "none default": {"normalize": None},
    "zscore chrono": {"normalize": "zscore", "model_params": {"gate_init": "chrono"}},
    "robust chrono": {"normalize": "robust", "model_params": {"gate_init": "chrono"}},
}


class Mixed(Strategy):
    data = "synthetic?form=mixed"
    window = 30
    horizon = 1
    rebalance = "W"
    retrain = "2QS"
    min_train_bars = 250
    portfolio_params = {"k": 10}
    cache = False


def parts(panel, scores: pd.DataFrame) -> dict[str, float]:
    """Mean rank correlation by date of the scores with each planted part."""
    f = {k: panel.field(k).astype(np.float64) for k in ("signal", "level", "fa", "fb")}
    back = np.full(f["signal"].shape, np.nan)
    back[MIXED_LAG:] = f["signal"][:-MIXED_LAG]
    deviation = f["level"] - pd.DataFrame(f["level"]).rolling(MIXED_MA).mean().to_numpy()
    bar = {d: k for k, d in enumerate(panel.dates)}
    col = {a: k for k, a in enumerate(panel.assets)}
    t, i = scores["date"].map(bar).to_numpy(), scores["asset"].map(col).to_numpy()
    out = {}
    for name, values in (("value 15 bars back", back), ("minus the MA deviation", -deviation),
                         ("interaction", f["fa"] * f["fb"])):
        frame = pd.DataFrame({"t": t, "s": scores["score"].to_numpy(), "v": values[t, i]}).dropna()
        out[name] = float(frame.groupby("t")[["s", "v"]].apply(lambda g: g["s"].corr(g["v"], method="spearman")).mean())
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="lstm")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    args = ap.parse_args()
    last = None
    for seed in args.seeds:
        panel = make_synthetic_panel(form="mixed", seed=seed)
        oracle = panel.meta["oracle_rank_ic"]
        for name in args.configs:
            t0 = time.perf_counter()
            res = run_backtest(Mixed, data=panel, progress=False, model=args.model, seed=seed, **CONFIGS[name])
            ric = res.metrics["rank_ic"]
            print(f"{args.model} {name:16s} panel seed {seed}: rank IC {ric:.3f}, oracle {oracle:.3f}, share "
                  f"{ric / oracle:.2f} ({time.perf_counter() - t0:.0f} s)", flush=True)
            last = (panel, res.scores)
    if last is not None:
        print("scores of the last run against each part:",
              ", ".join(f"{k} {v:.2f}" for k, v in parts(*last).items()))


if __name__ == "__main__":
    main()
