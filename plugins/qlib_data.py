"""Data source for Qlib's on-disk format (``qlib:DIR?universe=csi300&benchmark=SH000300``).

Layout read (the one ``pyqlib`` writes and reads):

- ``calendars/day.txt``: one trading date a line;
- ``instruments/<universe>.txt``: ``CODE<TAB>start<TAB>end``, one line per membership
  spell (a code may have several);
- ``features/<code lower case>/<field>.day.bin``: little-endian float32, the first value
  is the index of the series' first day in the calendar, then one value per day.

The Panel keeps every loaded day of each series (history before a code joins the index
still feeds its windows); only ``Panel.universe`` says who is a member on a date.
Loading is one ``np.fromfile`` per file into a preallocated array: no pandas per
instrument, so the whole CSI 300 folder loads in well under a second.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from seqalpha.data import DataError, Panel
from seqalpha.hookspecs import hookimpl
from seqalpha.registry import did_you_mean

#: Fields loaded when none are asked for (those present). ``factor`` (the adjustment
#: factor) and ``change`` are left out: ask for them by name.
DEFAULT_FIELDS = ("open", "high", "low", "close", "volume")

#: URI options ``load_qlib`` understands.
OPTIONS = ("universe", "benchmark", "fields", "start", "end")

_SHOW = 5  # codes or files named in a warning before "..."


@hookimpl
def register_data_sources(register):
    """Register the ``qlib:`` scheme."""
    register("qlib", load_qlib)


def load_qlib(location: str, options: dict[str, str]) -> Panel:
    """Loader for ``qlib:DIR?universe=..&benchmark=..&fields=a,b&start=..&end=..`` (all options optional)."""
    unknown = [k for k in options if k not in OPTIONS]
    if unknown:
        hint = did_you_mean(unknown[0], OPTIONS)
        raise DataError(f"qlib:{location}: unknown option(s) {unknown}; known options are {list(OPTIONS)}.{hint}")
    fields = options.get("fields")
    return read_qlib(
        location,
        universe=options.get("universe") or "all",
        fields=[f for f in fields.split(",") if f.strip()] if fields else None,
        benchmark=options.get("benchmark") or None,
        start=options.get("start") or None,
        end=options.get("end") or None,
    )


def read_qlib(
    dir: str | Path,
    universe: str = "all",
    fields: list[str] | tuple[str, ...] | None = None,
    benchmark: str | None = None,
    start=None,
    end=None,
) -> Panel:
    """Read a Qlib data folder into a Panel with a point-in-time universe mask.

    ``fields`` defaults to those of open/high/low/close/volume that exist; ``start``/``end``
    (inclusive) cut the calendar; ``benchmark`` (a code such as ``SH000300``) becomes
    ``Panel.benchmark`` (its close) and is never an asset.
    """
    root = _check_root(dir)
    full_calendar = read_calendar(root)
    lo, hi = _window(full_calendar, start, end, root)
    calendar = full_calendar[lo:hi]
    spells = read_instruments(root, universe)
    bench = benchmark.strip().upper() if benchmark else None
    codes = _codes_with_data(root, spells, calendar, universe, exclude=bench)
    fields = _resolve_fields(root, codes, fields)
    values = np.empty((len(calendar), len(codes), len(fields)), dtype=np.float32)
    block = np.empty((len(calendar), len(fields)), dtype=np.float32)  # contiguous, then one strided copy
    for j, code in enumerate(codes):
        block.fill(np.nan)
        _fill_asset(block, _feature_dir(root, code), fields, lo, len(full_calendar))
        values[:, j, :] = block
    return Panel(
        dates=calendar,
        assets=pd.Index(codes),
        fields=tuple(fields),
        values=values,
        name=f"qlib:{root.name}/{universe}",
        universe=membership_mask(calendar, [spells[c] for c in codes]),
        benchmark=_read_benchmark(root, bench, calendar, lo, len(full_calendar)) if bench else None,
        meta={"source": "qlib", "dir": str(root), "universe": universe, "benchmark_name": bench,
              "nan_volume_is_suspended": True, "adjusted": True},
    )


def _check_root(dir: str | Path) -> Path:
    """The data folder as a Path, or a DataError when it is not a folder."""
    if not str(dir).strip():
        raise DataError("qlib: no data folder given (expected qlib:DIR)")
    root = Path(dir).expanduser()
    if not root.is_dir():
        raise DataError(f"qlib: data folder {str(root)!r} does not exist or is not a folder")
    return root


def read_calendar(root: Path) -> pd.DatetimeIndex:
    """The trading calendar from ``calendars/day.txt``."""
    path = root / "calendars" / "day.txt"
    if not path.is_file():
        raise DataError(f"qlib: calendar file {str(path)!r} is missing (a Qlib folder has calendars/day.txt)")
    lines = [s.strip() for s in path.read_text().splitlines() if s.strip()]
    if not lines:
        raise DataError(f"qlib: calendar file {str(path)!r} is empty")
    dates = pd.to_datetime(pd.Series(lines), errors="coerce")
    if dates.isna().any():
        row = int(np.flatnonzero(dates.isna().to_numpy())[0])
        raise DataError(f"qlib: calendar file {str(path)!r} line {row + 1}: unparseable date {lines[row]!r}")
    calendar = pd.DatetimeIndex(dates)
    if not calendar.is_monotonic_increasing or calendar.has_duplicates:
        raise DataError(f"qlib: calendar file {str(path)!r} is not strictly increasing")
    return calendar


def _window(calendar: pd.DatetimeIndex, start, end, root: Path) -> tuple[int, int]:
    """Calendar positions [lo, hi) of the inclusive date range [start, end]."""
    lo = 0 if start is None else int(calendar.searchsorted(pd.Timestamp(start), "left"))
    hi = len(calendar) if end is None else int(calendar.searchsorted(pd.Timestamp(end), "right"))
    if hi <= lo:
        raise DataError(
            f"qlib:{root}: no trading day between start={start} and end={end} "
            f"(calendar spans {calendar[0].date()} to {calendar[-1].date()})"
        )
    return lo, hi


def read_instruments(root: Path, universe: str) -> dict[str, list[tuple[np.datetime64, np.datetime64]]]:
    """Membership spells per code (upper case) from ``instruments/<universe>.txt``, in file order."""
    folder = root / "instruments"
    path = folder / f"{universe}.txt"
    if not path.is_file():
        available = sorted(p.stem for p in folder.glob("*.txt")) if folder.is_dir() else []
        raise DataError(
            f"qlib:{root}: unknown universe {universe!r} (no {path.name} in {folder}); "
            f"available: {available or 'none'}.{did_you_mean(universe, available)}"
        )
    spells: dict[str, list[tuple[np.datetime64, np.datetime64]]] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        try:
            code, first, last = parts[0].upper(), np.datetime64(parts[1], "D"), np.datetime64(parts[2], "D")
        except (IndexError, ValueError):
            raise DataError(f"qlib: {path} line {number}: expected CODE<TAB>start<TAB>end, got {line!r}") from None
        spells.setdefault(code, []).append((first, last))
    if not spells:
        raise DataError(f"qlib: universe file {path} lists no instruments")
    return spells


def _feature_dir(root: Path, code: str) -> Path:
    """A code's feature folder: Qlib stores codes in lower case on disk."""
    return root / "features" / code.lower()


