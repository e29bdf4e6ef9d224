"""HTML pieces of the report and the comparison page: one stylesheet, escaping, tables, charts, the page shell."""

from __future__ import annotations

import html
from typing import Any

import numpy as np
from plotly.offline import get_plotlyjs

from .figure import Figure

STRATEGY_COLOR = "#1f77b4"
BENCHMARK_COLOR = "#7f7f7f"
EXCESS_COLOR = "#2ca02c"
RANK_COLOR = "#ff7f0e"
LOSS_COLOR = "#d62728"

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;margin:0;background:#f6f7f9}
main{max-width:1240px;margin:0 auto;padding:12px 24px 48px}
header{background:#fff;border-bottom:1px solid #ddd;padding:14px 24px}
header h1{font-size:20px;margin:0 0 4px}
header .sub{color:#555}
nav{position:sticky;top:0;z-index:10;background:#fff;border-bottom:1px solid #ddd;padding:6px 24px;font-size:13px}
nav a{margin-right:14px;color:#1f5fa8;text-decoration:none}
section{background:#fff;border:1px solid #e1e3e6;border-radius:6px;margin:16px 0;padding:10px 16px 14px}
section h2{font-size:16px;margin:4px 0 8px}
.sa-grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(460px,1fr));gap:8px 16px}
.sa-chart{min-width:0}
.sa-note{color:#777;font-style:italic;margin:4px 0}
.sa-error{color:#b00020;margin:4px 0}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}
.card{background:#fff;border:1px solid #e1e3e6;border-radius:6px;padding:8px 14px;min-width:120px}
.card .k{color:#666;font-size:12px}.card .v{font-size:20px;font-weight:600}
table{border-collapse:collapse;font-size:13px;width:100%}
th,td{border-bottom:1px solid #eee;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#fafafa;font-weight:600}
th.num{text-align:right;overflow-wrap:anywhere;min-width:6em}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.sa-table{overflow-x:auto;max-width:100%}
.sa-fit td:not(.num){overflow-wrap:anywhere}.sa-fit th.num{min-width:4.5em}
td code{white-space:pre-wrap;font-size:12px}
.params{columns:2 420px}
.params table{break-inside:avoid}
"""


def esc(value: Any) -> str:
    """HTML-escaped text of a value."""
    return html.escape(str(value), quote=True)


def note(text: str) -> str:
    """A short italic note, used where a section has nothing to show."""
    return f'<p class="sa-note">{esc(text)}</p>'


def base_layout(fig: Figure, height: int, title: str, **kwargs: Any) -> Figure:
    """The layout every chart shares: compact margins, legend on top, and the white template (added when the chart
    is written, ``chart_div``: setting a template through plotly's figure API validates and copies all of it, about
    0.1 s a chart)."""
    fig.update_layout(
        height=height,
        title=dict(text=title, x=0.01, xanchor="left", y=0.985, yanchor="top", yref="container", font=dict(size=14)),
        margin=dict(l=60, r=20, t=64, b=40),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="left", x=0.0),
        **kwargs,
    )
    return fig


_TEMPLATE: dict | None = None


def _white_template() -> dict:
    """plotly's "plotly_white" template as plain JSON (read once per process)."""
    global _TEMPLATE
    if _TEMPLATE is None:
        import plotly.io as pio

        _TEMPLATE = pio.templates["plotly_white"].to_plotly_json()
    return _TEMPLATE


def chart_div(name: str, fig: Figure) -> str:
    """A plotly figure as a div of class sa-chart named `name`, on the white template; plotly.js must be on the
    page once."""
    import plotly.io as pio

    height = fig.height or 360
    spec = {"data": fig.data, "layout": {**fig.layout, "template": _white_template()}}
    body = pio.to_html(
        spec, full_html=False, include_plotlyjs=False, div_id=f"sa-{name}", default_height=f"{height}px",
        config={"responsive": True, "displaylogo": False}, validate=False,
    )
    return f'<div class="sa-chart" data-name="{esc(name)}">{body}</div>'


def format_value(value: Any, fmt: str = "g") -> str:
    """A metric value for display: pct, f2, f4, int or general."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    if not isinstance(value, int | float | np.number):
        return esc(value)
    value = float(value)
    if fmt == "pct":
        return f"{value:.2%}"
    if fmt == "int":
        return f"{value:,.0f}"
    if fmt in ("f2", "f4"):
        return f"{value:.{fmt[1]}f}"
    return f"{value:.4g}"


def html_table(header: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    """A table from pre-escaped cells; the columns in ``numeric`` are right-aligned, header included, and the
    table scrolls inside its card when it is wider than the page."""
    head = "".join(f'<th class="num">{esc(h)}</th>' if i in numeric else f"<th>{esc(h)}</th>"
                   for i, h in enumerate(header))
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>"
                         for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f'<div class="sa-table"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def html_page(title: str, header: str, sections: list[tuple[str, str, str]]) -> str:
    """A whole page: inline plotly.js (once), a header, a nav bar and (id, title, body) sections."""
    nav = "".join(f'<a href="#{esc(sid)}">{esc(stitle)}</a>' for sid, stitle, _ in sections)
    parts = "".join(f'<section id="{esc(sid)}"><h2>{esc(stitle)}</h2>{body}</section>'
                    for sid, stitle, body in sections)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{esc(title)}</title><style>{CSS}</style>"
        f"<script type=\"text/javascript\">{get_plotlyjs()}</script></head>\n<body>"
        f"<header>{header}</header><nav>{nav}</nav><main>{parts}</main></body></html>\n"
    )
