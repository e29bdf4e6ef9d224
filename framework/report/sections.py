"""The report's sections, each built only from a run directory's files (the contract, runs/schema.py).

A report can be rebuilt at any time without the model, the data or the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd
from plotly.colors import sample_colorscale

from ..canonical import dumps
from ..metrics import BY_NAME, CATALOGUE, HEADLINE, convention_of, fmt_of
from ..runs.reader import Run
from .figure import Figure, bar, histogram, make_subplots, scatter
from .html import (
    BENCHMARK_COLOR,
    EXCESS_COLOR,
    LOSS_COLOR,
    RANK_COLOR,
    STRATEGY_COLOR,
    base_layout,
    chart_div,
    esc,
    format_value,
    html_table,
    note,
)

ROLLING_IC = 20
N_QUANTILES = 5


# ---------------------------------------------------------------- computations


def equity(returns: pd.Series) -> pd.Series:
    """Compounded equity from daily simple returns, starting from 1."""
    return (1.0 + returns.fillna(0.0)).cumprod()


def drawdown(returns: pd.Series) -> pd.Series:
    """Drawdown of the compounded equity curve: equity / running peak - 1 (<= 0)."""
    curve = equity(returns)
    return curve / np.maximum(curve.cummax(), 1.0) - 1.0


def quantile_labels(scores: pd.DataFrame, n: int = N_QUANTILES) -> pd.DataFrame:
    """Mean label per score quantile per date (columns 1..n, n = highest scores); dates with < n valid rows drop."""
    frame = scores.dropna(subset=["score", "label"])
    count = frame.groupby("date")["score"].transform("count")
    frame = frame[count >= n]
    if frame.empty:
        return pd.DataFrame(columns=range(1, n + 1), dtype=float)
    rank = frame.groupby("date")["score"].rank(method="first")
    bucket = ((rank - 1) * n // count[frame.index]).astype(int) + 1
    table = frame.assign(q=bucket).pivot_table(index="date", columns="q", values="label", aggfunc="mean")
    return table.reindex(columns=range(1, n + 1))


def rolling_mean(series: pd.Series, window: int = ROLLING_IC) -> pd.Series:
    """Trailing mean over `window` observations (needs a quarter of them)."""
    return series.rolling(window, min_periods=max(2, window // 4)).mean()


# ---------------------------------------------------------------- sections


def section_overview(run: Run) -> str:
    """Headline metric cards, the run's identity and every strategy parameter."""
    cards = "".join(
        f'<div class="card"><div class="k">{esc(k)}</div>'
        f'<div class="v">{format_value(run.metrics.get(k), fmt_of(k))}</div></div>'
        for k in HEADLINE if k in run.metrics
    )
    cfg = run.config
    ident = [["strategy", esc(cfg.get("strategy", "?"))], ["strategy file", esc(cfg.get("strategy_file", "-"))],
             ["data", esc(cfg.get("data", "-"))], ["test span", esc(" to ".join(map(str, cfg.get("span") or [])))],
             ["seed", esc(cfg.get("seed", "-"))], ["created", esc(cfg.get("created", "-"))],
             ["run directory", esc(run.path)]]
    features = cfg.get("features") or {}
    names = features.get("names") or []
    if names:  # the model's inputs; the market context's apart (docs/factors.md)
        from ..features.context import context_names

        try:
            n_context = len(context_names(features.get("market_context")))
        except ValueError:  # a config.json written by another release
            n_context = 0
        shown, context = names[:len(names) - n_context], names[len(names) - n_context:]
        ident.append(["features", esc(f"{len(shown)}: {', '.join(shown[:12])}{', ...' if len(shown) > 12 else ''}")])
        if context:
            ident.append(["market context", esc(", ".join(context))])
    params = cfg.get("params") or {}
    prow = [[esc(k), f"<code>{esc(v if isinstance(v, str) else dumps(v, indent=1))}</code>"]
            for k, v in params.items()]
    body = f'<div class="cards">{cards}</div>' if cards else note("No metrics.json in this run.")
    body += '<div class="params">' + html_table(["run", ""], ident)
    body += html_table(["parameter", "value"], prow) if prow else note("No parameters in config.json.")
    return body + "</div>"


def _by_date(run: Run, name: str) -> pd.DataFrame | None:
    """The run's table indexed by date in order, or None when the file is missing or empty."""
    table = run.table(name)
    return None if table is None or table.empty else table.sort_values("date").set_index("date")