def _codes_with_data(root: Path, spells: dict, calendar: pd.DatetimeIndex, universe: str,
                     exclude: str | None) -> list[str]:
    """Codes that are members at some point of ``calendar`` and have a feature folder (sorted).

    Warns once, naming how many and a few of them, for members without a feature folder.
    """
    first, last = np.datetime64(calendar[0], "D"), np.datetime64(calendar[-1], "D")
    members = [c for c, ss in spells.items() if c != exclude and any(a <= last and b >= first for a, b in ss)]
    have = set(os.listdir(root / "features")) if (root / "features").is_dir() else set()
    codes = sorted(c for c in members if c.lower() in have)
    missing = [c for c in members if c.lower() not in have]
    if missing:
        shown = ", ".join(missing[:_SHOW]) + (", ..." if len(missing) > _SHOW else "")
        warnings.warn(
            f"qlib:{root}: {len(missing)} of {len(members)} {universe!r} codes have no feature folder "
            f"(no data, left out): {shown}",
            stacklevel=3,
        )
    if not codes:
        raise DataError(f"qlib:{root}: none of the {len(members)} {universe!r} codes in range has a folder under {root / 'features'}")
    return codes


def _resolve_fields(root: Path, codes: list[str], fields) -> list[str]:
    """The fields to load: the asked ones (checked to exist somewhere), else the present defaults."""
    present: set[str] = set()
    for code in codes:
        present.update(n[: -len(".day.bin")] for n in os.listdir(_feature_dir(root, code)) if n.endswith(".day.bin"))
    if isinstance(fields, str):
        fields = fields.split(",")
    if fields is None:
        chosen = [f for f in DEFAULT_FIELDS if f in present]
        if "close" not in chosen:
            raise DataError(f"qlib:{root}: no close.day.bin under features/; fields found: {sorted(present)}")
        return chosen
    chosen = list(dict.fromkeys(f.strip().lstrip("$").lower() for f in fields))
    absent = [f for f in chosen if f not in present]
    if absent:
        raise DataError(
            f"qlib:{root}: field(s) {absent} not found for any instrument; fields found: {sorted(present)}."
            f"{did_you_mean(absent[0], sorted(present))}"
        )
    return chosen


