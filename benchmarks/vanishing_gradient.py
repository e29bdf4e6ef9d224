"""The vanishing-gradient experiment: does an LSTM remember what a plain RNN forgets?

Synthetic panels (plugins/synthetic.py) where the only signal is the ``signal`` factor's
value k bars before the decision: the label of (t, i) with horizon 1 and next-close
execution is the return r[t+2] (close t+1 to close t+2), and the panel plants
z[s - lag] in r[s]; so with ``lag = k + 2`` the label moves with z[t - k], the
window's step k bars before its last one. Every model reads a window of k + 10 bars
of that one factor, is trained once on the same samples with the same budget (same
epochs, hidden size, learning rate, batches; the epoch with the best validation IC
is kept), and is scored out of sample; each IC is reported as a fraction of the
oracle's (the score z[t - k] itself, read from the panel's normalised signal,
evaluated on the same dates and assets by the same metric).

Models: the built-in ``linear`` and ``rnn``, ``gru`` and ``lstm`` with PyTorch's gate
initialisation (``gate_init="default"``), and ``gru_chrono`` / ``lstm_chrono``: the same
built-in classes with their gate biases initialised "chrono" (the built-ins' default since
issue 14) (Tallec & Ollivier 2018: forget/update-gate
bias log U(1, window - 1)), so the memory starts with time scales up to the window
instead of about two bars. That one change decides the result: with PyTorch's
default initialisation the forget gate starts near 0.5, the gradient reaching a
step 40 bars back is ~0.5^40 of the last step's, and the gated nets never find the
signal; chrono-initialised they reach the oracle.

The gradient-flow curves (|d loss / d input| by lag, on the validation slice, after
training) of the RNN and the LSTMs are saved beside the table and plotted.

Every recurrent row runs without the highway (``highway=False``), so the signal must travel
through the recurrence. ``--models lstm_defaults gru_defaults`` adds the built-ins with their
current defaults (chrono gates and, since issue 23, the linear highway over the window).

    python benchmarks/vanishing_gradient.py            # the full table, ~15-20 minutes on 2 cores
    python benchmarks/vanishing_gradient.py --quick    # a 2-minute version (k = 5, 40; smaller panel)

Writes benchmarks/results/vanishing_gradient{,_quick}.md/.csv, ..._gradient_flow.csv
and ..._gradient_flow.png (matplotlib). Fitted models go through the model cache:
a rerun is quick; ``--no-cache`` refits everything.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from seqalpha import Model, Strategy, hookimpl, run_backtest  # noqa: E402
from seqalpha.builtin_plugins.recurrent import GRU, LSTM  # noqa: E402
from seqalpha.builtin_plugins.synthetic import make_synthetic_panel  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
LABELS = {"oracle": "oracle (z[t-k])", "linear": "linear (last step)", "rnn": "rnn", "gru": "gru", "lstm": "lstm",
          "gru_chrono": "gru, chrono init", "lstm_chrono": "lstm, chrono init",
          "gru_defaults": "gru, its defaults (chrono, highway)",
          "lstm_defaults": "lstm, its defaults (chrono, highway)"}
NO_HIGHWAY = ("rnn", "gru", "lstm", "gru_chrono", "lstm_chrono")  # the signal must pass through the recurrence


@dataclass
class Config:
    """One budget for every model; the panel grows with the window so every k trains on as many samples."""

    ks: list[int] = field(default_factory=lambda: [5, 20, 40, 80])
    models: list[str] = field(default_factory=lambda: ["linear", "rnn", "gru", "lstm", "gru_chrono", "lstm_chrono"])
    extra: int = 10  # window = k + extra
    assets: int = 100
    train_bars: int = 450  # labelled bars before the test (training + validation slice)
    test_bars: int = 150
    strength: float = 0.5  # planted signal / noise; the oracle IC is about strength / sqrt(1 + strength^2)
    hidden_size: int = 32
    epochs: int = 25
    patience: int = 25  # = epochs: every model runs the whole budget; the best validation-IC epoch is kept
    lr: float = 3e-3
    batch_size: int = 256
    loss: str = "mse"
    early_stop: str = "ic"
    clip_norm: float = 3.0
    seed: int = 0
    data_seed: int = 0
    threads: int = 1


QUICK = dict(ks=[5, 40], epochs=12, patience=12)  # the full panel and budget, two lags, fewer epochs


class LaggedSignal(Model):
    """The oracle: the score is the signal factor ``lag`` bars before the decision (no fitting)."""

    defaults = {"lag": 0}

    def fit(self, train, valid):
        return {}

    def predict(self, samples):
        return samples.features[samples.t - self.params["lag"], samples.i, 0].astype(np.float64)


def chrono(cls):
    """The built-in class with gate_init='chrono' (plugins/nets/recurrent.py) as its default."""
    return type(f"Chrono{cls.__name__}", (cls,), {"defaults": {**cls.defaults, "gate_init": "chrono"}})


ChronoLSTM, ChronoGRU = chrono(LSTM), chrono(GRU)


class ExperimentModels:
    @staticmethod
    @hookimpl
    def register_models(register):
        register("oracle_lag", LaggedSignal)
        register("lstm_chrono", ChronoLSTM)
        register("gru_chrono", ChronoGRU)
        register("lstm_defaults", LSTM)  # the built-in defaults, the highway included (issue 23)
        register("gru_defaults", GRU)


def experiment_strategy(cfg: Config, k: int, model: str, cache: bool = True) -> Strategy:
    """The strategy of one cell: one training at the start of the test, then scores for every test bar."""
    params = {"lag": k} if model == "oracle_lag" else {} if model == "linear" else {
        "hidden_size": cfg.hidden_size, "epochs": cfg.epochs, "patience": cfg.patience, "lr": cfg.lr,
        "batch_size": cfg.batch_size, "loss": cfg.loss, "early_stop": cfg.early_stop, "clip_norm": cfg.clip_norm,
        "device": "cpu"}
    if model in ("lstm", "gru"):  # the rows "lstm" and "gru" are PyTorch's gate initialisation (chrono is the default)
        params["gate_init"] = "default"
    if model in NO_HIGHWAY:  # the experiment is the memory: no linear path from the window to the score
        params["highway"] = False

    class VanishingGradient(Strategy):
        factors = ["signal"]
        window = k + cfg.extra
        horizon = 1
        rebalance = "W"
        retrain = 10 ** 9  # every 10^9 bars: once
        min_train_bars = cfg.train_bars
        valid_fraction = 0.2
        portfolio = "topk"
        portfolio_params = {"k": max(2, cfg.assets // 10)}
        seed = cfg.seed

    return VanishingGradient(model=model, model_params=params, cache=cache)


def make_panel(cfg: Config, k: int):
    window = k + cfg.extra
    days = window + cfg.train_bars + 2 + cfg.test_bars + 2
    return make_synthetic_panel(assets=cfg.assets, days=days, seed=cfg.data_seed, lag=k + 2, strength=cfg.strength,
                                noise_factors=0)


def run_cell(cfg: Config, k: int, model: str, panel, cache: bool) -> tuple[dict, pd.DataFrame]:
    t0 = time.perf_counter()
    res = run_backtest(experiment_strategy(cfg, k, model, cache), data=panel, plugins=[ExperimentModels], progress=False,
                       threads=2)  # as the published table was measured (2 cores)
    m, train = res.metrics, res.training
    chosen = train[train["chosen"]] if len(train) else train
    row = {"k": k, "model": "oracle" if model == "oracle_lag" else model, "ic": m["ic"], "rank_ic": m["rank_ic"],
           "icir": m["icir"], "best_epoch": int(chosen["epoch"].iloc[0]) if len(chosen) else None,
           "valid_ic": float(chosen["valid_ic"].iloc[0]) if len(chosen) else np.nan,
           "clip_rate": float(train["clip_rate"].mean()) if len(train) else np.nan,
           "cached": bool(m["n_cache_hits"]), "seconds": time.perf_counter() - t0}
    flow = res.gradient_flow.assign(k=k)
    return row, flow


def _log(message: str) -> None:
    print(message, flush=True)


def run(cfg: Config, cache: bool = True, log=_log) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every (k, model) cell: a tidy table of ICs and one of gradient-flow curves."""
    torch.set_num_threads(cfg.threads)
    rows, flows = [], []
    for k in cfg.ks:
        panel = make_panel(cfg, k)
        for model in ["oracle_lag", *cfg.models]:
            row, flow = run_cell(cfg, k, model, panel, cache)
            rows.append(row)
            flows.append(flow)
            log(f"k={k:<3} {row['model']:<12} ic {row['ic']:+.4f}  rank_ic {row['rank_ic']:+.4f}  "
                f"best epoch {row['best_epoch']}  {row['seconds']:.0f}s{' (cached)' if row['cached'] else ''}")
    table = pd.DataFrame(rows)
    oracle = table[table["model"] == "oracle"].set_index("k")["ic"]
    table["ic_vs_oracle"] = table["ic"] / table["k"].map(oracle)
    return table, pd.concat(flows, ignore_index=True)