def section_performance(run: Run) -> str:
    """Equity vs benchmark, the excess (relative) curve and the drawdowns."""
    if (rets := _by_date(run, "returns")) is None:
        return note("No returns.parquet in this run: performance charts omitted.")
    strat, bench = equity(rets["strategy"]), equity(rets["benchmark"])
    fig = Figure([
        scatter(x=strat.index, y=strat, name="strategy", line=dict(color=STRATEGY_COLOR, width=2)),
        scatter(x=bench.index, y=bench, name="benchmark", line=dict(color=BENCHMARK_COLOR, width=1.5)),
    ])
    base_layout(fig, 380, "Equity (compounded daily returns, start = 1)", hovermode="x unified")
    rel = strat / bench - 1.0
    fig_x = Figure(scatter(x=rel.index, y=rel, name="excess", fill="tozeroy",
                                 line=dict(color=EXCESS_COLOR, width=1.5)))
    base_layout(fig_x, 300, "Excess: strategy / benchmark equity - 1", hovermode="x unified")
    fig_x.update_yaxes(tickformat=".1%")
    fig_d = Figure([
        scatter(x=rets.index, y=drawdown(rets["strategy"]), name="strategy", fill="tozeroy",
                   line=dict(color=LOSS_COLOR, width=1.2)),
        scatter(x=rets.index, y=drawdown(rets["benchmark"]), name="benchmark",
                   line=dict(color=BENCHMARK_COLOR, width=1, dash="dot")),
    ])
    base_layout(fig_d, 300, "Drawdown of compounded equity", hovermode="x unified")
    fig_d.update_yaxes(tickformat=".0%")
    return chart_div("equity", fig) + '<div class="sa-grid">' + chart_div("excess", fig_x) \
        + chart_div("drawdown", fig_d) + "</div>" + concentration_table(rets, run.metrics.get("periods_per_year"))


def concentration_table(rets, ppy) -> str:
    """The concentration check (metrics/concentration.py): each result's annual return with and without its 5
    largest single-bar returns, and those bars; a warning line when the run warned."""
    from ..metrics.concentration import BARS, OUTSIZED, check_concentration

    if not ppy or rets.empty:
        return ""
    found = check_concentration(rets, int(ppy))
    rows = [[esc(name), format_value(c["annual_return"], "pct"), format_value(c["without"], "pct"),
             "yes" if c["flips_or_halves"] else "no", "yes" if c["outsized"] else "no",
             esc(", ".join(f"{b['date']} {b['return']:+.2%} ({b['robust_sds']:.0f} SD)" for b in c["bars"]))]
            for name, c in found.items()]
    warned = [name for name, c in found.items() if c["concentrated"]]
    head = (f'<p class="sa-error">Concentrated: the {esc(" and the ".join(warned))} annual return rests on a few '
            "outsized bars (the run warned): check them for bad ticks (<code>seqalpha data check</code>).</p>"
            if warned else "")
    return (f"<h3>Concentration: without the {BARS} largest single-bar returns</h3>" + head
            + html_table(["series", "annual return", f"without its {BARS} largest bars", "flips or halves",
                          f"a bar > {OUTSIZED:g} robust SDs", "the bars (date, return, robust SDs)"], rows,
                         numeric={1, 2})
            + note("The largest in the result's direction (gains of a positive result, losses of a negative one), "
                   "booked as 0. The run warns when that flips or halves the annual return and one of the bars is "
                   "outsized."))


