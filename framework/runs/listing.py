"""`seqalpha runs`: one row per run directory, from its files alone, and the plain-text tables the CLI prints."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..canonical import dumps
from ..metrics import LISTED
from ..registry import did_you_mean
from . import schema
from .folder import FAILED, failure
from .reader import read_json

IDENTITY = ["run", "strategy", "model", "data", "start", "end"]
LIST_COLUMNS = [*IDENTITY, *LISTED, "created", "status"]
TEXT_COLUMNS = {*IDENTITY, "status"}


def find_run_dirs(root: Path) -> list[Path]:
    """Every directory under `root` (or root itself) holding a finished run (config.json and metrics.json) or a
    failed one (failed.json)."""
    if not root.is_dir():
        return []
    done = {p.parent for p in root.rglob(schema.METRICS) if (p.parent / schema.CONFIG).is_file()}
    return sorted(done | {p.parent for p in root.rglob(FAILED)})


def parse_created(value: Any, fallback: Path) -> pd.Timestamp:
    """config's ISO `created` as a naive UTC timestamp; the file's mtime when it is missing or unparsable."""
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        stamp = pd.NaT
    if pd.isna(stamp):
        stamp = pd.Timestamp(fallback.stat().st_mtime, unit="s")
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo is not None else stamp


def run_summary(path: Path, root: Path) -> dict[str, Any]:
    """One row of the run listing: identity, span, headline metrics and creation time."""
    failed = failure(path)
    if failed is not None:
        config = {"strategy": failed.get("strategy"), "params": failed.get("params") or {}}
        metrics = {}
    else:
        config, metrics = read_json(path / schema.CONFIG), read_json(path / schema.METRICS)
    params = config.get("params") or {}
    span = list(config.get("span") or []) + [None, None]
    name = path.relative_to(root).as_posix() if path != root else path.resolve().name
    row: dict[str, Any] = {
        "run": name, "strategy": config.get("strategy"), "model": cell_text(params.get("model", config.get("model"))),
        "data": cell_text(config.get("data")), "start": cell_text(span[0]), "end": cell_text(span[1]),
    }
    for key in LISTED:
        row[key] = _number(metrics.get(key))
    row["created"] = parse_created(config.get("created") or (failed or {}).get("when"),
                                   path / (FAILED if failed is not None else schema.METRICS))
    row["status"] = "ok" if failed is None else f"failed: {failed.get('error')}"
    return row


def cell_text(value: Any) -> str | None:
    """A cell as text (dicts as compact JSON); None stays None."""
    if value is None or isinstance(value, str):
        return value
    return dumps(value, indent=None) if isinstance(value, dict | list) else str(value)


def _number(value: Any) -> float:
    """A metric as float; NaN when absent or not a number."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def check_sort_key(key: str, columns: Sequence[str]) -> None:
    """Reject an unknown sort key with a 'did you mean'."""
    if key not in columns:
        raise ValueError(f"cannot sort runs by {key!r}.{did_you_mean(key, columns)} Choose from: {', '.join(columns)}.")


def list_runs(root: str | Path = "runs", sort: str = "created", ascending: bool | None = None) -> pd.DataFrame:
    """One row per run directory under `root`, newest first by default.

    `sort` is any column; `ascending=None` means best first: text A to Z, numbers and dates high to low.
    Run directories whose json cannot be read are skipped with a warning.
    """
    check_sort_key(sort, LIST_COLUMNS)
    root = Path(root)
    rows = []
    for path in find_run_dirs(root):
        try:
            rows.append(run_summary(path, root))
        except (OSError, ValueError) as exc:
            warnings.warn(f"skipping run {path}: {exc}", stacklevel=2)
    table = pd.DataFrame(rows, columns=LIST_COLUMNS)
    if ascending is None:
        ascending = sort in TEXT_COLUMNS
    return table.sort_values(sort, ascending=ascending, na_position="last", kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------- plain text table


def format_cell(value: Any, digits: int = 4) -> str:
    """A value as table text: integral floats as ints, others with `digits` decimals, NaN as '-'."""
    if value is None or (isinstance(value, float | np.floating) and np.isnan(value)) or value is pd.NaT:
        return "-"
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return f"{int(value)}"
    if isinstance(value, float | np.floating):
        if float(value).is_integer() and abs(value) < 1e12:
            return f"{int(value)}"
        return f"{value:,.1f}" if abs(value) >= 1000 else f"{value:.{digits}f}"
    return str(value)


def format_table(df: pd.DataFrame, digits: int = 4, max_width: int = 40) -> str:
    """A DataFrame as an aligned plain-text table: numbers right-aligned, text left; a named index is shown."""
    frame = df if isinstance(df.index, pd.RangeIndex) else df.reset_index(names=df.index.name or "")
    if frame.empty:
        return "(no rows)" + (f" columns: {', '.join(map(str, frame.columns))}" if len(frame.columns) else "")
    header = [str(c) for c in frame.columns]
    cells = [[_clip(format_cell(v, digits), max_width) for v in row] for row in frame.itertuples(index=False)]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    right = [pd.api.types.is_numeric_dtype(frame[c]) or mostly_numeric(frame[c]) for c in frame.columns]

    def line(parts: list[str]) -> str:
        return "  ".join(p.rjust(w) if r else p.ljust(w) for p, w, r in zip(parts, widths, right)).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in cells)])


def _clip(text: str, width: int) -> str:
    """Text cut to `width` characters with an ellipsis."""
    return text if len(text) <= width else text[: width - 1] + "…"


def mostly_numeric(column: pd.Series) -> bool:
    """Whether an object column holds numbers (compare tables mix floats and NaN)."""
    values = column.dropna()
    return bool(len(values)) and all(isinstance(v, int | float | np.number) for v in values)
