"""The ``french:DIR`` data source: Kenneth French's 49 industry portfolios, monthly.

Reads the first block of ``49_Industry_Portfolios.CSV`` (value-weighted monthly
returns in percent; -99.99 / -999 = missing) and, when present beside it,
``F-F_Research_Data_Factors.CSV`` (Mkt-RF, SMB, HML, RF). Each industry becomes an
asset with a total-return index as ``close`` (starting at 100) and factor columns
``ret`` (the month's return) and ``ret_rf`` (minus the risk-free rate); the market
excess return ``mkt_rf`` is a common factor. Dates are month ends.
Options: ``file=`` another industry file of the same layout.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from seqalpha.data import DataError, Panel
from seqalpha.hookspecs import hookimpl


def read_first_monthly_block(path: Path) -> pd.DataFrame:
    """The first block of YYYYMM rows after a header line starting with ',' or a name: percent returns."""
    lines = path.read_text(errors="replace").splitlines()
    start = next((k for k, line in enumerate(lines) if line.split(",")[0].strip().isdigit()
                  and len(line.split(",")[0].strip()) == 6), None)
    if start is None:
        raise DataError(f"{path}: no monthly (YYYYMM) rows found")
    end = start
    while end < len(lines) and lines[end].split(",")[0].strip().isdigit() and len(lines[end].split(",")[0].strip()) == 6:
        end += 1
    header = lines[start - 1]
    width = len(header.split(","))
    for k in range(start, end):  # a row cut short (a file cut mid-row) would shift or drop industries
        n = len(lines[k].split(","))
        if n != width:
            raise DataError(f"{path}: line {k + 1} (month {lines[k].split(',')[0].strip()}) has {n} fields where "
                            f"the header has {width}: the file is cut or damaged")
    frame = pd.read_csv(io.StringIO("\n".join([header, *lines[start:end]])), index_col=0, dtype=str)
    frame.columns = [c.strip() for c in frame.columns]
    frame.index = pd.to_datetime(frame.index.astype(str).str.strip(), format="%Y%m") + pd.offsets.MonthEnd(0)
    text = frame.apply(lambda col: col.str.strip())
    numbers = text.apply(pd.to_numeric, errors="coerce")
    bad = numbers.isna() & text.notna() | text.isna()
    if bad.to_numpy().any():
        month, industry = next((m, c) for c in bad.columns for m in bad.index[bad[c]])
        raise DataError(f"{path}: {int(bad.to_numpy().sum())} cell(s) that are not numbers, first "
                        f"{text.loc[month, industry]!r} for {industry!r} in {month:%Y-%m} (missing data must be "
                        "-99.99 or -999)")
    return numbers.where(numbers > -99.0) / 100.0


def read_french(folder: str | Path, file: str = "49_Industry_Portfolios.CSV") -> Panel:
    folder = Path(folder)
    path = folder / file
    if not path.is_file():
        raise DataError(f"french:{folder}: no {file} in that folder")
    rets = read_first_monthly_block(path)
    factors_path = folder / "F-F_Research_Data_Factors.CSV"
    rf = mkt = pd.Series(0.0, index=rets.index)
    if factors_path.is_file():
        ff = read_first_monthly_block(factors_path).reindex(rets.index)
        rf, mkt = ff["RF"].fillna(0.0), ff["Mkt-RF"]
    r = rets.to_numpy(np.float64)
    growth = np.where(np.isfinite(r), 1.0 + r, np.nan)
    level = 100.0 * np.exp(np.nancumsum(np.log(np.where(np.isfinite(growth), growth, 1.0)), axis=0))
    level[~np.isfinite(r)] = np.nan
    first = np.isfinite(r).argmax(axis=0)  # a series starts with its first return: index 100 * (1 + r)
    T, N = r.shape
    values = np.stack([level, r, r - rf.to_numpy()[:, None], np.broadcast_to(mkt.to_numpy()[:, None], (T, N))], axis=-1)
    for i, f in enumerate(first):
        values[:f, i, :] = np.nan
    return Panel(dates=rets.index, assets=list(rets.columns), fields=("close", "ret", "ret_rf", "mkt_rf"),
                 values=values.astype(np.float64), name=f"french:{folder.name}", meta={"source": "french"})


def load_french(location: str, options: dict[str, str]) -> Panel:
    unknown = set(options) - {"file"}
    if unknown:
        raise DataError(f"french: unknown option(s) {sorted(unknown)}; known: ['file']")
    return read_french(location, **options)


@hookimpl
def register_data_sources(register):
    register("french", load_french)