def section_ic(run: Run) -> str:
    """IC and rank IC by date with a rolling mean, and their distribution."""
    if (ic := _by_date(run, "ic")) is None:
        return note("No ic.parquet in this run: IC charts omitted.")
    fig = Figure([
        bar(x=ic.index, y=ic["ic"], name="IC", marker_color=STRATEGY_COLOR, opacity=0.45),
        scatter(x=ic.index, y=ic["rank_ic"], name="rank IC", mode="markers",
                   marker=dict(color=RANK_COLOR, size=3), opacity=0.6),
        scatter(x=ic.index, y=rolling_mean(ic["ic"]), name=f"IC, {ROLLING_IC}-date mean",
                   line=dict(color=STRATEGY_COLOR, width=2.2)),
        scatter(x=ic.index, y=rolling_mean(ic["rank_ic"]), name=f"rank IC, {ROLLING_IC}-date mean",
                   line=dict(color=RANK_COLOR, width=2.2)),
    ])
    base_layout(fig, 360, "IC and rank IC by date", hovermode="x unified", bargap=0)
    fig_h = Figure([
        histogram(x=ic["ic"], name="IC", marker_color=STRATEGY_COLOR, opacity=0.55, nbinsx=40),
        histogram(x=ic["rank_ic"], name="rank IC", marker_color=RANK_COLOR, opacity=0.55, nbinsx=40),
    ])
    base_layout(fig_h, 320, f"Distribution (mean IC {ic['ic'].mean():.4f}, rank IC {ic['rank_ic'].mean():.4f})",
                barmode="overlay")
    for value, color in ((ic["ic"].mean(), STRATEGY_COLOR), (ic["rank_ic"].mean(), RANK_COLOR)):
        if np.isfinite(value):
            fig_h.add_vline(x=value, line=dict(color=color, dash="dash", width=1.5))
    fig_c = Figure([
        scatter(x=ic.index, y=ic["ic"].fillna(0).cumsum(), name="IC", line=dict(color=STRATEGY_COLOR, width=2)),
        scatter(x=ic.index, y=ic["rank_ic"].fillna(0).cumsum(), name="rank IC",
                   line=dict(color=RANK_COLOR, width=2)),
    ])
    base_layout(fig_c, 320, "Cumulative IC (sum over dates)", hovermode="x unified")
    return chart_div("ic", fig) + '<div class="sa-grid">' + chart_div("ic_hist", fig_h) \
        + chart_div("ic_cumulative", fig_c) + "</div>" + blend_members_table(run.metrics or {})


def blend_members_table(metrics: dict) -> str:
    """A blend's members with their weights and their own IC and rank IC (metrics.json); '' for other models."""
    names = metrics.get("blend_members")
    if not names:
        return ""
    rows = [[esc(name), format_value(w, "f2"), format_value(ic, "f4"), format_value(ric, "f4")]
            for name, w, ic, ric in zip(names, metrics.get("blend_weights", []), metrics.get("ic_per_member", []),
                                        metrics.get("rank_ic_per_member", []))]
    return "<h3>Blend members (each member's own scores)</h3>" + html_table(
        ["member", "weight", "IC", "rank IC"], rows, numeric={1, 2, 3})


def section_quantiles(run: Run) -> str:
    """Alphalens view: mean forward excess return per score quintile, and the top-minus-bottom spread."""
    scores = run.table("scores")
    if scores is None or scores.empty:
        return note("No scores.parquet in this run: quantile charts omitted.")
    table = quantile_labels(scores)
    if table.empty:
        return note(f"Too few scored assets with known labels for {N_QUANTILES} quantiles.")
    means = table.mean()
    colors = sample_colorscale("RdYlGn", [i / (N_QUANTILES - 1) for i in range(N_QUANTILES)])
    fig = Figure(bar(x=[f"Q{q}" for q in means.index], y=means.values, marker_color=colors,
                           text=[f"{v:.3%}" for v in means.values], textposition="outside"))
    base_layout(fig, 340, f"Mean label by score quintile (Q{N_QUANTILES} = top scores)", showlegend=False)
    fig.update_yaxes(tickformat=".2%")
    spread = (table[N_QUANTILES] - table[1]).dropna()
    fig_s = Figure([
        bar(x=spread.index, y=spread, name="top - bottom", marker_color=EXCESS_COLOR, opacity=0.45),
        scatter(x=spread.index, y=rolling_mean(spread), name=f"{ROLLING_IC}-date mean",
                   line=dict(color=EXCESS_COLOR, width=2.2)),
    ])
    base_layout(fig_s, 340, f"Top minus bottom quintile (mean {spread.mean():.3%})",
                hovermode="x unified", bargap=0)
    fig_s.update_yaxes(tickformat=".1%")
    return '<div class="sa-grid">' + chart_div("quantile_returns", fig) + chart_div("quantile_spread", fig_s) \
        + "</div>"


def section_trading(run: Run) -> str:
    """Turnover per rebalance and the number of holdings."""
    reb = run.table("rebalances")
    if reb is None or reb.empty:
        return note("No rebalances.parquet in this run: turnover and holdings omitted.")
    reb = reb.sort_values("date")
    fig = Figure(bar(x=reb["date"], y=reb["turnover"], name="turnover", marker_color=STRATEGY_COLOR))
    base_layout(fig, 300, f"Turnover per rebalance (mean {reb['turnover'].mean():.1%})", showlegend=False)
    fig.update_yaxes(tickformat=".0%")
    fig_h = Figure(scatter(x=reb["date"], y=reb["n_holdings"], mode="lines+markers", line_shape="hv",
                                 marker=dict(size=4), line=dict(color=BENCHMARK_COLOR)))
    base_layout(fig_h, 300, "Holdings after each rebalance", showlegend=False)
    fig_h.update_yaxes(rangemode="tozero", tickformat="d")
    return '<div class="sa-grid">' + chart_div("turnover", fig) + chart_div("holdings", fig_h) + "</div>"


