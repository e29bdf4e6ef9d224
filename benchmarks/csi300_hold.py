"""TopkDropout with and without Qlib's ``hold`` on the same forecasts: turnover both ways (issue 14, section 3).

    python benchmarks/csi300_hold.py RUN_DIR [RUN_DIR ...]

For each finished run of a ``topk_dropout`` strategy, replays the run's own saved scores
(``scores.parquet``: the forecast each decision used) through the same strategy twice, once
with ``hold=False`` (seqalpha's default: every held name is rebalanced to 1/k) and once with
``hold=True`` (Qlib's: a kept name gets no order and drifts). The forecasts are fed back as a
one-bar feature to a pass-through model, so no network is trained and both portfolios see
exactly the same scores. The ``hold=False`` replay must reproduce the run's own metrics (the
script checks it), which shows the replay is faithful. Prints turnover, costs-bearing
figures and rank IC for both.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from seqalpha import Model, hookimpl, load_strategy_file, run_backtest
from seqalpha.features import FeatureSet
from seqalpha.sweep.task import panel_for

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ["turnover", "turnover_per_rebalance", "excess_annual_return", "information_ratio", "excess_max_drawdown",
           "qlib_excess_annual_return", "rank_ic"]


class SavedScore(Model):
    """The score is the one-bar feature itself: the run's saved forecast for (date, asset)."""

    defaults: dict = {}

    def fit(self, train, valid):
        return {}

    def predict(self, samples):
        return samples.features[samples.t, samples.i, 0].astype(np.float64)


class Replay:
    @staticmethod
    @hookimpl
    def register_models(register):
        register("saved_score", SavedScore)


def replay(run: Path, hold: bool) -> dict:
    """The run's strategy on its saved scores, with ``hold`` set; its metrics."""
    config = json.loads((run / "config.json").read_text())
    file = Path(config["strategy_file"])
    if not file.exists():  # a run made in another checkout: the same file here
        file = ROOT / "strategies" / file.name
    cls, _ = load_strategy_file(file, config["strategy"])
    panel = panel_for(config["data"], cls)
    saved = pd.read_parquet(run / "scores.parquet").pivot(index="date", columns="asset", values="score")
    saved = saved.reindex(index=panel.dates, columns=panel.assets).to_numpy(np.float32)
    params = config["params"]

    class OnSavedScores(cls):
        def features(self, panel_):
            return FeatureSet(saved[:, :, None], ["saved_score"])

    OnSavedScores.__name__ = f"{cls.__name__}OnSavedScores"
    return run_backtest(OnSavedScores, data=panel, progress=False, plugins=[Replay()], model="saved_score",
                        model_params={}, normalize=None, window=1, cache=False,
                        portfolio_params={**params["portfolio_params"], "hold": hold}).metrics


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+", type=Path)
    args = ap.parse_args()
    for run in args.runs:
        own = json.loads((run / "metrics.json").read_text())
        rows = {"the run itself": own, "replay, hold=False": replay(run, False), "replay, hold=True": replay(run, True)}
        checked = [k for k in COLUMNS if np.isfinite(own.get(k, np.nan))]  # older runs lack the qlib_* figures
        off = {k: rows["replay, hold=False"][k] - own[k] for k in checked
               if not np.isclose(rows["replay, hold=False"][k], own[k], rtol=0, atol=1e-8)}
        print(f"\n{run}: the hold=False replay " + (f"DOES NOT reproduce the run's metrics: {off}" if off else
                                                    f"reproduces the run's {', '.join(checked)}"))
        print(pd.DataFrame(rows).T[COLUMNS].to_string(float_format=lambda v: f"{v:.4f}"))


if __name__ == "__main__":
    main()
