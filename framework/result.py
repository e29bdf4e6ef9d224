"""BacktestResult: everything a run produced, as pandas objects, and how it is written to a run directory."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

TABLES = ("scores", "weights", "returns", "ic", "rebalances", "training")


@dataclass
class BacktestResult:
    config: dict
    metrics: dict
    scores: pd.DataFrame  # date, asset, score, label
    weights: pd.DataFrame  # date, asset, weight (decided on date, traded next bar)
    returns: pd.DataFrame  # date, strategy, benchmark
    ic: pd.DataFrame  # date, ic, rank_ic
    rebalances: pd.DataFrame  # date, turnover, n_holdings
    training: pd.DataFrame  # retrain_date, seed, epoch, train_loss, valid_loss, clip_rate, chosen
    portfolio: object = None  # the vectorbt Portfolio
    run_dir: Path | None = None
    extra: dict = field(default_factory=dict)

    def equity(self) -> pd.DataFrame:
        return (1 + self.returns.set_index("date")).cumprod()

    def write(self, run_dir: str | Path) -> Path:
        """Write config.json, metrics.json and one Parquet file per table (plain files pandas can read)."""
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.json").write_text(json.dumps(_jsonable(self.config), indent=2, default=str))
        (run_dir / "metrics.json").write_text(json.dumps(_jsonable(self.metrics), indent=2))
        for name in TABLES:
            getattr(self, name).to_parquet(run_dir / f"{name}.parquet", index=False)
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