def markdown_table(table: pd.DataFrame) -> str:
    """Rows = models, columns = k: out-of-sample IC as a fraction of the oracle's (the oracle's IC itself on top)."""
    ks = sorted(table["k"].unique())
    models = ["oracle"] + [m for m in table["model"].unique() if m != "oracle"]
    head = "| model | " + " | ".join(f"k = {k}" for k in ks) + " |"
    lines = [head, "|---|" + "---:|" * len(ks)]
    for model in models:
        cells = []
        for k in ks:
            r = table[(table["model"] == model) & (table["k"] == k)].iloc[0]
            cells.append(f"IC {r['ic']:.3f}" if model == "oracle" else f"{r['ic_vs_oracle']:.2f} ({r['ic']:+.3f})")
        lines.append(f"| {LABELS.get(model, model)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_flow(flow: pd.DataFrame, path: Path, models: tuple[str, ...] = ("rnn", "lstm", "lstm_chrono")) -> bool:
    """Gradient flow by lag, RNN and LSTMs side by side, one line per k (log scale); False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    models = tuple(m for m in models if m in set(flow["model"]))
    if not models:
        return False
    flow = flow[flow["model"].isin(models)]
    fig, axes = plt.subplots(1, len(models), figsize=(6 * len(models), 4), sharey=True)
    for ax, model in zip(np.atleast_1d(axes), models):
        for k, g in flow[flow["model"] == model].groupby("k"):
            g = g.groupby("lag")["grad_norm"].mean()
            line = ax.plot(g.index, g.to_numpy(), label=f"k = {k}")[0]
            ax.axvline(k, color=line.get_color(), ls=":", lw=1)
        ax.set_yscale("log")
        ax.set_title(f"{LABELS.get(model, model)}: |d loss / d input| by lag", fontsize=10)
        ax.set_xlabel("lag (bars before the decision; 0 = last step)")
        ax.legend()
    np.atleast_1d(axes)[0].set_ylabel("gradient norm (mean over samples); dotted: lag k")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a 2-minute version (k = 5, 40; small panel, 4 epochs)")
    ap.add_argument("--no-cache", action="store_true", help="refit every model (default: reuse the model cache)")
    ap.add_argument("--ks", type=int, nargs="+", help="lags k to test")
    ap.add_argument("--models", nargs="+", help="models besides the oracle (default: linear rnn gru lstm)")
    for name, kind in (("assets", int), ("train-bars", int), ("test-bars", int), ("strength", float),
                       ("hidden-size", int), ("epochs", int), ("patience", int), ("lr", float),
                       ("batch-size", int), ("extra", int), ("threads", int), ("seed", int)):
        ap.add_argument(f"--{name}", type=kind)
    ap.add_argument("--out", default=None, help="results file stem (default benchmarks/results/vanishing_gradient)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cfg = Config(**(QUICK if args.quick else {}))
    for key in ("ks", "models", "assets", "train_bars", "test_bars", "strength", "hidden_size", "epochs",
                "patience", "lr", "batch_size", "extra", "threads", "seed"):
        if getattr(args, key) is not None:
            setattr(cfg, key, getattr(args, key))
    stem = Path(args.out) if args.out else RESULTS / ("vanishing_gradient_quick" if args.quick else "vanishing_gradient")
    stem.parent.mkdir(parents=True, exist_ok=True)
    print(f"config: {asdict(cfg)}  (torch threads {cfg.threads}, cache {'off' if args.no_cache else 'on'})")
    wall = time.perf_counter()
    table, flow = run(cfg, cache=not args.no_cache)
    minutes = (time.perf_counter() - wall) / 60
    md = markdown_table(table)
    fitted = table[table["model"] != "oracle"]
    text = (f"Out-of-sample IC as a fraction of the oracle's (raw IC in brackets); window = k + {cfg.extra}, "
            f"{cfg.assets} assets, {cfg.train_bars} training bars, {cfg.test_bars} test bars, "
            f"hidden {cfg.hidden_size}, {cfg.epochs} epochs (patience {cfg.patience}; the best validation-{cfg.early_stop} "
            f"epoch kept), "
            f"lr {cfg.lr}, strength {cfg.strength}. {minutes:.1f} minutes on {os.cpu_count()} CPUs, "
            f"{int(fitted['cached'].sum())} of {len(fitted)} models from the model cache.\n\n{md}\n")
    print("\n" + text)
    stem.with_suffix(".md").write_text(text)
    table.to_csv(stem.with_suffix(".csv"), index=False)
    flow.to_csv(stem.parent / f"{stem.name}_gradient_flow.csv", index=False)
    if plot_flow(flow, stem.parent / f"{stem.name}_gradient_flow.png"):
        print(f"gradient-flow plot: {stem.parent / f'{stem.name}_gradient_flow.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
