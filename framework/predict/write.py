"""A predict folder's files: targets.parquet and .csv, orders.csv, positions.csv, predict.json, predict.html.

None of them is a run folder's file (config.json, metrics.json), so ``seqalpha runs`` never lists a predict
folder as a backtest run; predict.json goes through the one canonical serialiser (framework/canonical.py).
"""

from __future__ import annotations

from pathlib import Path

from ..canonical import dumps
from ..util import atomic_write_bytes, atomic_write_text
from .holdings import POSITIONS, PREDICT_JSON

TARGETS = "targets.parquet"
ORDERS = "orders.csv"
PAGE = "predict.html"


def write_prediction(prediction, out: str | Path) -> Path:
    """Write every file of ``prediction`` into ``out``; predict.json last (its presence marks a finished predict)."""
    from .page import predict_page

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / TARGETS, prediction.targets.to_parquet(index=False))
    atomic_write_text(out / "targets.csv", prediction.targets.to_csv(index=False))
    atomic_write_text(out / ORDERS, prediction.orders.to_csv(index=False))
    atomic_write_text(out / POSITIONS, prediction.positions.to_csv(index=False))
    atomic_write_text(out / PAGE, predict_page(prediction))
    atomic_write_text(out / PREDICT_JSON, dumps(prediction.record))
    prediction.out = out
    return out
