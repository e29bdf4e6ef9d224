"""Listing and comparing run directories, from their files alone (config.json, metrics.json, parquet tables).

Each public function is one line of CLI wiring:
``print(format_table(list_runs(root, sort=key)))`` and ``print(format_table(compare_runs(dirs, out_html=out)))``.
"""

from __future__ import annotations

import difflib
import json
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative

from framework.report import (
    METRIC_CONVENTIONS,
    METRIC_FORMATS,
    Run,
    base_layout,
    chart_div,
    equity,
    esc,
    format_value,
    html_page,
    html_table,
    load_run,
    note,
    read_json,
)

LIST_COLUMNS = ["run", "strategy", "model", "data", "start", "end", "ic", "rank_ic", "sharpe", "annual_return",
                "excess_annual_return", "max_drawdown", "created"]
TEXT_COLUMNS = {"run", "strategy", "model", "data", "start", "end"}
PALETTE = qualitative.D3


# ---------------------------------------------------------------- listing


def find_run_dirs(root: Path) -> list[Path]:
    """Every directory under `root` (or root itself) holding both config.json and metrics.json."""
    if not root.is_dir():
        return []
    return sorted(p.parent for p in root.rglob("metrics.json") if (p.parent / "config.json").is_file())


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
    config, metrics = read_json(path / "config.json"), read_json(path / "metrics.json")
    params = config.get("params") or {}
    span = list(config.get("span") or []) + [None, None]
    name = path.relative_to(root).as_posix() if path != root else path.resolve().name
    row: dict[str, Any] = {
        "run": name, "strategy": config.get("strategy"), "model": _text(params.get("model", config.get("model"))),
        "data": _text(config.get("data")), "start": _text(span[0]), "end": _text(span[1]),
    }
    for key in LIST_COLUMNS[6:-1]:
        row[key] = _number(metrics.get(key))
    row["created"] = parse_created(config.get("created"), path / "metrics.json")
    return row


def _text(value: Any) -> str | None:
    """A cell as text (dicts as compact JSON); None stays None."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, default=str) if isinstance(value, dict | list) else str(value)


def _number(value: Any) -> float:
    """A metric as float; NaN when absent or not a number."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def check_sort_key(key: str, columns: Sequence[str]) -> None:
    """Reject an unknown sort key with a 'did you mean'."""
    if key in columns:
        return
    close = difflib.get_close_matches(key, columns, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"cannot sort runs by {key!r}.{hint} Choose from: {', '.join(columns)}.")


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
    right = [pd.api.types.is_numeric_dtype(frame[c]) or _mostly_numeric(frame[c]) for c in frame.columns]

    def line(parts: list[str]) -> str:
        return "  ".join(p.rjust(w) if r else p.ljust(w) for p, w, r in zip(parts, widths, right)).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in cells)])


def _clip(text: str, width: int) -> str:
    """Text cut to `width` characters with an ellipsis."""
    return text if len(text) <= width else text[: width - 1] + "…"


def _mostly_numeric(column: pd.Series) -> bool:
    """Whether an object column holds numbers (compare tables mix floats and NaN)."""
    values = column.dropna()
    return bool(len(values)) and all(isinstance(v, int | float | np.number) for v in values)


# ---------------------------------------------------------------- comparison


def run_names(paths: Sequence[Path]) -> list[str]:
    """Short distinct names for runs: the directory name, with parents added until they differ."""
    parts = [p.resolve().parts for p in paths]
    for depth in range(1, max(len(p) for p in parts) + 1):
        names = ["/".join(p[-depth:]) for p in parts]
        if len(set(names)) == len(names):
            return names
    return [f"{n}#{i}" for i, n in enumerate(names)]


def flat_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """metrics.json flattened: nested dicts (the per-phase seconds) become 'seconds.total' etc."""
    flat: dict[str, Any] = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            flat.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            flat[key] = value
    return flat


def metric_order(names: Iterable[str]) -> list[str]:
    """Known metrics in the report's order, then the others as first seen, per-phase seconds last."""
    names = list(dict.fromkeys(names))
    known = [m for m in METRIC_FORMATS if m in names]
    seconds = [m for m in names if m.startswith("seconds.")]
    return known + [m for m in names if m not in known and m not in seconds] + seconds


def compare_runs(run_dirs: Iterable[str | Path], out_html: str | Path | None = None) -> pd.DataFrame:
    """Metrics side by side (rows = metrics, columns = run names); optionally an HTML page overlaying the runs."""
    runs = [load_run(d, tables=("returns", "ic")) for d in run_dirs]
    if not runs:
        raise ValueError("compare_runs needs at least one run directory")
    names = run_names([r.path for r in runs])
    table = pd.DataFrame({n: pd.Series(flat_metrics(r.metrics), dtype=object) for n, r in zip(names, runs)})
    table = table.reindex(metric_order(m for r in runs for m in flat_metrics(r.metrics)))
    table = table.apply(lambda col: col.astype(float) if _mostly_numeric(col) else col)
    table.index.name = "metric"
    if out_html is not None:
        Path(out_html).write_text(comparison_html(runs, names, table), encoding="utf-8")
    return table


