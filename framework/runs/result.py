"""BacktestResult: everything a run produced, as pandas objects, and how it is written to a run directory."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..canonical import dumps
from ..lazy import BuiltOnRead
from ..util import atomic_write_bytes
from . import schema


def _empty(name: str):
    return field(default_factory=lambda: schema.empty_table(name))


@dataclass
class BacktestResult:
    """The run's tables (columns in runs/schema.py), its config and metrics, and the vectorbt Portfolio."""

    config: dict
    metrics: dict
    scores: pd.DataFrame = _empty("scores")
    weights: pd.DataFrame = _empty("weights")
    returns: pd.DataFrame = _empty("returns")
    ic: pd.DataFrame = _empty("ic")
    rebalances: pd.DataFrame = _empty("rebalances")
    training: pd.DataFrame = _empty("training")
    gradient_flow: pd.DataFrame = _empty("gradient_flow")
    seed_scores: pd.DataFrame = _empty("seed_scores")
    member_scores: pd.DataFrame = _empty("member_scores")
    # the vectorbt Portfolio, for its API (pf.stats(), pf.orders, ...): built (importing vectorbt) when first read
    portfolio: object = BuiltOnRead()
    run_dir: Path | None = None
    data_quality: dict | None = None  # the data-quality scan (data_quality.json's body), None when not scanned

    def equity(self) -> pd.DataFrame:
        """Compounded equity of the strategy and the benchmark, starting from 1."""
        return (1 + self.returns.set_index("date")).cumprod()

    def write(self, run_dir: str | Path, report: bool = True) -> Path:
        """Write config.json, one Parquet file per table, metrics.json, then report.html.

        Each file is written beside its final name and renamed into place, and metrics.json comes after the
        tables, so a run killed while writing never leaves a truncated file, and a folder without metrics.json
        is unfinished (``seqalpha runs`` lists only folders that have one)."""
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(run_dir / schema.CONFIG, dumps(self.config).encode())
        for name in schema.TABLES:
            atomic_write_bytes(schema.table_path(run_dir, name), getattr(self, name).to_parquet(index=False))
        if self.data_quality is not None:
            atomic_write_bytes(run_dir / schema.DATA_QUALITY, dumps(self.data_quality).encode())
        atomic_write_bytes(run_dir / schema.METRICS, dumps(self.metrics).encode())
        self.run_dir = run_dir
        if report:
            from ..report import build_report

            build_report(run_dir)
        return run_dir
