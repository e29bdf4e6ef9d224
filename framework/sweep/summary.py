"""Seed-aware comparisons of a sweep's grid points: per point over seeds, and paired on the same seeds.

One seed is an anecdote: a difference between two grid points counts only when it is larger
than the seed noise. For each pair of points run on the same seeds, the per-seed differences
in rank IC give a mean, its standard error (std / sqrt(n)), and a count of seeds on which A beat
B; a difference is marked when |mean| > 2 standard errors (about a 95% two-sided t-test for
n of 5 or more; with fewer seeds, treat the mark as a hint).

Whether a point has a signal at all, and whether it beats the ``--baseline`` point, also counts the
noise of the test days the seeds share (significance.py): the summary leads with those.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd

from .significance import NO_SIGNAL, NOISE_SE, combined_se, difference_se, point_significance, signal_verdict

SUMMARY_METRICS = ["rank_ic", "ic", "icir", "sharpe", "excess_annual_return", "information_ratio"]
BASELINE = "baseline"


def _is_baseline(table: pd.DataFrame) -> pd.Series:
    """Which rows are runs of the --baseline point (a bool column; absent in a sweep without one)."""
    if BASELINE not in table:
        return pd.Series(False, index=table.index)
    return table[BASELINE].fillna(False).astype(bool)


def _points(table: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    ok = table[table["status"] == "ok"] if "status" in table else table
    names = [BASELINE if base else (", ".join(f"{k}={row[k]}" for k in keys) or "all")
             for base, (_, row) in zip(_is_baseline(ok), ok.iterrows())]
    return ok.assign(point=names)


def _groups(ok: pd.DataFrame, keys: list[str]):
    """(point name, grid values, runs) per point: the baseline first (when there is one), then the grid points."""
    base = _is_baseline(ok)
    if base.any():
        yield BASELINE, {k: ok.loc[base, k].iloc[0] for k in keys}, ok[base]
    grid = ok[~base]
    for values, g in grid.groupby(keys, sort=False, dropna=False) if keys else ([((), grid)] if len(grid) else []):
        values = values if isinstance(values, tuple) else (values,)
        yield ", ".join(f"{k}={v}" for k, v in zip(keys, values)) or "all", dict(zip(keys, values)), g


def point_summary(table: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """One row per grid point (the baseline first, marked in a ``baseline`` column, when the sweep has one): n seeds,
    the mean rank IC with its standard error over seeds and days and its verdict (``signal``: "no signal" within
    2 SE of zero; significance.py), then mean, std and worst seed (the lowest) of each summary metric."""
    if table.empty:
        return pd.DataFrame()
    ok = table[table["status"] == "ok"] if "status" in table else table
    if ok.empty:  # every run failed
        return pd.DataFrame()
    with_baseline = bool(_is_baseline(ok).any())
    rows = []
    for name, values, g in _groups(ok, keys):
        row = {**({BASELINE: name == BASELINE} if with_baseline else {}), **values, "n_seeds": len(g)}
        if "rank_ic" in g:
            row["rank_ic mean"] = g["rank_ic"].astype(float).mean()
        row.update(point_significance(g))
        for m in SUMMARY_METRICS:
            v = g[m].astype(float) if m in g else pd.Series(dtype=float)
            row[f"{m} mean"] = v.mean()
            row[f"{m} std"] = v.std(ddof=1) if len(v) > 1 else np.nan
            row[f"{m} worst"] = v.min()
        rows.append(row)
    return pd.DataFrame(rows)


def paired_comparisons(table: pd.DataFrame, keys: list[str], metric: str = "rank_ic") -> pd.DataFrame:
    """For each pair of grid points (A, B; the baseline is paired in ``baseline_comparisons``): per-seed
    differences A - B on their common seeds."""
    by_point = _by_point(table, keys, metric)
    by_point.pop(BASELINE, None)
    rows = [_paired(a, b, by_point[a], by_point[b], metric) for a, b in itertools.combinations(by_point, 2)]
    return pd.DataFrame(rows)


def _by_point(table: pd.DataFrame, keys: list[str], metric: str) -> dict[str, pd.DataFrame]:
    """Per point name: its ok runs indexed by seed."""
    if table.empty or "seed" not in table:
        return {}
    ok = table[table["status"] == "ok"] if "status" in table else table
    if ok.empty or metric not in ok:  # every run failed: nothing to compare
        return {}
    return {name: g.set_index("seed") for name, _, g in _groups(ok, keys)}


def _paired(a: str, b: str, runs_a: pd.DataFrame, runs_b: pd.DataFrame, metric: str) -> dict:
    """A - B on their common seeds: mean, standard error over seeds (std / sqrt(n)), seeds A won, the noise mark."""
    common = runs_a.index.intersection(runs_b.index)
    d = (runs_a[metric].loc[common] - runs_b[metric].loc[common]).astype(float)
    n = len(d)
    se = d.std(ddof=1) / np.sqrt(n) if n > 1 else np.nan
    mean = d.mean() if n else np.nan
    return {"A": a, "B": b, "seeds": n, f"mean {metric} A - B": mean, "standard error": se,
            "A beat B": f"{int((d > 0).sum())} of {n}",
            "beyond seed noise": bool(n > 1 and np.isfinite(se) and abs(mean) > NOISE_SE * se)}


def baseline_comparisons(table: pd.DataFrame, keys: list[str], out: Path | None = None) -> pd.DataFrame:
    """Every grid point paired with the baseline on the same seeds: the per-seed differences of
    ``paired_comparisons`` (mean, standard error over seeds, seeds won), then the standard error over seeds and days of the mean rank IC difference (each seed's
    daily difference series from the runs' ic.parquet under ``out``; significance.py) and the verdict."""
    by_point = _by_point(table, keys, "rank_ic")
    if BASELINE not in by_point:
        return pd.DataFrame()
    base = by_point.pop(BASELINE)
    rows = []
    for name, runs in by_point.items():
        row = _paired(name, BASELINE, runs, base, "rank_ic")
        common = runs.index.intersection(base.index)
        diffs = (runs["rank_ic"].loc[common] - base["rank_ic"].loc[common]).astype(float)
        ses = [difference_se(out, runs.at[s, "run_dir"], base.at[s, "run_dir"], _se(runs, s), _se(base, s))
               for s in common]
        se = combined_se(diffs, ses) if len(common) else np.nan
        mean = row["mean rank_ic A - B"]
        verdict = signal_verdict(mean, se)
        rows.append({"point": name, "seeds": row["seeds"], "mean rank_ic point - baseline": mean,
                     "SE (seeds)": row["standard error"], "SE (seeds and days)": se,
                     "beat the baseline": row["A beat B"], f"beyond {NOISE_SE:g} SE": verdict in ("positive", "negative"),
                     "against the baseline": {"positive": "better", "negative": "worse",
                                              NO_SIGNAL: "no clear difference"}.get(verdict, "")})
    return pd.DataFrame(rows)


def _se(runs: pd.DataFrame, seed) -> float:
    return float(runs.at[seed, "rank_ic_se"]) if "rank_ic_se" in runs else float("nan")


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


def _describe(baseline: dict | None) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in baseline.items()) if baseline else ""


