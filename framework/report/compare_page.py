"""The comparison page of `seqalpha compare A B --out page.html`: differing parameters, overlaid curves, metrics."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from plotly.colors import qualitative

from ..metrics import convention_of, fmt_of
from ..runs.compare import differing_params
from ..runs.reader import Run
from .figure import Figure, scatter
from .html import base_layout, chart_div, esc, format_value, html_page, html_table, note
from .sections import equity

PALETTE = qualitative.D3


def _comparison_charts(runs: Sequence[Run], names: Sequence[str]) -> tuple[str, str]:
    """Overlaid equity curves and cumulative IC curves, one colour per run."""
    fig_e, fig_i = Figure(), Figure()
    notes_e, notes_i = [], []
    for i, (run, name) in enumerate(zip(runs, names)):
        color = PALETTE[i % len(PALETTE)]
        rets = run.table("returns")
        if rets is not None and not rets.empty:
            rets = rets.sort_values("date").set_index("date")
            fig_e.add_trace(scatter(x=rets.index, y=equity(rets["strategy"]), name=name, legendgroup=name,
                                       line=dict(color=color, width=2)))
            fig_e.add_trace(scatter(x=rets.index, y=equity(rets["benchmark"]), name=f"{name} benchmark",
                                       legendgroup=name, visible="legendonly",
                                       line=dict(color=color, width=1, dash="dot")))
        else:
            notes_e.append(name)
        ic = run.table("ic")
        if ic is not None and not ic.empty:
            ic = ic.sort_values("date").set_index("date")
            fig_i.add_trace(scatter(x=ic.index, y=ic["ic"].fillna(0).cumsum(), name=f"{name} IC",
                                       legendgroup=name, line=dict(color=color, width=2)))
            fig_i.add_trace(scatter(x=ic.index, y=ic["rank_ic"].fillna(0).cumsum(), name=f"{name} rank IC",
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
                    *(format_value(v, fmt_of(m)) for v in row), esc(convention_of(m))] for m, row in table.iterrows()]
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