def _retrain_colors(dates: Iterable[pd.Timestamp]) -> dict[pd.Timestamp, str]:
    """One Viridis colour per retrain date, dark (early) to light (late), so colour reads as time."""
    dates = sorted(set(dates))
    if len(dates) == 1:
        return {dates[0]: sample_colorscale("Viridis", [0.0])[0]}
    return dict(zip(dates, sample_colorscale("Viridis", [i / (len(dates) - 1) * 0.9 for i in range(len(dates))])))


def _with_seed(train: pd.DataFrame) -> pd.DataFrame:
    """training rows with a `seed` (0 when absent), epochs counted from 1 and a boolean `chosen` (the epoch whose
    weights were kept; the best-valid-loss epoch of each seed when the column is absent)."""
    train = train if "seed" in train.columns else train.assign(seed=0)
    train = _epochs_from_one(train)
    if "chosen" in train.columns:
        return train.assign(chosen=train["chosen"].fillna(False).astype(bool))
    best = train.groupby(["retrain_date", "seed"])["valid_loss"].transform("min")
    return train.assign(chosen=train["valid_loss"].eq(best))


def _epochs_from_one(train: pd.DataFrame) -> pd.DataFrame:
    """Epochs counted from 1, as training.parquet writes them: a (retrain, seed) counted from 0 (a run written
    before the convention, or a model of its own that counts so) is shifted by one."""
    if train.empty:
        return train
    first = train.groupby(["retrain_date", "seed"])["epoch"].transform("min")
    return train.assign(epoch=train["epoch"] + (first == 0).astype(train["epoch"].dtype))


def training_summary(train: pd.DataFrame) -> pd.DataFrame:
    """Per retrain: seeds tried, epochs run, the kept epoch(s), their valid loss and the mean clip rate."""
    rows = []
    for date, grp in _with_seed(train).groupby("retrain_date"):
        kept = grp[grp["chosen"]]
        rows.append({
            "retrain_date": date.date(),
            "seeds": grp["seed"].nunique(),
            "epochs run": int(grp.groupby("seed")["epoch"].count().max()),
            "kept epoch": ", ".join(str(int(e)) for e in sorted(kept["epoch"].unique())) or "-",
            "kept valid loss": kept["valid_loss"].mean() if len(kept) else np.nan,
            "final train loss": grp.sort_values("epoch").groupby("seed")["train_loss"].last().mean(),
            "mean clip rate": grp["clip_rate"].mean() if "clip_rate" in grp else np.nan,
        })
    return pd.DataFrame(rows)