def differing_params(runs: Sequence[Run], names: Sequence[str]) -> pd.DataFrame:
    """The strategy parameters (and data, span) whose values are not the same in every run."""
    def flat(run: Run) -> dict[str, str]:
        cfg = run.config
        values = {"strategy": cfg.get("strategy"), "data": cfg.get("data"), "span": cfg.get("span"),
                  "seed": cfg.get("seed"), **(cfg.get("params") or {})}
        return {k: _text(v) if not isinstance(v, str) else v for k, v in values.items()}

    table = pd.DataFrame({n: flat(r) for n, r in zip(names, runs)}, dtype=object)
    if table.empty:
        return table
    same = table.apply(lambda row: row.astype(str).nunique() == 1, axis=1)
    return table[~same]


def _comparison_charts(runs: Sequence[Run], names: Sequence[str]) -> tuple[str, str]:
    """Overlaid equity curves and cumulative IC curves, one colour per run."""
    fig_e, fig_i = go.Figure(), go.Figure()
    notes_e, notes_i = [], []
    for i, (run, name) in enumerate(zip(runs, names)):
        color = PALETTE[i % len(PALETTE)]
        rets = run.table("returns")
        if rets is not None and not rets.empty:
            rets = rets.sort_values("date").set_index("date")
            fig_e.add_trace(go.Scatter(x=rets.index, y=equity(rets["strategy"]), name=name, legendgroup=name,
                                       line=dict(color=color, width=2)))
            fig_e.add_trace(go.Scatter(x=rets.index, y=equity(rets["benchmark"]), name=f"{name} benchmark",
                                       legendgroup=name, visible="legendonly",
                                       line=dict(color=color, width=1, dash="dot")))
        else:
            notes_e.append(name)
        ic = run.table("ic")
        if ic is not None and not ic.empty:
            ic = ic.sort_values("date").set_index("date")
            fig_i.add_trace(go.Scatter(x=ic.index, y=ic["ic"].fillna(0).cumsum(), name=f"{name} IC",
                                       legendgroup=name, line=dict(color=color, width=2)))
            fig_i.add_trace(go.Scatter(x=ic.index, y=ic["rank_ic"].fillna(0).cumsum(), name=f"{name} rank IC",
                                       legendgroup=name, line=dict(color=color, width=1.2, dash="dash")))
        else:
            notes_i.append(name)
    base_layout(fig_e, 420, "Equity (compounded daily returns, start = 1); benchmarks in the legend",
                hovermode="x unified")
    base_layout(fig_i, 380, "Cumulative IC (solid) and rank IC (dashed): sum over dates", hovermode="x unified")
    equity_html = chart_div("compare_equity", fig_e) if fig_e.data else ""
    ic_html = chart_div("compare_ic", fig_i) if fig_i.data else ""
    if notes_e:
        equity_html += note(f"No returns.parquet in: {', '.join(notes_e)}.")
    if notes_i:
        ic_html += note(f"No ic.parquet in: {', '.join(notes_i)}.")
    return equity_html, ic_html


def comparison_html(runs: Sequence[Run], names: Sequence[str], table: pd.DataFrame) -> str:
    """The comparison page: runs, differing parameters, overlaid curves, metrics side by side."""
    ident = [[esc(n), esc(r.config.get("strategy", "-")), esc((r.config.get("params") or {}).get("model", "-")),
              esc(r.config.get("data", "-")), esc(" to ".join(map(str, r.config.get("span") or []))),
              esc(r.config.get("created", "-"))] for n, r in zip(names, runs)]
    params = differing_params(runs, names)
    param_rows = [[f"<code>{esc(k)}</code>", *(esc(v) for v in row)] for k, row in params.iterrows()]
    equity_html, ic_html = _comparison_charts(runs, names)
    metric_rows = [[f"<code>{esc(m)}</code>",
                    *(format_value(v, METRIC_FORMATS.get(m, "f2" if m.startswith("seconds.") else "g"))
                      for v in row), esc(METRIC_CONVENTIONS.get(m, ""))] for m, row in table.iterrows()]
    n = len(names)
    sections = [
        ("runs", "Runs", html_table(["run", "strategy", "model", "data", "test span", "created"], ident)),
        ("params", "Parameters that differ",
         html_table(["parameter", *names], param_rows) if param_rows else note("All parameters are the same.")),
        ("equity", "Equity", equity_html or note("No run has returns.parquet.")),
        ("ic", "Cumulative IC", ic_html or note("No run has ic.parquet.")),
        ("metrics", "Metrics", html_table(["metric", *names, "convention"], metric_rows,
                                          numeric=set(range(1, n + 1)))),
    ]
    header = f"<h1>Comparison of {n} runs</h1><div class=\"sub\">{esc(' · '.join(names))}</div>"
    return html_page(f"seqalpha comparison · {' vs '.join(names)}", header, sections)
