"""BacktestResult: everything a run produced, as pandas objects, and how it is written to a run directory."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .cache import atomic_write_bytes

TABLES = ("scores", "weights", "returns", "ic", "rebalances", "training", "gradient_flow", "seed_scores")


@dataclass
class BacktestResult:
    config: dict
    metrics: dict
    scores: pd.DataFrame  # date, asset, score, label
    weights: pd.DataFrame  # date, asset, weight (decided on date, traded next bar)
    returns: pd.DataFrame  # date, strategy, benchmark
    ic: pd.DataFrame  # date, ic, rank_ic
    rebalances: pd.DataFrame  # date, turnover, n_holdings
    # retrain_date, seed, epoch, train_loss, valid_loss, valid_ic, clip_rate, grad_norm, seconds (epoch), chosen,
    # cached (loaded from the model cache), retrain_seconds (wall time of that seed's fit or load in this run)
    training: pd.DataFrame
    portfolio: object = None  # the vectorbt Portfolio
    # retrain_date, lag, grad_norm, model: |d loss / d input| per window step (lag 0 = last), torch models only
    gradient_flow: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        {"retrain_date": pd.DatetimeIndex([]), "lag": pd.Series([], dtype="int64"),
         "grad_norm": pd.Series([], dtype="float64"), "model": pd.Series([], dtype="object")}))
    # date, asset, seed, score, label: each ensemble member's score (empty unless the strategy sets seeds)
    seed_scores: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        {"date": pd.DatetimeIndex([]), "asset": pd.Series([], dtype="object"), "seed": pd.Series([], dtype="int64"),
         "score": pd.Series([], dtype="float64"), "label": pd.Series([], dtype="float64")}))
    run_dir: Path | None = None
    extra: dict = field(default_factory=dict)

    def equity(self) -> pd.DataFrame:
        return (1 + self.returns.set_index("date")).cumprod()

    def write(self, run_dir: str | Path) -> Path:
        """Write config.json, one Parquet file per table (plain files pandas can read), then metrics.json.

        Each file is written beside its final name and renamed into place, and metrics.json comes last, so a
        run killed while writing never leaves a truncated file, and a folder without metrics.json is unfinished
        (``seqalpha runs`` lists only folders that have one)."""
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(run_dir / "config.json", json.dumps(_jsonable(self.config), indent=2, default=str).encode())
        for name in TABLES:
            atomic_write_bytes(run_dir / f"{name}.parquet", getattr(self, name).to_parquet(index=False))
        atomic_write_bytes(run_dir / "metrics.json", json.dumps(_jsonable(self.metrics), indent=2).encode())
        self.run_dir = run_dir
        return run_dir


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        try:
            return _jsonable(obj.item())
        except (ValueError, AttributeError):
            return str(obj)
    return obj