def read_series(path: str | Path, n_calendar: int) -> tuple[int, np.ndarray]:
    """One ``.day.bin``: (index of its first day in the full calendar, float32 values)."""
    size = os.path.getsize(path)
    if size % 4:  # np.fromfile would drop the partial value without a word
        raise DataError(f"qlib: {path} is {size} bytes, not a whole number of float32 values: the file is cut "
                        "or damaged")
    raw = np.fromfile(path, dtype="<f4")
    if raw.size == 0:
        raise DataError(f"qlib: {path} is empty (expected a start index then one float32 per day)")
    first = float(raw[0])
    if not (np.isfinite(first) and first == int(first) and 0 <= first < n_calendar):
        raise DataError(
            f"qlib: {path} has start index {first}, out of range for a calendar of {n_calendar} days"
        )
    start, data = int(first), raw[1:]
    if start + data.size > n_calendar:
        raise DataError(
            f"qlib: {path} runs {start + data.size - n_calendar} day(s) past the calendar's end "
            f"(start {start} + {data.size} values > {n_calendar} days): calendar and features disagree"
        )
    return start, data


def check_siblings(folder: str | Path) -> None:
    """Every ``.day.bin`` of one instrument spans the same days (Qlib writes them together): a file shorter than
    its siblings was cut, and reading it would make the asset look delisted where it was not."""
    spans = {}
    for path in sorted(Path(folder).glob("*.day.bin")):
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = np.frombuffer(fh.read(4), dtype="<f4")
        if size % 4 or head.size == 0 or not np.isfinite(head[0]):
            continue  # read_series names these problems
        spans[path.name] = (int(head[0]), size // 4 - 1)
    if len(set(spans.values())) > 1:
        common = max(set(spans.values()), key=list(spans.values()).count)
        odd = [(name, span) for name, span in spans.items() if span != common]
        name, (start, n) = odd[0]
        raise DataError(f"qlib: {Path(folder) / name} holds {n} days from calendar day {start}, but its siblings "
                        f"hold {common[1]} days from day {common[0]}: the file is cut or damaged"
                        + (f" (and {len(odd) - 1} more)" if len(odd) > 1 else ""))


def _fill_asset(block: np.ndarray, folder: str | Path, fields: list[str], lo: int, n_calendar: int) -> None:
    """Write one asset's fields into its (T, F) view; days outside each series' span stay NaN."""
    hi = lo + block.shape[0]
    for k, name in enumerate(fields):
        try:
            start, data = read_series(os.path.join(folder, f"{name}.day.bin"), n_calendar)
        except FileNotFoundError:  # this code lacks the field: it stays NaN
            continue
        a, b = max(start, lo), min(start + data.size, hi)
        if a < b:
            block[a - lo : b - lo, k] = data[a - start : b - start]
    check_siblings(folder)


def membership_mask(calendar: pd.DatetimeIndex, spells_per_asset: list[list[tuple]]) -> np.ndarray:
    """(T, N) bool: date inside one of the asset's spells, both ends inclusive."""
    days = calendar.to_numpy().astype("datetime64[D]")
    mask = np.zeros((len(days), len(spells_per_asset)), dtype=bool)
    for j, spells in enumerate(spells_per_asset):
        for first, last in spells:
            mask[np.searchsorted(days, first, "left") : np.searchsorted(days, last, "right"), j] = True
    return mask


def _read_benchmark(root: Path, code: str, calendar: pd.DatetimeIndex, lo: int, n_calendar: int) -> pd.Series:
    """The benchmark's close on ``calendar`` (NaN outside its span)."""
    path = _feature_dir(root, code) / "close.day.bin"
    if not path.is_file():
        raise DataError(f"qlib:{root}: benchmark {code!r} has no close series ({path} is missing)")
    block = np.full((len(calendar), 1), np.nan, dtype=np.float32)
    _fill_asset(block, path.parent, ["close"], lo, n_calendar)
    return pd.Series(block[:, 0].astype(np.float64), index=calendar, name=code)
