"""The ``parquet:PATH`` and ``csv:PATH`` data sources: one long table (date, asset, close, factors...).

``csv:DIR`` (a directory) reads one file per ticker instead (Kaggle/Yahoo layout).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from seqalpha.data import DataError, Panel, panel_from_frame
from seqalpha.hookspecs import hookimpl


def _existing(location: str, scheme: str) -> Path:
    path = Path(location).expanduser()
    if not path.exists():
        raise DataError(f"{scheme}:{location}: no such file or directory")
    return path


def _factors(options: dict[str, str]) -> list[str] | None:
    return [f for f in options["factors"].split(",") if f] if options.get("factors") else None


def load_parquet(location: str, options: dict[str, str]) -> Panel:
    path = _existing(location, "parquet")
    try:
        df = pd.read_parquet(path)
    except Exception as exc:
        raise DataError(f"parquet:{location}: cannot read: {exc}") from exc
    return panel_from_frame(df, source=str(path), factors=_factors(options))


def load_csv(location: str, options: dict[str, str]) -> Panel:
    path = _existing(location, "csv")
    if path.is_dir():
        from seqalpha.builtin_plugins.ticker_csv import read_ticker_dir

        return read_ticker_dir(path, factors=_factors(options))
    try:
        df = pd.read_csv(path)
    except Exception as exc:
        raise DataError(f"csv:{location}: cannot read: {exc}") from exc
    return panel_from_frame(df, source=str(path), factors=_factors(options))


@hookimpl
def register_data_sources(register):
    register("parquet", load_parquet)
    register("csv", load_csv)
