"""Seed-aware comparisons of a sweep's grid points: per point over seeds, and paired on the same seeds.

One seed is an anecdote: a difference between two grid points counts only when it is larger
than the seed noise. For each pair of points run on the same seeds, the per-seed differences
in rank IC give a mean, its standard error (std / sqrt(n)), and a count of seeds on which A beat
B; a difference is marked when |mean| > 2 standard errors (about a 95% two-sided t-test for
n of 5 or more; with fewer seeds, treat the mark as a hint).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd

SUMMARY_METRICS = ["rank_ic", "ic", "icir", "sharpe", "excess_annual_return", "information_ratio"]
NOISE_SE = 2.0


def _points(table: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    ok = table[table["status"] == "ok"] if "status" in table else table
    names = [", ".join(f"{k}={row[k]}" for k in keys) for _, row in ok.iterrows()] if keys else "all"
    return ok.assign(point=names)


def point_summary(table: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """One row per grid point: n seeds, then mean, std and worst seed (the lowest) of each summary metric."""
    if table.empty:
        return pd.DataFrame()
    ok = table[table["status"] == "ok"] if "status" in table else table
    if ok.empty:  # every run failed
        return pd.DataFrame()
    rows = []
    for values, g in ok.groupby(keys, sort=False, dropna=False) if keys else [((), ok)]:
        values = values if isinstance(values, tuple) else (values,)
        row = {**dict(zip(keys, values)), "n_seeds": len(g)}
        for m in SUMMARY_METRICS:
            v = g[m].astype(float) if m in g else pd.Series(dtype=float)
            row[f"{m} mean"] = v.mean()
            row[f"{m} std"] = v.std(ddof=1) if len(v) > 1 else np.nan
            row[f"{m} worst"] = v.min()
        rows.append(row)
    return pd.DataFrame(rows)


def paired_comparisons(table: pd.DataFrame, keys: list[str], metric: str = "rank_ic") -> pd.DataFrame:
    """For each pair of grid points (A, B): per-seed differences A - B on their common seeds."""
    if table.empty or "seed" not in table:
        return pd.DataFrame()
    ok = table[table["status"] == "ok"] if "status" in table else table
    if ok.empty or metric not in ok:  # every run failed: nothing to compare
        return pd.DataFrame()
    by_point = {}
    for values, g in ok.groupby(keys, sort=False, dropna=False) if keys else [((), ok)]:
        values = values if isinstance(values, tuple) else (values,)
        by_point[", ".join(f"{k}={v}" for k, v in zip(keys, values)) or "all"] = g.set_index("seed")[metric]
    rows = []
    for a, b in itertools.combinations(by_point, 2):
        common = by_point[a].index.intersection(by_point[b].index)
        d = (by_point[a].loc[common] - by_point[b].loc[common]).astype(float)
        n = len(d)
        se = d.std(ddof=1) / np.sqrt(n) if n > 1 else np.nan
        mean = d.mean() if n else np.nan
        rows.append({"A": a, "B": b, "seeds": n, f"mean {metric} A - B": mean, "standard error": se,
                     "A beat B": f"{int((d > 0).sum())} of {n}",
                     "beyond seed noise": bool(n > 1 and np.isfinite(se) and abs(mean) > NOISE_SE * se)})
    return pd.DataFrame(rows)


def markdown_table(frame: pd.DataFrame) -> str:
    """A markdown table of a frame (its columns, not its index); floats to 4 decimals, NaN blank."""
    if frame.empty:
        return "(none)\n"

    def fmt(v):
        if isinstance(v, (float, np.floating)):
            return "" if not np.isfinite(v) else f"{v:.4f}"
        return str(v)
    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body]) + "\n"


def write_summary(out: Path, table: pd.DataFrame, keys: list[str]) -> None:
    """summary.md and report.html in the sweep folder."""
    from ..util import atomic_write_bytes

    points = point_summary(table, keys)
    pairs = paired_comparisons(table, keys)
    failed = table[table["status"] == "failed"] if "status" in table else table.iloc[:0]
    text = (f"# Sweep: {len(table)} runs, {len(failed)} failed\n\n"
            + (f"**All {len(table)} runs failed.** The first error: {failed['error'].iloc[0]}\n\n"
               if len(table) and len(failed) == len(table) else "") +
            "## Grid points over seeds (mean, std, worst seed)\n\n" + markdown_table(points) +
            "\n## Paired comparisons of rank IC on the same seeds\n\n"
            f"A difference is marked beyond seed noise when |mean| > {NOISE_SE:g} standard errors.\n\n"
            + markdown_table(pairs))
    if len(failed):
        text += "\n## Failed runs\n\n" + markdown_table(failed[["run_dir", "error"]])
    atomic_write_bytes(out / "summary.md", text.encode())
    atomic_write_bytes(out / "report.html", sweep_html(table, keys, points, pairs).encode())


def sweep_html(table: pd.DataFrame, keys: list[str], points: pd.DataFrame, pairs: pd.DataFrame) -> str:
    """One offline page: rank IC of every run by grid point, the point summary and the paired comparisons."""
    from ..report.figure import Figure, box
    from ..report.html import base_layout, chart_div, esc, format_value, html_page, html_table, note

    sections = []
    ok = _points(table, keys) if not table.empty else table
    if not ok.empty and "rank_ic" in ok:
        fig = Figure()
        for name, g in ok.groupby("point", sort=False):
            fig.add_trace(box(y=g["rank_ic"], name=name, boxpoints="all", jitter=0.3, pointpos=0,
                                 text=[f"seed {s}" for s in g["seed"]], hovertemplate="%{text}: %{y:.4f}"))
        base_layout(fig, 420, "Rank IC of each run by grid point (one point per seed)", showlegend=False)
        sections.append(("rank-ic", "Rank IC by grid point", chart_div("sweep_rank_ic", fig)))

    def table_html(frame: pd.DataFrame) -> str:
        if frame.empty:
            return note("Nothing to show.")
        numeric = {i for i, c in enumerate(frame.columns) if pd.api.types.is_float_dtype(frame[c])}
        rows = [[format_value(v, "f4") if i in numeric else ("-" if v is None else esc(v)) for i, v in enumerate(r)]
                for r in frame.itertuples(index=False)]
        return html_table(list(map(str, frame.columns)), rows, numeric=numeric)
    sections.append(("points", "Grid points over seeds", table_html(points)))
    sections.append(("pairs", "Paired comparisons (rank IC, same seeds)",
                     f"<p>Marked beyond seed noise when |mean difference| &gt; {NOISE_SE:g} standard errors.</p>"
                     + table_html(pairs)))
    runs = table[[c for c in ("run_dir", *keys, "seed", "status", "worker", "wall_seconds", "rank_ic", "ic",
                              "sharpe", "error") if c in table]] if not table.empty else table
    sections.append(("runs", "Runs", table_html(runs)))
    n_failed = int((table["status"] == "failed").sum()) if "status" in table else 0
    header = (f"<h1>Sweep of {len(table)} runs, {n_failed} failed</h1>"
              f"<div class=\"sub\">grid: {esc(', '.join(keys) or 'none')}</div>")
    return html_page("seqalpha sweep", header, sections)
