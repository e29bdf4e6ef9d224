"""The run directory, the product's contract: its files and each table's columns, for the writer and every reader.

    config.json      what ran: strategy, parameters, data, test span, features, threads, versions
    metrics.json     every metric (see framework/metrics/catalogue.py); written last: its presence marks a
                     finished run
    <table>.parquet  one per TABLES entry, plain Parquet that pandas reads
    data_quality.json  the data-quality scan: policy, counts, digest and every finding (framework/data/quality.py)
    report.html      the offline report, rebuilt from the files above by `seqalpha report`
    checkpoint/      segments of an unfinished run, for --resume (removed when the run finishes)
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

CONFIG = "config.json"
METRICS = "metrics.json"
REPORT = "report.html"
DATA_QUALITY = "data_quality.json"
CHECKPOINT = "checkpoint"

#: table name -> {column: dtype}. Dates are datetime64[ns]; assets are strings.
TABLES: dict[str, dict[str, str]] = {
    "scores": {"date": "datetime64[ns]", "asset": "object", "score": "float64", "label": "float64"},
    "weights": {"date": "datetime64[ns]", "asset": "object", "weight": "float64"},  # decided on date, traded next bar
    "returns": {"date": "datetime64[ns]", "strategy": "float64", "benchmark": "float64"},
    "ic": {"date": "datetime64[ns]", "ic": "float64", "rank_ic": "float64"},
    "rebalances": {"date": "datetime64[ns]", "turnover": "float64", "n_holdings": "int64"},
    # per retrain, seed and epoch (counted from 1); chosen = the epoch whose weights were kept; cached = loaded
    # from the cache
    "training": {"retrain_date": "datetime64[ns]", "seed": "int64", "epoch": "int64", "train_loss": "float64",
                 "valid_loss": "float64", "valid_ic": "float64", "clip_rate": "float64", "grad_norm": "float64",
                 "seconds": "float64", "chosen": "bool", "cached": "bool", "retrain_seconds": "float64"},
    # |d loss / d input| per window step (lag 0 = last step), per retrain; torch models only
    "gradient_flow": {"retrain_date": "datetime64[ns]", "lag": "int64", "grad_norm": "float64", "model": "object"},
    # each ensemble member's scores (empty unless the strategy sets seeds)
    "seed_scores": {"date": "datetime64[ns]", "asset": "object", "seed": "int64", "score": "float64",
                    "label": "float64"},
    # a blend's members (empty unless model="blend"): each member's own score (its seed mean), its per-date rank
    # in (0, 1) over the assets every weighted member scored (NaN elsewhere), and the label
    "member_scores": {"date": "datetime64[ns]", "asset": "object", "member": "object", "score": "float64",
                      "rank": "float64", "label": "float64"},
}


def empty_table(name: str) -> pd.DataFrame:
    """A table with no rows and the schema's columns and dtypes."""
    return pd.DataFrame({col: pd.Series([], dtype=dtype) for col, dtype in TABLES[name].items()})


def table_path(run_dir: str | Path, name: str) -> Path:
    return Path(run_dir) / f"{name}.parquet"


def conform(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """``frame`` with every column of the schema (missing ones added empty: NaN, False or None), schema
    columns first, in the schema's dtypes where they convert; extra columns are kept after them."""
    out = frame.copy()
    for col, dtype in TABLES[name].items():
        if col not in out:
            out[col] = False if dtype == "bool" else (None if dtype == "object" else float("nan"))
        elif dtype == "bool":
            out[col] = out[col].fillna(False).astype(bool)
    return out[list(TABLES[name]) + [c for c in out.columns if c not in TABLES[name]]]
