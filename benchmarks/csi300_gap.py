"""Where does seqalpha's LightGBM excess return part from Qlib's on the same data? Bar by bar.

    python benchmarks/csi300_gap.py --qlib /tmp/qlib_lgbm [--run runs/lgbm_seed0]

``--qlib`` is the folder benchmarks/qlib_lgbm_reference.py writes (Qlib's predictions and daily
account); ``--run`` a run folder of strategies/csi300_lgbm_alpha158.py (seqalpha's own model).
It trades Qlib's own predictions through seqalpha's clock rule and engine (the strategy's
TopkDropout, costs, limits and lots, decided at t and filled at t + 1's close), so the two
backtests see the same scores, and prints side by side, under both conventions (seqalpha's: 252
bars, compounded; Qlib's: 238 bars, summed):

* Qlib's own account (report_normal.csv);
* seqalpha's engine on Qlib's scores;
* seqalpha's run with its own model (when ``--run`` is given);

then the benchmark's daily returns of both (they should agree), the daily cost, the turnover and
the cash share, which is where the accounts can differ (Qlib's TopkDropout keeps
``risk_degree`` = 5% in cash; seqalpha invests all of it).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from seqalpha import load_strategy_file
from seqalpha.backtest.clock import checked_weights
from seqalpha.backtest.dataset import Dataset
from seqalpha.backtest.run import portfolio_rule, simulate_span
from seqalpha.backtest.walkforward import WalkForward
from seqalpha.data import load_panel
from seqalpha.metrics import qlib_conventions
from seqalpha.plugins import collect_registries, run_manager

ROOT = Path(__file__).resolve().parents[1]


def conventions(returns: pd.Series, bench: pd.Series) -> dict[str, float]:
    """Excess a year both ways: seqalpha's (252 bars, compounded strategy over compounded benchmark) and Qlib's."""
    years = len(returns) / 252
    ours = (1 + returns).prod() ** (1 / years) - (1 + bench).prod() ** (1 / years)
    return {"excess_252_compounded": float(ours), **qlib_conventions(returns, bench, 238)}


def seqalpha_on_scores(pred: pd.DataFrame, data: str | None) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(strategy returns, benchmark returns, traded value) of seqalpha's engine trading Qlib's scores."""
    cls, _ = load_strategy_file(ROOT / "strategies" / "csi300_lgbm_alpha158.py")
    strategy = cls(feature_set="raw", **({"data": data} if data else {}))  # features are not needed here
    registries = collect_registries(run_manager())
    panel = load_panel(strategy.data, registries.data_sources)
    rule = portfolio_rule(strategy, registries)
    dataset = Dataset.build(strategy, panel, registries.features, None)
    calendar = WalkForward.of(strategy, panel.dates)
    scores = pred.pivot(index="datetime", columns="instrument", values="score")
    decisions, weights_now = {}, pd.Series(dtype=float)
    for t in range(calendar.t0, calendar.t1 + 1):
        date = panel.dates[t]
        if date not in scores.index:
            continue
        row = scores.loc[date].dropna()
        members = panel.assets[dataset.sampleable[t]]  # what the backtest would score at t
        today = row[row.index.isin(members)]
        weights = checked_weights(strategy.target_weights(today, weights_now, rule), today, date)
        target = np.zeros(len(panel.assets))
        target[panel.assets.get_indexer(weights.index)] = weights.to_numpy()
        decisions[t] = target
        weights_now = weights[weights != 0]
    sim, bench = simulate_span(strategy, dataset, calendar, decisions)
    index = sim.returns.index
    return sim.returns, pd.Series(bench, index=index), sim.traded_value / sim.value.shift(1).fillna(strategy.init_cash)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--qlib", required=True, help="benchmarks/qlib_lgbm_reference.py's output folder")
    ap.add_argument("--run", help="a run folder of strategies/csi300_lgbm_alpha158.py")
    ap.add_argument("--data", help="data URI overriding the strategy's")
    args = ap.parse_args(argv)
    qdir = Path(args.qlib)
    report = pd.read_csv(qdir / "report_normal.csv", index_col=0, parse_dates=True)
    pred = pd.read_parquet(qdir / "pred.parquet")
    q_ret = report["return"] - report["cost"]  # Qlib's "return" is before cost
    rows = {"Qlib's account": conventions(q_ret, report["bench"])}
    s_ret, s_bench, s_turn = seqalpha_on_scores(pred, args.data)
    rows["seqalpha's engine on Qlib's scores"] = conventions(s_ret, s_bench)
    if args.run:
        returns = pd.read_parquet(Path(args.run) / "returns.parquet")
        print("run returns columns:", list(returns.columns))
        r = returns.set_index(returns.columns[0]) if "date" in returns.columns[0] else returns
        rows["seqalpha's run (its own LightGBM)"] = conventions(r.iloc[:, 0], r.iloc[:, 1])
    print(pd.DataFrame(rows).T.to_string(float_format=lambda v: f"{v:+.4f}"))
    common = report.index.intersection(s_ret.index)
    print(f"\nbars: Qlib {len(report)} ({report.index[0].date()}..{report.index[-1].date()}), seqalpha {len(s_ret)} "
          f"({s_ret.index[0].date()}..{s_ret.index[-1].date()}), common {len(common)}")
    bench_gap = (report["bench"].reindex(common) - s_bench.reindex(common)).abs()
    print(f"benchmark daily returns: max |Qlib - seqalpha| {bench_gap.max():.2e}")
    print(f"mean daily return: Qlib {report['return'].mean():+.5f} before cost, cost {report['cost'].mean():.5f}; "
          f"seqalpha on the same scores {s_ret.mean():+.5f} after cost")
    print(f"turnover a day: Qlib {report['turnover'].mean():.4f}, seqalpha {s_turn.mean():.4f}")
    if "cash" in report and "account" in report:
        print(f"cash share: Qlib mean {(report['cash'] / report['account']).mean():.4f}")
    diff = (q_ret.reindex(common) - s_ret.reindex(common))
    print(f"daily strategy return Qlib - seqalpha (same scores): mean {diff.mean():+.5f}, "
          f"corr {q_ret.reindex(common).corr(s_ret.reindex(common)):.3f}")
    yearly = pd.DataFrame({"qlib": q_ret.reindex(common), "seqalpha": s_ret.reindex(common),
                           "bench": report["bench"].reindex(common)}).groupby(common.year).sum()
    print("\nsummed daily returns by year:\n" + yearly.to_string(float_format=lambda v: f"{v:+.4f}"))


if __name__ == "__main__":
    main()
