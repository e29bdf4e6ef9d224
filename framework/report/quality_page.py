"""The offline HTML page of ``seqalpha data check --out DIR``: counts, every finding in a table, and a small price
chart (plain plotly.js JSON) of the asset's close around each of the first ``CHARTS`` findings."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.panel import Panel
from ..data.quality import PRICES, Finding, QualityReport
from .figure import Figure, scatter
from .html import (
    BENCHMARK_COLOR,
    LOSS_COLOR,
    STRATEGY_COLOR,
    base_layout,
    chart_div,
    esc,
    html_page,
    html_table,
    note,
)

#: Findings drawn (worst first); the rest are in the table and counted.
CHARTS = 200
#: Bars shown either side of a finding.
AROUND = 20


def finding_chart(panel: Panel, f: Finding, n: int) -> str:
    """The asset's close (and the flagged price field, when another) over ±AROUND bars, the flagged bar marked."""
    t, i = f._ti
    a, b = max(0, t - AROUND), min(len(panel.dates), t + AROUND + 1)
    dates = panel.dates[a:b]
    fig = Figure([scatter(x=dates, y=panel.close[a:b, i], mode="lines+markers", name="close",
                          line_color=STRATEGY_COLOR, marker_size=4)])
    name = f.field.split(",")[0]
    if name in PRICES and name != "close" and panel.has(name):
        fig.add_trace(scatter(x=dates, y=panel.field(name)[a:b, i], mode="lines", name=name,
                              line_color=BENCHMARK_COLOR, line_dash="dot"))
    y = panel.field(name)[t, i] if name in PRICES and panel.has(name) else panel.close[t, i]
    fig.add_trace(scatter(x=[panel.dates[t]], y=[float(y) if np.isfinite(y) else None], mode="markers",
                          name=f"flagged ({f.kind})", marker_color=LOSS_COLOR, marker_size=11,
                          marker_symbol="x"))
    base_layout(fig, 260, f"{f.level} {f.kind}: {f.asset} {f.date} {f.field}", showlegend=False)
    fig.update_layout(margin=dict(l=50, r=10, t=36, b=30))
    log = bool(np.nanmin(panel.close[a:b, i], initial=np.inf) > 0)  # a x100 tick reads on a log axis
    fig.update_yaxes(type="log" if log else "linear")
    return chart_div(f"finding-{n}", fig)


def quality_page(panel: Panel, report: QualityReport, uri: str, charts: int = CHARTS) -> str:
    """The whole page as HTML text."""
    counts = ", ".join(f"{n} {k}" for k, n in report.counts.items()) or "none"
    header = (f"<h1>Data check</h1><div class=\"sub\"><code>{esc(uri)}</code> · {len(panel.dates)} dates x "
              f"{len(panel.assets)} assets · {len(report.findings)} finding(s): {esc(counts)} · "
              f"{len(report.errors)} error(s) · prices adjusted: {esc(report.adjusted)} · scan digest "
              f"<code>{esc(report.digest[:12])}</code></div>")
    rows = [[esc(f.level), esc(f.kind), esc(f.asset), esc(f.date), esc(f.field), esc(f"{f.value:.6g}"),
             esc(", ".join(f"{k} {v:.6g}" if isinstance(v, float) else f"{k} {v}" for k, v in f.detail.items()))]
            for f in report.findings]
    table = (html_table(["level", "kind", "asset", "date", "field", "value", "neighbours / detail"], rows,
                        numeric={5}) if rows else note("The scan found no spike, split, stale run, impossible bar "
                                                       "or extreme factor value."))
    drawn = [finding_chart(panel, f, n) for n, f in enumerate(report.findings[:charts])]
    rest = len(report.findings) - len(drawn)
    body = (f'<div class="sa-grid">{"".join(drawn)}</div>' if drawn else note("Nothing to draw."))
    if rest > 0:
        body += note(f"... and {rest} more finding(s) not drawn (the first {charts}, worst first, are); the table "
                     "lists every one.")
    return html_page(f"data check {uri}", header, [("findings", "Findings", table), ("charts", "Charts", body)])


def write_quality_page(out: Path, panel: Panel, report: QualityReport, uri: str) -> Path:
    """Write ``out/data_check.html`` (and ``out/data_quality.json``); the page's path."""
    import json

    out.mkdir(parents=True, exist_ok=True)
    (out / "data_quality.json").write_text(json.dumps({"uri": uri, **report.as_json(None)}, default=str, indent=1))
    path = out / "data_check.html"
    path.write_text(quality_page(panel, report, uri), encoding="utf-8")
    return path
