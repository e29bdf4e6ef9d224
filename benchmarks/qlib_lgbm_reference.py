"""Qlib 0.9.7's own LightGBM + Alpha158 workflow on the CSI 300 folder, with its daily account written out.

Run in a virtualenv with pyqlib 0.9.7 (never a seqalpha dependency):
    MLFLOW_ALLOW_FILE_STORE=true /work/venv-qlib/bin/python benchmarks/qlib_lgbm_reference.py \
        [--data ../shared/data/cn_csi300_qlib] [--out /tmp/qlib_lgbm]

It is the workflow of ``examples/benchmarks/LightGBM/workflow_config_lightgbm_Alpha158.yaml`` as
described in ../shared/data/README.md (train 2010-2014, valid 2015-2016, test 2017-01-01..2020-08-01,
TopkDropout 50/5, deal at close, costs 0.05%/0.15%, minimum 5, limit 0.095, benchmark SH000300, 1e8).
It writes, for benchmarks/csi300_gap.py to compare bar by bar with seqalpha's run of the same setup:
``pred.parquet`` (datetime, instrument, score), ``report_normal.csv`` (Qlib's daily return, cost,
bench, turnover, account value), ``positions.csv`` (date, instrument, amount, weight) and
``summary.json`` (Qlib's risk analysis: excess return with and without cost, IC).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

MODEL = {"class": "LGBModel", "module_path": "qlib.contrib.model.gbdt",
         "kwargs": {"loss": "mse", "colsample_bytree": 0.8879, "learning_rate": 0.2, "subsample": 0.8789,
                    "lambda_l1": 205.6999, "lambda_l2": 580.9768, "max_depth": 8, "num_leaves": 210,
                    "num_threads": 2, "seed": 0}}
SEGMENTS = {"train": ("2010-01-04", "2014-12-31"), "valid": ("2015-01-01", "2016-12-31"),
            "test": ("2017-01-01", "2020-08-01")}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/data/cn_csi300_qlib"))
    ap.add_argument("--out", default="/tmp/qlib_lgbm")
    ap.add_argument("--limit", type=float, default=0.095,
                    help="Qlib's limit_threshold, compared with the data's $change field as it is stored")
    ap.add_argument("--pred", help="backtest these predictions (a pred.parquet this script wrote) instead of fitting")
    args = ap.parse_args(argv)
    import qlib
    from qlib.backtest import backtest, executor
    from qlib.contrib.evaluate import risk_analysis
    from qlib.contrib.strategy import TopkDropoutStrategy
    from qlib.utils import init_instance_by_config

    qlib.init(provider_uri=str(Path(args.data).resolve()), region="cn")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    dataset = init_instance_by_config({
        "class": "DatasetH", "module_path": "qlib.data.dataset",
        "kwargs": {"handler": {"class": "Alpha158", "module_path": "qlib.contrib.data.handler",
                               "kwargs": {"start_time": "2010-01-04", "end_time": "2020-08-01",
                                          "fit_start_time": "2010-01-04", "fit_end_time": "2014-12-31",
                                          "instruments": "csi300"}},
                   "segments": SEGMENTS}})
    if args.pred:
        model = None
        pred = pd.read_parquet(args.pred).set_index(["datetime", "instrument"])["score"]
    else:
        model = init_instance_by_config(MODEL)
        model.fit(dataset)
        pred = model.predict(dataset, segment="test")
    pred.rename("score").reset_index().to_parquet(out / "pred.parquet")
    label = dataset.prepare("test", col_set="label", data_key="raw").iloc[:, 0]
    joined = pd.concat([pred.rename("score"), label.rename("label")], axis=1).dropna()
    ic = joined.groupby(level="datetime").apply(lambda d: d["score"].corr(d["label"]))
    ric = joined.groupby(level="datetime").apply(lambda d: d["score"].corr(d["label"], method="spearman"))

    strategy = TopkDropoutStrategy(signal=pred, topk=50, n_drop=5)
    exe = executor.SimulatorExecutor(time_per_step="day", generate_portfolio_metrics=True)
    portfolio, _ = backtest(start_time=SEGMENTS["test"][0], end_time=SEGMENTS["test"][1], strategy=strategy,
                            executor=exe, benchmark="SH000300", account=100_000_000,
                            exchange_kwargs={"freq": "day", "limit_threshold": args.limit, "deal_price": "close",
                                             "open_cost": 0.0005, "close_cost": 0.0015, "min_cost": 5})
    report, positions = portfolio["1day"]
    report.to_csv(out / "report_normal.csv")
    rows = []
    for date, pos in positions.items():
        for code, v in pos.position.items():
            if isinstance(v, dict):
                rows.append({"date": date, "instrument": code, "amount": v.get("amount"), "weight": v.get("weight"),
                             "price": v.get("price")})
    pd.DataFrame(rows).to_csv(out / "positions.csv", index=False)
    excess = risk_analysis(report["return"] - report["bench"], freq="day")["risk"].to_dict()
    excess_cost = risk_analysis(report["return"] - report["bench"] - report["cost"], freq="day")["risk"].to_dict()
    summary = {"IC": float(ic.mean()), "ICIR": float(ic.mean() / ic.std()), "Rank IC": float(ric.mean()),
               "Rank ICIR": float(ric.mean() / ric.std()), "excess_return_without_cost": excess,
               "excess_return_with_cost": excess_cost, "limit_threshold": args.limit,
               "best_iteration": int(getattr(getattr(model, "model", None), "best_iteration", -1))}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