def _loss_figure(train: pd.DataFrame, colors: dict[pd.Timestamp, str]) -> Figure:
    """Train and valid loss by epoch, one line per (retrain, seed), a marker on the kept epoch."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("train loss", "valid loss"), horizontal_spacing=0.07)
    shown: set[pd.Timestamp] = set()
    for (date, seed), grp in train.groupby(["retrain_date", "seed"]):
        grp, label = grp.sort_values("epoch"), str(date.date())
        kept = grp[grp["chosen"]]
        for col, loss in ((1, "train_loss"), (2, "valid_loss")):
            style = dict(legendgroup=label, line=dict(color=colors[date], width=1.6),
                         hovertemplate=f"retrain {label} seed {seed}<br>epoch %{{x}}: %{{y:.5g}}<extra></extra>")
            fig.add_trace(scatter(x=grp["epoch"], y=grp[loss], mode="lines", name=label,
                                     showlegend=date not in shown, **style), row=1, col=col)
            shown.add(date)
            if len(kept):
                fig.add_trace(scatter(x=kept["epoch"], y=kept[loss], mode="markers", name=f"{label} kept",
                                         showlegend=False, marker=dict(color=colors[date], size=8, symbol="star"),
                                         **{k: v for k, v in style.items() if k != "line"}), row=1, col=col)
    base_layout(fig, 360, "Training curves per retrain, every seed (star: the epoch whose weights were kept)")
    fig.update_layout(legend=dict(orientation="v", y=1.0, yanchor="top", x=1.01, xanchor="left",
                                  title=dict(text="retrain")), margin=dict(r=110))
    fig.update_xaxes(title_text="epoch", **_epoch_ticks(train))
    return fig


def _epoch_ticks(train: pd.DataFrame) -> dict[str, Any]:
    """Whole-number epoch ticks when there are few epochs (plotly would otherwise show 0.5, 1.5)."""
    return dict(tick0=1, dtick=1) if train["epoch"].max() - train["epoch"].min() <= 15 else {}


def section_training(run: Run) -> str:
    """Per-retrain train/valid loss curves and gradient clip rates, with a summary table (one per blend member)."""
    train = run.table("training")
    if train is None or train.empty:
        return note("No training curves in this run (no training.parquet, or a model without epochs).")
    if "member" in train.columns and train["member"].notna().any():  # a blend: each member's curves apart
        return "".join(f"<h3>Blend member {esc(name)}</h3>" + _training_body(grp.drop(columns="member"),
                                                                           f"_{k}")
                       for k, (name, grp) in enumerate(train.groupby("member", sort=False)))
    return _training_body(train)


def _training_body(train: pd.DataFrame, suffix: str = "") -> str:
    train = _with_seed(train)
    colors = _retrain_colors(train["retrain_date"])
    body = chart_div(f"training_loss{suffix}", _loss_figure(train, colors))
    if "clip_rate" in train.columns:
        body += chart_div(f"clip_rate{suffix}", _clip_rate_figure(train, colors))
    else:
        body += note("training.parquet has no clip_rate column: clip rates omitted.")
    summary = training_summary(train)
    rows = [[esc(r["retrain_date"]), esc(r["seeds"]), esc(r["epochs run"]), esc(r["kept epoch"]),
             format_value(r["kept valid loss"]), format_value(r["final train loss"]),
             format_value(r["mean clip rate"], "pct")] for r in summary.to_dict("records")]
    return body + html_table(list(summary.columns), rows, numeric={1, 2, 3, 4, 5, 6})


def _clip_rate_figure(train: pd.DataFrame, colors: dict[pd.Timestamp, str]) -> Figure:
    """Share of optimiser steps whose gradient was clipped: by epoch per retrain (mean over seeds), and per retrain."""
    fig = make_subplots(rows=1, cols=2, column_widths=[0.6, 0.4], horizontal_spacing=0.08,
                        subplot_titles=("by epoch (mean over seeds)", "mean over epochs and seeds, by retrain"))
    by_epoch = train.groupby(["retrain_date", "epoch"], as_index=False)["clip_rate"].mean()
    for date, grp in by_epoch.groupby("retrain_date"):
        fig.add_trace(scatter(x=grp["epoch"], y=grp["clip_rate"], mode="lines+markers", name=str(date.date()),
                                 marker=dict(size=4), line=dict(color=colors[date], width=1.5), showlegend=False),
                      row=1, col=1)
    mean = train.groupby("retrain_date")["clip_rate"].mean()
    fig.add_trace(bar(x=[str(d.date()) for d in mean.index], y=mean.values, showlegend=False,
                         marker_color=[colors[d] for d in mean.index]), row=1, col=2)
    fig.update_xaxes(type="category", row=1, col=2)
    never = " (no step was clipped)" if not (train["clip_rate"] > 0).any() else ""
    base_layout(fig, 320, "Gradient clipping rate: share of steps clipped by norm" + never)
    fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    fig.update_xaxes(title_text="epoch", row=1, col=1, **_epoch_ticks(train))
    return fig


def section_gradient_flow(run: Run) -> str:
    """Gradient norm reaching each step of the input window (lag 0 = last step): does the model use the past?"""
    grad = run.table("gradient_flow")
    if grad is None or grad.empty:
        return note("No gradient_flow.parquet in this run: gradient-flow curve omitted.")
    grad = grad.assign(model=grad["model"].astype(str)) if "model" in grad.columns else grad.assign(model="")
    grad = grad.groupby(["model", "retrain_date", "lag"], as_index=False)["grad_norm"].mean()
    colors = _retrain_colors(grad["retrain_date"])
    models = list(grad["model"].unique())
    dashes = dict(zip(models, ["solid", "dash", "dot", "dashdot", "longdash"] * 4))
    fig = Figure()
    for (model, date), grp in grad.groupby(["model", "retrain_date"]):
        label = f"{model} {date.date()}".strip()
        fig.add_trace(scatter(x=grp["lag"], y=grp["grad_norm"], mode="lines", name=label,
                                 line=dict(color=colors[date], width=1.2, dash=dashes[model]), opacity=0.6))
    for model in models:
        mean = grad[grad["model"] == model].groupby("lag")["grad_norm"].mean()
        fig.add_trace(scatter(x=mean.index, y=mean.values, mode="lines", name=f"mean {model}".strip(),
                                 line=dict(color="#000", width=3, dash=dashes[model])))
    log = bool((grad["grad_norm"] > 0).all())
    base_layout(fig, 380, "Gradient flow through time: |d loss / d input| by lag" + (" (log scale)" if log else ""))
    fig.update_layout(legend=dict(orientation="v", y=1.0, yanchor="top", x=1.01, xanchor="left"), margin=dict(r=140))
    fig.update_xaxes(title_text="lag (steps before the end of the window; 0 = last step)", autorange="reversed")
    fig.update_yaxes(type="log" if log else "linear", title_text="grad norm")
    return chart_div("gradient_flow", fig)


def section_metrics(run: Run) -> str:
    """Every metric with its value and the convention that produced it, in the catalogue's order."""
    if not run.metrics:
        return note("No metrics.json in this run.")
    names = [m.name for m in CATALOGUE if m.name in run.metrics and m.name != "seconds"]
    names += [m for m in run.metrics if m not in BY_NAME]
    rows = [[f"<code>{esc(name)}</code>", format_value(run.metrics[name], fmt_of(name)), esc(convention_of(name))]
            for name in names]
    rows += [[f"<code>seconds.{esc(phase)}</code>", format_value(secs, "f2"), esc(convention_of(f"seconds.{phase}"))]
             for phase, secs in (run.metrics.get("seconds") or {}).items()]
    return html_table(["metric", "value", "convention"], rows, numeric={1})


