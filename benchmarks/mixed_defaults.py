"""Do a model's default parameters learn three signal forms at once? Rank IC as a share of the oracle's.

    python benchmarks/mixed_defaults.py [--model lstm] [--seeds 0 1] [--model-seeds 0 1 2]
                                        [--configs defaults "zscore default" ...]
                                        [--extra NAME "{overrides}"] [--parts] [--assets 60 --days 700]

The panel is `synthetic?form=mixed` (60 assets x 700 days): a factor's value 15 bars back, a
level's deviation from its 20-bar mean, and the product of two factors, summed (see
plugins/synthetic.py). The strategy: window 30, h = 1, weekly rebalance, refit every half
year, model cache off. Prints one line per configuration and panel seed (about 25 s each on
2 cores), then how the scores of the last run split over the three parts. ``--seeds`` are the panel
seeds; each panel is run with the model seeds ``--model-seeds`` (by default the panel's own seed), and
the last lines give each configuration's mean share. The goal of issue 23 is read with
``--seeds 0 --model-seeds 0 1 2 --configs defaults``.
"""

from __future__ import annotations

import argparse
import ast
import time

import numpy as np
import pandas as pd
import torch
from torch import nn

from seqalpha import Strategy, hookimpl, run_backtest
from seqalpha.builtin_plugins.recurrent import LSTM
from seqalpha.builtin_plugins.synthetic import MIXED_LAG, MIXED_MA, make_synthetic_panel

TORCH_INIT = {"model_params": {"gate_init": "default"}}  # PyTorch's gate initialisation (chrono is the default)
CONFIGS = {  # "default" = PyTorch's gate initialisation, the built-ins' default before issue 14
    "defaults": {},  # the model's own defaults, whatever they are now
    "zscore default": {"normalize": "zscore", **TORCH_INIT},
    "robust default": {"normalize": "robust", **TORCH_INIT},
    "none default": {"normalize": None, **TORCH_INIT},
    "zscore chrono": {"normalize": "zscore", "model_params": {"gate_init": "chrono"}},
    "robust chrono": {"normalize": "robust", "model_params": {"gate_init": "chrono"}},
}


class WithPosition(nn.Module):
    """Appends a "bars to the window's end" channel (-1 at the first step, 0 at the last) to the inputs."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pos = torch.linspace(-1.0, 0.0, x.shape[1], dtype=x.dtype, device=x.device)
        return self.net(torch.cat([x, pos[None, :, None].expand(x.shape[0], -1, 1)], dim=2))


class PositionLSTM(LSTM):
    """The experiment ``--model poslstm``: the built-in LSTM told where in the window each step is."""

    def build_network(self, window: int, n_features: int, n_outputs: int) -> nn.Module:
        return WithPosition(super().build_network(window, n_features + 1, n_outputs))


class ExperimentModels:
    @staticmethod
    @hookimpl
    def register_models(register):
        register("poslstm", PositionLSTM)


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
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1], help="panel seeds")
    ap.add_argument("--model-seeds", nargs="+", type=int, default=None,
                    help="model seeds run on every panel (default: the panel's own seed)")
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--extra", nargs=2, action="append", default=[], metavar=("NAME", "OVERRIDES"),
                    help="another configuration: a name and a dict literal of strategy overrides, e.g. "
                         "chrono+ic \"{'model_params': {'gate_init': 'chrono', 'early_stop': 'ic'}}\"")
    ap.add_argument("--parts", action="store_true", help="split every run's scores over the three parts")
    ap.add_argument("--assets", type=int, default=60)
    ap.add_argument("--days", type=int, default=700)
    ap.add_argument("--threads", type=int, default=2, help="torch threads per run")
    args = ap.parse_args()
    configs = {name: CONFIGS[name] for name in args.configs if not args.extra}
    configs.update({name: ast.literal_eval(text) for name, text in args.extra})
    last = None
    shares: dict[str, list[float]] = {name: [] for name in configs}
    for seed in args.seeds:
        panel = make_synthetic_panel(assets=args.assets, days=args.days, form="mixed", seed=seed)
        oracle = panel.meta["oracle_rank_ic"]
        for name, overrides in configs.items():
            for model_seed in args.model_seeds if args.model_seeds is not None else [seed]:
                t0 = time.perf_counter()
                res = run_backtest(Mixed, data=panel, progress=False, model=args.model,
                                   threads=args.threads, plugins=[ExperimentModels], **{"seed": model_seed, **overrides})
                ric = res.metrics["rank_ic"]
                shares[name].append(ric / oracle)
                print(f"{args.model} {name:16s} panel seed {seed} model seed {model_seed}: rank IC {ric:.3f}, oracle "
                      f"{oracle:.3f}, share {ric / oracle:.2f} ({time.perf_counter() - t0:.0f} s)", flush=True)
                last = (panel, res.scores)
                if args.parts:
                    print("    parts:", ", ".join(f"{k} {v:.2f}" for k, v in parts(*last).items()), flush=True)
    for name, values in shares.items():
        print(f"{args.model} {name:16s} mean share of the oracle {np.mean(values):.3f} over {len(values)} run(s): "
              + " / ".join(f"{v:.2f}" for v in values))
    if last is not None:
        print("scores of the last run against each part:",
              ", ".join(f"{k} {v:.2f}" for k, v in parts(*last).items()))


if __name__ == "__main__":
    main()
