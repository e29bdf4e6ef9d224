"""Read a folder of one CSV per ticker (Kaggle / Yahoo layouts) into a Panel.

Each ``*.csv`` or ``*.txt`` file holds one ticker (its file name stem, e.g. ``aapl.us``)
with a header such as ``Date,Open,High,Low,Close,Volume[,Adj Close][,OpenInt]``; column
names are matched without regard to case, spaces or underscores.

Adjusted prices: when a file has ``Adj Close``, it becomes ``close`` and open/high/low are
multiplied by the same ratio ``adj_close / close`` (so the bar keeps its shape on the
adjusted scale); the ratio is kept as the ``factor`` field (Qlib's convention: adjusted =
raw x factor; 1.0 for files without ``Adj Close``). Volume is left as reported.

Bad input is skipped, never fatal: an empty file, a file without Date/Close columns, and
rows whose date or prices do not parse (or whose close is not positive) each give a
``warnings.warn`` naming the file and how many rows were skipped. Duplicate dates keep the
last row, with a warning. Only when no file yields any row is a DataError raised.
Dispatched from ``csv:DIR`` by ``plugins/tabular.py``; this module registers no hook.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.tseries.api import guess_datetime_format

from seqalpha.data import DataError, Panel

#: Price and volume columns in Panel order.
PRICE_COLUMNS = ("open", "high", "low", "close", "volume")

#: Columns that are bookkeeping, not factors (Kaggle's always-zero OpenInt, yfinance extras).
IGNORED_COLUMNS = ("openint", "dividends", "stocksplits", "capitalgains")

#: Other names of the date column (yfinance intraday, generic exports).
DATE_ALIASES = ("datetime", "timestamp", "time")

_SUFFIXES = (".csv", ".txt")


@dataclass
class TickerFrame:
    """One ticker's clean rows: sorted unique dates and float columns (prices canonical, factors by name)."""

    ticker: str
    dates: np.ndarray
    columns: dict[str, np.ndarray]
    adjusted: bool
    layout: str = "ISO 8601"  # the date layout the file uses (one layout per folder)
    file: str = ""


def read_ticker_dir(path: str | Path, factors: list[str] | None = None) -> Panel:
    """One Panel on the union calendar from a folder of per-ticker CSV files.

    ``factors`` names extra columns to keep as model inputs; ``None`` keeps every extra
    column that holds numbers (bookkeeping columns such as OpenInt are dropped).
    """
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise DataError(f"csv: folder {str(folder)!r} does not exist or is not a folder")
    files = _ticker_files(folder)
    frames = [f for f in (read_ticker_file(p, factors) for p in files) if f is not None]
    if not frames:
        raise DataError(
            f"csv: no data in {str(folder)!r}: {len(files)} *.csv/*.txt file(s), none with a parseable row"
            if files else f"csv: no *.csv or *.txt files in {str(folder)!r}"
        )
    _check_one_date_layout(folder, frames)
    return _build_panel(folder, frames, factors)


def _check_one_date_layout(folder: Path, frames: list[TickerFrame]) -> None:
    """Every file must order day and month the same way: a DD/MM file among MM/DD ones (or ISO ones) would put
    its rows on wrong days, weekends included, of the shared calendar."""
    orders: dict[str, list[TickerFrame]] = {}
    for f in frames:
        orders.setdefault(_day_month_order(f.layout), []).append(f)
    orders.pop("unknown", None)
    if len(orders) > 1:
        common = max(orders, key=lambda k: len(orders[k]))
        odd = [f for order, fs in orders.items() if order != common for f in fs]
        listed = ", ".join(f"{f.file} ({f.layout})" for f in odd[:5])
        raise DataError(f"csv: {folder}: files disagree on the order of day and month in their dates: most are "
                        f"{common}, but {listed}{' ...' if len(odd) > 5 else ''}; write every file the same way")


def _day_month_order(layout: str) -> str:
    if layout == "ISO 8601":
        return "month before day"
    d, m = layout.find("%d"), layout.find("%m")
    if d < 0 or m < 0:
        return "unknown"
    return "day before month" if d < m else "month before day"