def signal_lines(points: pd.DataFrame, keys: list[str]) -> list[str]:
    """Plain sentences: which points show no signal (their mean rank IC within 2 SE of zero)."""
    if points.empty or "signal" not in points:
        return []
    names = [BASELINE if points.get(BASELINE, pd.Series(False, index=points.index)).loc[i]
             else (", ".join(f"{k}={points.at[i, k]}" for k in keys) or "all") for i in points.index]
    none = [n for n, v in zip(names, points["signal"]) if v == NO_SIGNAL]
    unknown = [n for n, v in zip(names, points["signal"]) if v == ""]
    lines = []
    if none:
        lines.append(f"**No signal** (mean rank IC within {NOISE_SE:g} standard errors of zero): {len(none)} of "
                     f"{len(names)} points: {'; '.join(none)}.")
    else:
        lines.append(f"Every point's mean rank IC is more than {NOISE_SE:g} standard errors from zero.")
    if unknown:
        lines.append(f"No standard error for: {'; '.join(unknown)} (runs without rank_ic_se).")
    return lines


def write_summary(out: Path, table: pd.DataFrame, keys: list[str], baseline: dict | None = None) -> None:
    """summary.md and report.html in the sweep folder; with a baseline they lead with each point against it."""
    from ..util import atomic_write_bytes

    points = point_summary(table, keys)
    pairs = paired_comparisons(table, keys)
    against = baseline_comparisons(table, keys, out)
    failed = table[table["status"] == "failed"] if "status" in table else table.iloc[:0]
    text = (f"# Sweep: {len(table)} runs, {len(failed)} failed\n\n"
            + (f"**All {len(table)} runs failed.** The first error: {failed['error'].iloc[0]}\n\n"
               if len(table) and len(failed) == len(table) else ""))
    if baseline:
        text += (f"## Against the baseline ({_describe(baseline)})\n\n{BASELINE_NOTE}\n\n"
                 + markdown_table(against) + "\n")
    text += ("## Grid points over seeds (mean, std, worst seed)\n\n"
             + "".join(line + "\n\n" for line in signal_lines(points, keys)) + SIGNAL_NOTE + "\n\n"
             + markdown_table(points) +
             "\n## Paired comparisons of rank IC on the same seeds\n\n"
             f"A difference is marked beyond seed noise when |mean| > {NOISE_SE:g} standard errors.\n\n"
             + markdown_table(pairs))
    if len(failed):
        text += "\n## Failed runs\n\n" + markdown_table(failed[["run_dir", "error"]])
    atomic_write_bytes(out / "summary.md", text.encode())
    atomic_write_bytes(out / "report.html", sweep_html(table, keys, points, pairs, against, baseline).encode())


