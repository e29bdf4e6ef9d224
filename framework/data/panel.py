"""The Panel: one dense float64 array of dates x assets x fields, with its calendar and asset ids."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import SeqalphaError

#: Fields that are prices or volume, never model factors.
PRICE_FIELDS = ("open", "high", "low", "close", "volume", "vwap", "adj_close", "factor", "change", "amount")


#: Prices a backtest can trade: beyond these, orders of a 1e8 portfolio fall under vectorbt's size tolerance.
PRICE_RANGE = (1e-9, 1e13)
FLOAT32_MAX = float(np.finfo(np.float32).max)


class DataError(SeqalphaError, ValueError):
    """Bad input data; the message names the file, column, date or asset."""


@dataclass
class Panel:
    """Market data on a common calendar. Missing is NaN; assets may list late and delist early.

    ``values[t, i, f]`` holds what is known at the close of ``dates[t]``, in float64 (prices keep
    their digits; model inputs are cast to float32 later, which is why a factor beyond float32's
    range is refused here). ``universe[t, i]`` (optional) is point-in-time index membership;
    without it every asset with a price is eligible.
    """

    dates: pd.DatetimeIndex
    assets: pd.Index
    fields: tuple[str, ...]
    values: np.ndarray
    name: str = "panel"
    universe: np.ndarray | None = None
    benchmark: pd.Series | None = None  # benchmark close prices on ``dates`` (optional)
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.dates = pd.DatetimeIndex(self.dates)
        self.assets = pd.Index([str(a) for a in self.assets])
        self.fields = tuple(self.fields)
        if self.values.dtype != np.float64:
            self.values = self.values.astype(np.float64)
        expected = (len(self.dates), len(self.assets), len(self.fields))
        if self.values.shape != expected:
            raise DataError(f"{self.name}: values shape {self.values.shape} != (dates, assets, fields) {expected}")
        if not self.dates.is_monotonic_increasing or self.dates.has_duplicates:
            raise DataError(f"{self.name}: the calendar must be strictly increasing")
        if "close" not in self.fields:
            raise DataError(f"{self.name}: a panel needs a 'close' field; it has {list(self.fields)}")
        if len(self.assets) == 0 or len(self.dates) == 0:
            raise DataError(f"{self.name}: empty universe (no assets or no dates)")
        if self.universe is not None and self.universe.shape != expected[:2]:
            raise DataError(f"{self.name}: universe mask shape {self.universe.shape} != {expected[:2]}")
        self._check_values()

    def _check_values(self) -> None:
        """Refuse a value no backtest can use, naming the field, date and asset of the first one: infinity, a
        price outside PRICE_RANGE (a close of 1e300 would make every order too small to fill), a factor
        beyond float32 (model inputs are float32)."""
        for k, name in enumerate(self.fields):
            col = self.values[:, :, k]
            with np.errstate(invalid="ignore"):
                if name in ("open", "high", "low", "close"):
                    bad = np.isinf(col) | (np.isfinite(col) & ((col < PRICE_RANGE[0]) | (col > PRICE_RANGE[1])))
                    what = f"a price outside [{PRICE_RANGE[0]:g}, {PRICE_RANGE[1]:g}]"
                else:
                    bad = np.isinf(col) | (np.abs(col) > FLOAT32_MAX)
                    what = "a value too large for a model input (beyond float32)"
            if bad.any():
                t, i = (int(x[0]) for x in np.nonzero(bad))
                raise DataError(f"{self.name}: field {name!r} holds {what}: {col[t, i]!r} at date "
                                f"{self.dates[t].date()} asset {self.assets[i]!r} ({int(bad.sum())} such cell(s))")

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.values.shape  # type: ignore[return-value]

    def has(self, name: str) -> bool:
        return name in self.fields

    def field(self, name: str) -> np.ndarray:
        """A (dates, assets) view of one field."""
        try:
            return self.values[:, :, self.fields.index(name)]
        except ValueError:
            raise DataError(f"{self.name}: no field {name!r}; fields are {list(self.fields)}") from None

    @property
    def close(self) -> np.ndarray:
        return self.field("close")

    @property
    def factor_names(self) -> list[str]:
        """Numeric fields other than prices and volume: the default model inputs."""
        return [f for f in self.fields if f not in PRICE_FIELDS]

    def listed(self) -> np.ndarray:
        """(dates, assets) bool: the asset has a price on that date."""
        return np.isfinite(self.close)

    def tradable(self) -> np.ndarray:
        """(dates, assets) bool: a price exists and volume is not 0 (suspended).

        NaN volume counts as suspended only where the source says so (meta
        ``nan_volume_is_suspended``, set by the Qlib source); elsewhere it is unknown.
        """
        ok = self.listed()
        if self.has("volume"):
            vol = self.field("volume")
            ok &= ~(np.isfinite(vol) & (vol <= 0))
            if self.meta.get("nan_volume_is_suspended"):
                ok &= np.isfinite(vol)
        return ok

    def eligible(self) -> np.ndarray:
        """(dates, assets) bool: may be scored and held on that date (universe member with a price)."""
        ok = self.listed()
        if self.universe is not None:
            ok &= self.universe
        return ok

    def slice_dates(self, start=None, end=None) -> Panel:
        """A panel restricted to [start, end] (inclusive), sharing memory where possible."""
        lo = 0 if start is None else int(self.dates.searchsorted(pd.Timestamp(start), "left"))
        hi = len(self.dates) if end is None else int(self.dates.searchsorted(pd.Timestamp(end), "right"))
        return Panel(
            dates=self.dates[lo:hi],
            assets=self.assets,
            fields=self.fields,
            values=self.values[lo:hi],
            name=self.name,
            universe=None if self.universe is None else self.universe[lo:hi],
            benchmark=None if self.benchmark is None else self.benchmark.iloc[lo:hi],
            meta={k: v for k, v in self.meta.items() if k != "uri"},  # a cut is no longer what the URI names
        )

    def to_frame(self) -> pd.DataFrame:
        """Long format (date, asset, fields...), rows where close is known."""
        t, i = np.nonzero(self.listed())
        data = {"date": self.dates[t], "asset": self.assets[i]}
        for k, name in enumerate(self.fields):
            data[name] = self.values[t, i, k]
        return pd.DataFrame(data)


def parse_dates(column: pd.Series, source: str) -> pd.Series:
    """A date column as naive datetimes (NaT where unparseable), without the two silent misreadings:

    * integers (and integral floats) are YYYYMMDD, 20180101, not nanoseconds since 1970; other integers
      are refused;
    * timezone-aware stamps keep their local calendar date (2020-01-02 00:00+08:00 is 2020-01-02, not
      16:00 on the day before in UTC); a column mixing time zones is refused.
    """
    if pd.api.types.is_bool_dtype(column):
        raise DataError(f"{source}: column 'date' holds True/False values, not dates")
    if pd.api.types.is_numeric_dtype(column):
        values = column.to_numpy(np.float64, na_value=np.nan)
        known = values[np.isfinite(values)]
        if len(known) and (np.any(known != np.round(known)) or known.min() < 1000_01_01 or known.max() > 9999_12_31):
            odd = known[(known != np.round(known)) | (known < 1000_01_01) | (known > 9999_12_31)][0]
            raise DataError(f"{source}: column 'date' holds numbers that are not YYYYMMDD dates (e.g. {odd:.10g}); "
                            "write dates as YYYY-MM-DD or as integers like 20180102")
        text = pd.Series(np.where(np.isfinite(values), np.nan_to_num(values).astype(np.int64).astype(str), None),
                         index=column.index)
        return pd.to_datetime(text, format="%Y%m%d", errors="coerce")
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        return column.dt.tz_localize(None)
    if pd.api.types.is_datetime64_any_dtype(column):
        return column
    values = column.dropna()
    if len(values) and all(isinstance(v, pd.Timestamp | dt.datetime) for v in values.iloc[:1000]):
        zones = {str(getattr(v, "tzinfo", None) or "") for v in values}
        if len(zones) > 1:
            raise DataError(f"{source}: column 'date' mixes time zones {sorted(zones)[:4]}; give every date in one "
                            "zone, or as plain calendar dates")
        return pd.Series([pd.Timestamp(v).tz_localize(None) if pd.notna(v) else pd.NaT for v in column],
                         index=column.index, dtype="datetime64[ns]")
    text = column.astype("string").str.strip()
    offsets = text.str.extract(r"((?:[+-]\d\d:?\d\d|Z))$")[0].dropna().unique()
    if len(offsets) > 1:
        raise DataError(f"{source}: column 'date' mixes UTC offsets {sorted(offsets)[:4]}; give every date in one "
                        "zone, or as plain calendar dates")
    local = text.str.replace(r"(?:[+-]\d\d:?\d\d|Z)$", "", regex=True)  # keep the local calendar date
    return pd.to_datetime(local, errors="coerce", format="mixed")


def panel_from_frame(df: pd.DataFrame, source: str = "table", factors: list[str] | None = None) -> Panel:
    """Build a Panel from a long table (date, asset, close, optional open/high/low/volume, factors).

    Rejects, naming the problem: missing columns, unparseable dates, duplicate
    (date, asset) rows, non-numeric factor columns, infinities, non-positive prices,
    and an empty table.
    """
    df = df.copy()
    df.columns = [str(c).strip().lower() if str(c).strip().lower() in ("date", "asset") + PRICE_FIELDS else str(c).strip()
                  for c in df.columns]
    missing = [c for c in ("date", "asset", "close") if c not in df.columns]
    if missing:
        raise DataError(f"{source}: missing required column(s) {missing}; columns are {list(df.columns)}")
    if len(df) == 0:
        raise DataError(f"{source}: empty table (no rows), so the universe is empty")
    dates = parse_dates(df["date"], source)
    bad = dates.isna() & df["date"].notna() | df["date"].isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"{source}: column 'date' has {int(bad.sum())} unparseable value(s), first {df['date'].iloc[row]!r} at row {row}")
    df["date"] = dates.to_numpy().astype("datetime64[ns]")
    if df["asset"].isna().any():
        row = int(np.flatnonzero(df["asset"].isna().to_numpy())[0])
        raise DataError(f"{source}: column 'asset' is empty at row {row} (date {df['date'].iloc[row].date()})")
    df["asset"] = df["asset"].astype(str)
    dup = df.duplicated(["date", "asset"], keep=False)
    if dup.any():
        first = df.loc[dup].iloc[0]
        raise DataError(
            f"{source}: {int(dup.sum())} duplicate (date, asset) rows, first date {first['date'].date()} asset {first['asset']!r}"
        )
    value_cols = [c for c in df.columns if c not in ("date", "asset")]
    if factors is not None:
        unknown = [f for f in factors if f not in df.columns]
        if unknown:
            raise DataError(f"{source}: factor column(s) {unknown} not found; columns are {value_cols}")
        value_cols = [c for c in value_cols if c in PRICE_FIELDS or c in factors]
    for col in value_cols:
        if not pd.api.types.is_numeric_dtype(df[col]) or pd.api.types.is_bool_dtype(df[col]):
            conv = pd.to_numeric(df[col], errors="coerce")
            bad = conv.isna() & df[col].notna()
            if bad.any() or pd.api.types.is_bool_dtype(df[col]):
                row = int(np.flatnonzero(bad.to_numpy())[0]) if bad.any() else 0
                raise DataError(
                    f"{source}: column {col!r} is not numeric: value {df[col].iloc[row]!r} at date "
                    f"{df['date'].iloc[row].date()} asset {df['asset'].iloc[row]!r}"
                )
            df[col] = conv
        vals = df[col].to_numpy(dtype=np.float64)
        inf = np.isinf(vals)
        if inf.any():
            row = int(np.flatnonzero(inf)[0])
            raise DataError(
                f"{source}: column {col!r} has {int(inf.sum())} infinite value(s), first at date "
                f"{df['date'].iloc[row].date()} asset {df['asset'].iloc[row]!r}"
            )
    for col in ("open", "high", "low", "close"):
        if col in df.columns:
            vals = df[col].to_numpy(dtype=np.float64)
            nonpos = vals <= 0
            if nonpos.any():
                row = int(np.flatnonzero(nonpos)[0])
                raise DataError(
                    f"{source}: column {col!r} has a non-positive price {vals[row]} at date "
                    f"{df['date'].iloc[row].date()} asset {df['asset'].iloc[row]!r}"
                )
    calendar = pd.DatetimeIndex(np.sort(df["date"].unique()))
    assets = pd.Index(sorted(df["asset"].unique()))
    ti = calendar.get_indexer(df["date"])
    ai = assets.get_indexer(df["asset"])
    ordered = [c for c in ("open", "high", "low", "close", "volume") if c in value_cols] + [
        c for c in value_cols if c not in ("open", "high", "low", "close", "volume")
    ]
    values = np.full((len(calendar), len(assets), len(ordered)), np.nan, dtype=np.float64)
    for k, col in enumerate(ordered):
        values[ti, ai, k] = df[col].to_numpy(dtype=np.float64)
    return Panel(dates=calendar, assets=assets, fields=tuple(ordered), values=values, name=source)
