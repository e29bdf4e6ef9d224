"""predict.html: one offline page with the decision (targets against current weights, the orders, what decided)."""

from __future__ import annotations

import numpy as np

from ..report.figure import Figure, bar
from ..report.html import base_layout, chart_div, esc, format_value, html_page, html_table, note


def predict_page(prediction) -> str:
    """The page of a Prediction: cards, a weights chart, the orders table, the targets table, the model."""
    rec, targets, orders = prediction.record, prediction.targets, prediction.orders
    model = rec["model"]
    cards = [("asof", rec["asof"]), ("model retrained", model["retrain_date"] + (" (refit)" if model["refit"] else "")),
             ("from the cache", f"{model['cache_hits']} of {model['fits']} fit(s)"),
             ("value", format_value(rec["holdings"]["value"], "int")), ("scored", rec["n_scored"]),
             ("targets", rec["n_targets"]), ("orders", rec["n_orders"])]
    header = (f"<h1>{esc(rec['strategy'])} · orders after {esc(rec['asof'])}</h1>"
              f"<div class=\"sub\">data {esc(rec['data'])} · holdings {esc(rec['holdings']['source'])} · "
              f"identity {esc(rec['identity'][:12])}</div>"
              + "<div class=\"cards\">" + "".join(f'<div class="card"><div class="k">{esc(k)}</div>'
                                                  f'<div class="v">{esc(v)}</div></div>' for k, v in cards) + "</div>")
    moved = targets[(targets["target_weight"].fillna(0) != 0) | (targets["current_weight"] != 0)]
    fig = Figure([bar(x=moved["asset"].tolist(), y=moved["current_weight"].tolist(), name="current weight"),
                  bar(x=moved["asset"].tolist(), y=moved["target_weight"].tolist(), name="target weight")])
    base_layout(fig, 360, "Target against current weights", barmode="group")
    order_rows = [[esc(r.asset), esc(r.side), format_value(r.shares, "int"), format_value(r.price, "f4"),
                   format_value(r.value, "int"), format_value(r.est_cost, "f2"), esc(r.note)]
                  for r in orders.itertuples()]
    order_table = html_table(["asset", "side", "shares", "price basis", "value", "est. cost", "note"], order_rows,
                             {2, 3, 4, 5}) if order_rows else note("no orders: the holdings already match the targets")
    top = targets[targets["score"].notna()].head(60)
    target_rows = [[esc(r.asset), format_value(r.score, "f4"), format_value(r.rank, "int"),
                    format_value(r.target_weight, "f4"), format_value(r.current_weight, "f4")]
                   for r in top.itertuples()]
    target_table = html_table(["asset", "score", "rank", "target weight", "current weight"], target_rows,
                              {1, 2, 3, 4})
    unscored = rec.get("unscored") or []
    model_rows = [[esc(k), esc(v)] for k, v in (
        ("how", model["how"]), ("training dates", " to ".join(model["train_dates"] or ["none"])),
        ("last sample date", model["last_sample_date"]), ("retrains fitted", ", ".join(model["retrains_fitted"])),
        ("cache keys", ", ".join(f"{s}: {(k or 'not cached')[:16]}" for s, k in model["keys"].items())),
        ("data digest", rec["data_digest"]), ("code", rec["code"]),
        ("unscored names", ", ".join(unscored) if unscored else "none"))]
    sections = [("orders", "Orders", order_table + note("price basis: the close on asof; orders fill at the next "
                                                        "bar's execution price, so value and cost are estimates")),
                ("weights", "Weights", chart_div("weights", fig)),
                ("targets", f"Targets (best {len(top)} of {int(np.sum(targets['score'].notna()))} scored)",
                 target_table),
                ("model", "What decided", html_table(["", ""], model_rows))]
    return html_page(f"{rec['strategy']} · predict {rec['asof']}", header, sections)