#: Findings listed in the report's data-quality table; data_quality.json holds every one.
QUALITY_ROWS = 100


def section_data_quality(run: Run) -> str:
    """The data-quality scan's findings (data_quality.json): counts, the policy, then a table of the worst."""
    from ..runs.reader import read_json

    dq = read_json(run.path / "data_quality.json")
    if not dq:
        return note("No data_quality.json in this run (written by runs since the data-quality scan).")
    findings = dq.get("findings") or []
    counts = ", ".join(f"{n} {k}" for k, n in (dq.get("counts") or {}).items()) or "none"
    head = (f"<p>data_policy <code>{esc(dq.get('policy'))}</code> · {len(findings)} finding(s): {esc(counts)} · "
            f"{esc(dq.get('errors', 0))} error(s) · prices adjusted: {esc(dq.get('adjusted'))} · scan digest "
            f"<code>{esc(str(dq.get('digest', ''))[:12])}</code></p>")
    if not findings:
        return head + note("The scan found no spike, split, stale run, impossible bar or extreme factor value.")
    rows = [[esc(f.get("level")), esc(f.get("kind")), esc(f.get("asset")), esc(f.get("date")), esc(f.get("field")),
             format_value(f.get("value"), "g"),
             esc(", ".join(f"{k} {v:.6g}" if isinstance(v, float) else f"{k} {v}"
                           for k, v in (f.get("detail") or {}).items())),
             format_value(f.get("score"), "f2")] for f in findings[:QUALITY_ROWS]]
    rest = len(findings) - QUALITY_ROWS
    more = note(f"... and {rest} more finding(s) in data_quality.json.") if rest > 0 else ""
    why = note("Decided on the whole file, as a vendor's correction would be (a spike is recognised by the next "
               "bar's price): data_policy='mask' is a data-cleaning step, not a point-in-time signal.")
    return head + html_table(["level", "kind", "asset", "date", "field", "value", "neighbours / detail", "severity"],
                             rows, numeric={5, 7}) + more + why


SECTIONS: list[tuple[str, str, Callable[[Run], str]]] = [
    ("overview", "Run", section_overview),
    ("performance", "Performance", section_performance),
    ("ic", "Information coefficient", section_ic),
    ("quantiles", "Returns by score quintile", section_quantiles),
    ("trading", "Trading", section_trading),
    ("training", "Training", section_training),
    ("gradient-flow", "Gradient flow", section_gradient_flow),
    ("data-quality", "Data quality", section_data_quality),
    ("metrics", "Metrics and conventions", section_metrics),
]