def _ticker_files(folder: Path) -> list[Path]:
    """The per-ticker files, sorted by ticker; two files for one ticker is a DataError."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in _SUFFIXES
                   and not p.name.startswith("."))
    seen: dict[str, Path] = {}
    for p in files:
        if p.stem in seen:
            raise DataError(f"csv: ticker {p.stem!r} has two files: {seen[p.stem].name} and {p.name}")
        seen[p.stem] = p
    return files


def _key(name: str) -> str:
    """Column-name key: lower case without spaces, underscores or dashes ('Adj Close' -> 'adjclose')."""
    return "".join(ch for ch in str(name).strip().lower() if ch not in " _-")


def read_ticker_file(path: Path, factors: list[str] | None = None) -> TickerFrame | None:
    """One file's clean rows, or None (with a warning naming the file) when it yields nothing."""
    head = path.read_bytes()[:8192]
    if b"\x00" in head:
        raise DataError(f"csv: {path} is not a text file (it holds binary bytes); remove it from the folder")
    text = path.read_text(errors="replace")
    n_rows = sum(1 for s in text.splitlines() if s.strip()) - 1
    if n_rows < 1:
        warnings.warn(f"csv: {path} is empty (no data rows); skipped", stacklevel=3)
        return None
    try:
        table = pd.read_csv(io.StringIO(text), on_bad_lines="skip", skipinitialspace=True)
    except (pd.errors.ParserError, ValueError) as exc:  # e.g. an unclosed quote
        warnings.warn(f"csv: {path} cannot be parsed ({exc}); skipped", stacklevel=3)
        return None
    malformed = n_rows - len(table)  # rows with too many fields
    columns = {_key(c): c for c in table.columns}
    for alias in DATE_ALIASES:
        if "date" not in columns and alias in columns:
            columns["date"] = columns.pop(alias)
    if "date" not in columns or "close" not in columns:
        warnings.warn(f"csv: {path} has no Date and Close columns (columns: {list(table.columns)}); skipped",
                      stacklevel=3)
        return None
    dates, data, bad, layout = _parse_rows(table, columns, factors)
    if bad + malformed:
        warnings.warn(f"csv: {path}: skipped {bad + malformed} unparseable row(s) of {n_rows} "
                      f"(bad date or price, non-positive close, or wrong field count)", stacklevel=3)
    if len(dates) == 0:
        warnings.warn(f"csv: {path} has no parseable rows; skipped", stacklevel=3)
        return None
    dates, data = _sort_dedupe(dates, data, path)
    adjusted = "adjclose" in data
    return TickerFrame(path.stem, dates, _adjust(data), adjusted, layout, path.name)


