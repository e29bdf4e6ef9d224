"""report.html of a search: optimisation history, parameter importances, each parameter against the objective,
and the trials table; one offline page (plotly.js inlined, framework/report/html.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..report.figure import Figure, bar, scatter
from ..report.html import (
    EXCESS_COLOR,
    RANK_COLOR,
    STRATEGY_COLOR,
    base_layout,
    chart_div,
    esc,
    format_value,
    html_page,
    html_table,
    note,
)


def importances(study: Any) -> dict[str, float]:
    """Each parameter's importance for the objective (optuna's PED-ANOVA, which needs no scikit-learn), over the
    completed trials; {} when there are too few to say."""
    from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 2:
        return {}
    try:
        return {k: float(v) for k, v in get_param_importances(study, evaluator=PedAnovaImportanceEvaluator()).items()}
    except (ValueError, RuntimeError, ZeroDivisionError):  # e.g. every value equal: nothing to attribute
        return {}


def history_chart(table: pd.DataFrame, metric: str, direction: str) -> str:
    """Each trial's mean objective by trial number, its seeds as small points, and the best so far."""
    ok = table[table["status"] == "ok"].sort_values("number")
    fig = Figure()
    seed_cols = [c for c in table.columns if c.startswith(f"{metric} seed=")]
    for col in seed_cols:
        fig.add_trace(scatter(x=ok["number"], y=ok[col], mode="markers", name="each seed",
                              marker_size=5, marker_color="#bbbbbb", showlegend=col == seed_cols[0],
                              legendgroup="seeds", hovertemplate=f"trial %{{x}}, {col}: %{{y:.4f}}"))
    mean = ok[f"{metric} mean"].astype(float)
    best = mean.cummin() if direction == "minimize" else mean.cummax()
    fig.add_trace(scatter(x=ok["number"], y=mean, mode="markers", name=f"{metric}, mean over seeds",
                          marker_size=9, marker_color=STRATEGY_COLOR, hovertemplate="trial %{x}: %{y:.4f}"))
    fig.add_trace(scatter(x=ok["number"], y=best, mode="lines", name="best so far", line_shape="hv",
                          line_color=EXCESS_COLOR))
    base_layout(fig, 380, f"Optimisation history: {metric} on the selection span")
    fig.update_xaxes(title_text="trial")
    fig.update_yaxes(title_text=metric)
    return chart_div("tune_history", fig)


def importance_chart(values: dict[str, float]) -> str:
    if not values:
        return note("Too few completed trials (or no spread in the objective) to attribute it to parameters.")
    names = sorted(values, key=values.get)
    fig = Figure(bar(x=[values[n] for n in names], y=names, orientation="h", marker_color=RANK_COLOR,
                     hovertemplate="%{y}: %{x:.3f}"))
    base_layout(fig, 120 + 40 * len(names), "Parameter importances (PED-ANOVA: share of the objective's spread "
                                            "among the best trials)")
    fig.update_xaxes(title_text="importance", rangemode="tozero")
    return chart_div("tune_importance", fig)


def slice_charts(table: pd.DataFrame, keys: list[str], metric: str) -> str:
    """One chart per parameter: its value in each trial against the trial's mean objective."""
    ok = table[table["status"] == "ok"]
    divs = []
    for key in keys:
        values = ok[key]
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        fig = Figure(scatter(x=values if numeric else values.astype(str), y=ok[f"{metric} mean"], mode="markers",
                             marker_size=8, marker_color=ok["number"], marker_colorscale=[[0, "#9ecae1"], [1, "#08306b"]],
                             marker_showscale=False, text=[f"trial {n}" for n in ok["number"]],
                             hovertemplate="%{text}: " + key + "=%{x}, " + metric + " %{y:.4f}"))
        base_layout(fig, 320, f"{key} against {metric} (darker: later trial)")
        fig.update_xaxes(title_text=key)
        divs.append(chart_div(f"tune_slice_{key}", fig))
    return f'<div class="sa-grid">{"".join(divs)}</div>'


def trials_html(table: pd.DataFrame) -> str:
    if table.empty:
        return note("No trial finished.")
    numeric = {i for i, c in enumerate(table.columns) if pd.api.types.is_float_dtype(table[c])}
    rows = [[format_value(v, "f4") if i in numeric else ("-" if v is None or (isinstance(v, float) and np.isnan(v))
                                                         else esc(v)) for i, v in enumerate(r)]
            for r in table.itertuples(index=False)]
    return html_table(list(map(str, table.columns)), rows, numeric=numeric)


def tune_html(title: str, subtitle: str, table: pd.DataFrame, keys: list[str], metric: str, direction: str,
              importance: dict[str, float], best_line: str) -> str:
    """The whole page."""
    sections = []
    if (table["status"] == "ok").any() if len(table) else False:
        sections.append(("history", "Optimisation history", history_chart(table, metric, direction)))
        sections.append(("importance", "Parameter importances", importance_chart(importance)))
        sections.append(("slices", "Each parameter against the objective", slice_charts(table, keys, metric)))
    else:
        sections.append(("history", "Optimisation history", note("No trial finished.")))
    shown = table.drop(columns=["run_dir"], errors="ignore")
    sections.append(("trials", "Trials", trials_html(shown)))
    header = f"<h1>{esc(title)}</h1><div class=\"sub\">{esc(subtitle)}</div><p>{esc(best_line)}</p>"
    return html_page(title, header, sections)