SIGNAL_NOTE = ("`rank_ic se` combines the spread over seeds with each run's own standard error of its mean daily "
               "rank IC: SE^2 = var(run means, ddof=1) / n + mean(run SE^2) (docs/metrics.md); `signal` is \"no "
               "signal\" when |mean| <= 2 SE.")
BASELINE_NOTE = ("Each grid point minus the baseline, seed by seed. `SE (seeds and days)` adds each seed's standard "
                 "error of its mean daily rank IC difference to the spread over seeds (docs/metrics.md); `better` or "
                 "`worse` when the mean difference is beyond 2 of them, else `no clear difference`.")


def _mean_std(frame: pd.DataFrame) -> pd.DataFrame:
    """The point summary's other metrics as one "mean ± std" cell each, so the table fits a page."""
    out = pd.DataFrame(index=frame.index)
    for m in SUMMARY_METRICS[1:]:
        if f"{m} mean" in frame:
            out[m] = [("" if not np.isfinite(a) else f"{a:.4f}" + ("" if not np.isfinite(b) else f" ± {b:.4f}"))
                      for a, b in zip(frame[f"{m} mean"].astype(float), frame[f"{m} std"].astype(float))]
    return out


def sweep_html(table: pd.DataFrame, keys: list[str], points: pd.DataFrame, pairs: pd.DataFrame,
               against: pd.DataFrame | None = None, baseline: dict | None = None) -> str:
    """One offline page: the baseline comparison (when there is one), the signal of each point, rank IC of every
    run by grid point, the other metrics, the paired comparisons and the runs. Tables wrap long cells so they fit
    the page, and scroll inside their card on a narrower screen."""
    from ..report.figure import Figure, box
    from ..report.html import base_layout, chart_div, esc, format_value, html_page, html_table, note

    def table_html(frame: pd.DataFrame) -> str:
        if frame.empty:
            return note("Nothing to show.")
        numeric = {i for i, c in enumerate(frame.columns) if pd.api.types.is_float_dtype(frame[c])}
        rows = [[format_value(v, "f4") if i in numeric else ("-" if v is None else esc(v)) for i, v in enumerate(r)]
                for r in frame.itertuples(index=False)]
        header = [str(c).replace("_", "_\u200b") for c in frame.columns]  # long names may break after a "_"
        return f'<div class="sa-fit">{html_table(header, rows, numeric=numeric)}</div>'

    sections = []
    if baseline:
        sections.append(("baseline", f"Against the baseline ({_describe(baseline)})",
                         f"<p>{esc(BASELINE_NOTE)}</p>" + table_html(against if against is not None
                                                                      else pd.DataFrame())))
    lead = [c for c in (BASELINE, *keys, "n_seeds", "rank_ic mean", "rank_ic se", "signal", "rank_ic std",
                        "rank_ic worst") if c in points]
    lines = "".join(f"<p>{esc(line.replace('**', ''))}</p>" for line in signal_lines(points, keys))
    sections.append(("signal", "Signal: mean rank IC against zero",
                     lines + f"<p>{esc(SIGNAL_NOTE)}</p>" + table_html(points[lead] if not points.empty else points)))
    ok = _points(table, keys) if not table.empty else table
    if not ok.empty and "rank_ic" in ok:
        fig = Figure()
        for name, g in ok.groupby("point", sort=False):
            fig.add_trace(box(y=g["rank_ic"], name=name, boxpoints="all", jitter=0.3, pointpos=0,
                                 text=[f"seed {s}" for s in g["seed"]], hovertemplate="%{text}: %{y:.4f}"))
        base_layout(fig, 420, "Rank IC of each run by grid point (one point per seed)", showlegend=False)
        sections.append(("rank-ic", "Rank IC by grid point", chart_div("sweep_rank_ic", fig)))
    others = (pd.concat([points[[c for c in (BASELINE, *keys, "n_seeds") if c in points]], _mean_std(points)],
                        axis=1) if not points.empty else points)
    sections.append(("points", "Grid points over seeds (mean ± std)", table_html(others)))
    sections.append(("pairs", "Paired comparisons (rank IC, same seeds)",
                     f"<p>Marked beyond seed noise when |mean difference| &gt; {NOISE_SE:g} standard errors.</p>"
                     + table_html(pairs)))
    runs = table[[c for c in ("run_dir", BASELINE, *keys, "seed", "status", "worker", "wall_seconds", "rank_ic",
                              "rank_ic_se", "ic", "sharpe", "error") if c in table]] if not table.empty else table
    sections.append(("runs", "Runs", table_html(runs)))
    n_failed = int((table["status"] == "failed").sum()) if "status" in table else 0
    header = (f"<h1>Sweep of {len(table)} runs, {n_failed} failed</h1>"
              f"<div class=\"sub\">grid: {esc(', '.join(keys) or 'none')}"
              + (f"; baseline: {esc(_describe(baseline))}" if baseline else "") + "</div>")
    return html_page("seqalpha sweep", header, sections)