def _parse_dates(raw: pd.Series) -> tuple[np.ndarray, str]:
    """(datetime64[ns] dates, NaT where unparseable; the layout used): ISO 8601 when every date is, else the
    layout pandas infers from the first date (01/02/2020, 20200102), for the whole file. UTC offsets are
    dropped: a stamp keeps its local calendar date (yfinance writes local time plus offset)."""
    text = raw.astype("string").str.strip()
    text = text.str.replace(r"(?:[+-]\d\d:?\d\d|Z)$", "", regex=True)
    dates = pd.to_datetime(text, format="ISO8601", errors="coerce")
    retry = dates.isna() & text.notna()
    if not retry.any():
        return dates.to_numpy(dtype="datetime64[ns]"), "ISO 8601"
    first = text[text.notna()].iloc[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pandas notes day-first guesses; the folder check decides
        layout = guess_datetime_format(first) or "inferred"
        parsed = pd.to_datetime(text, format=None if layout == "inferred" else layout, errors="coerce")
    return parsed.to_numpy(dtype="datetime64[ns]"), layout


def _numbers(raw: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """float64 values and a mask of cells that hold text that is not a number (empty cells are NaN, not bad)."""
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        return raw.to_numpy(np.float64, na_value=np.nan), np.zeros(len(raw), dtype=bool)
    num = pd.to_numeric(raw, errors="coerce").to_numpy(np.float64, na_value=np.nan)
    text = raw.astype("string").str.strip()
    return num, np.isnan(num) & text.notna().to_numpy() & (text != "").fillna(False).to_numpy(bool)


def _parse_rows(table: pd.DataFrame, columns: dict[str, str], factors) -> tuple[np.ndarray, dict, int, str]:
    """Clean dates, float columns (prices by canonical name, factors by their own), the count of rows dropped,
    and the date layout."""
    dates, layout = _parse_dates(table[columns["date"]])
    bad = np.isnat(dates)
    data: dict[str, np.ndarray] = {}
    for name in PRICE_COLUMNS + ("adjclose",):
        if name in columns:
            data[name], unparseable = _numbers(table[columns[name]])
            bad |= unparseable
    with np.errstate(invalid="ignore"):
        bad |= ~(data["close"] > 0)
        if "adjclose" in data:
            bad |= ~(data["adjclose"] > 0)
    for original in _factor_columns(table, columns, factors):
        values, _ = _numbers(table[original])
        if factors is not None or np.isfinite(values).any():
            data[str(original).strip()] = values
    keep = ~bad
    return dates[keep], {k: v[keep] for k, v in data.items()}, int(bad.sum()), layout


def _factor_columns(table: pd.DataFrame, columns: dict[str, str], factors) -> list[str]:
    """The extra columns to keep: the named ``factors`` present here, or all non-price, non-bookkeeping ones."""
    known = set(PRICE_COLUMNS) | {"date", "adjclose"} | set(IGNORED_COLUMNS)
    if factors is None:  # 'Unnamed: 0' is a saved pandas index, not a factor
        return [c for k, c in columns.items() if k not in known and not k.startswith("unnamed:")]
    wanted = {str(f).strip() for f in factors}
    return [c for c in table.columns if str(c).strip() in wanted]


def _adjust(data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Use Adj Close as close and scale open/high/low by adj/close; keep the ratio as ``factor``."""
    if "adjclose" not in data:
        return data
    ratio = data["adjclose"] / data["close"]
    for name in ("open", "high", "low"):
        if name in data:
            data[name] = data[name] * ratio
    data["close"] = data.pop("adjclose")
    data["factor"] = ratio
    return data


def _sort_dedupe(dates: np.ndarray, data: dict, path: Path) -> tuple[np.ndarray, dict]:
    """Sort by date; on duplicate dates keep the last row of the file, warning with the file and count."""
    order = np.argsort(dates, kind="stable")  # equal dates keep file order, so the last is last
    dates = dates[order]
    keep = np.ones(len(dates), dtype=bool)
    keep[:-1] = dates[1:] != dates[:-1]
    if not keep.all():
        first = pd.Timestamp(dates[~keep][0]).date()
        warnings.warn(f"csv: {path}: {int((~keep).sum())} duplicate date(s), first {first}; "
                      f"kept the last row of each", stacklevel=4)
    return dates[keep], {k: v[order][keep] for k, v in data.items()}


def _build_panel(folder: Path, frames: list[TickerFrame], factors) -> Panel:
    """Place every ticker's rows on the union calendar in one preallocated float64 array."""
    calendar = pd.DatetimeIndex(np.unique(np.concatenate([f.dates for f in frames])))
    fields = _panel_fields(frames, factors)
    col = {name: k for k, name in enumerate(fields)}
    values = np.full((len(calendar), len(frames), len(fields)), np.nan, dtype=np.float64)
    any_adjusted = any(f.adjusted for f in frames)
    for j, frame in enumerate(frames):
        rows = calendar.get_indexer(frame.dates)
        for name, data in frame.columns.items():
            values[rows, j, col[name]] = data
        if any_adjusted and not frame.adjusted:
            values[rows, j, col["factor"]] = 1.0
    return Panel(
        dates=calendar,
        assets=pd.Index([f.ticker for f in frames]),
        fields=fields,
        values=values,
        name=f"csv:{folder.name}",
        # "adjusted": True when every file had Adj Close (the data-quality scan then skips its split check),
        # else None (unknown); "adjusted_tickers" names the files that had it
        meta={"source": "csv", "dir": str(folder), "adjusted": True if all(f.adjusted for f in frames) else None,
              "adjusted_tickers": [f.ticker for f in frames if f.adjusted]},
    )


def _panel_fields(frames: list[TickerFrame], factors) -> tuple[str, ...]:
    """Prices (those present), ``factor`` when any file was adjusted, then factor columns."""
    present: dict[str, None] = {}
    for f in frames:
        present.update(dict.fromkeys(f.columns))
    prices = [c for c in PRICE_COLUMNS if c in present]
    extra = ["factor"] if "factor" in present else []
    others = [c for c in present if c not in PRICE_COLUMNS and c != "factor"]
    if factors is not None:
        missing = [f for f in factors if str(f).strip() not in others]
        if missing:
            raise DataError(f"csv: factor column(s) {missing} not found in any file; extra columns are {others}")
        others = [str(f).strip() for f in factors]
    return tuple(prices + extra + others)
