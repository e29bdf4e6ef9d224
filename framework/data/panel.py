"""The Panel: one dense float32 array of dates x assets x fields, with its calendar and asset ids."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: Fields that are prices or volume, never model factors.
PRICE_FIELDS = ("open", "high", "low", "close", "volume", "vwap", "adj_close", "factor", "change", "amount")


class DataError(ValueError):
    """Bad input data; the message names the file, column, date or asset."""


@dataclass
class Panel:
    """Market data on a common calendar. Missing is NaN; assets may list late and delist early.

    ``values[t, i, f]`` holds what is known at the close of ``dates[t]``.
    ``universe[t, i]`` (optional) is point-in-time index membership; without it every
    asset with a price is eligible.
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
        if self.values.dtype != np.float32:
            self.values = self.values.astype(np.float32)
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
    dates = pd.to_datetime(df["date"], errors="coerce")
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
    values = np.full((len(calendar), len(assets), len(ordered)), np.nan, dtype=np.float32)
    for k, col in enumerate(ordered):
        values[ti, ai, k] = df[col].to_numpy(dtype=np.float32)
    return Panel(dates=calendar, assets=assets, fields=tuple(ordered), values=values, name=source)
