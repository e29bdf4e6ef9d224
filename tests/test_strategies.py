"""Every strategies/*.py file runs end to end on a tiny panel; same seed, same numbers; the CLI works."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seqalpha import Strategy, StrategyError, load_strategy_file, run_backtest
from seqalpha.cli import main
from seqalpha.plugins import collect_registries
from tests.conftest import FAST_LSTM

ROOT = Path(__file__).resolve().parents[1]
STRATEGY_FILES = sorted((ROOT / "strategies").glob("*.py"))
TINY = "synthetic?assets=16&days=260&seed=1"
TINY_OHLC = TINY + "&ohlc=1"  # with open, high and low: the K-bar factors of alpha158 need them


def tiny_overrides(cls) -> dict:
    """Shrink a strategy to seconds: tiny synthetic panel, tiny model, few epochs."""
    over = {"data": TINY, "min_train_bars": 80, "test_start": None, "test_end": None, "window": min(cls.window, 10),
            "retrain": "2QS", "factors": None, "train_start": None, "valid_start": None, "valid_end": None}
    if "alpha158" in ([cls.feature_set] if isinstance(cls.feature_set, str) else cls.feature_set or []):
        over["data"] = TINY_OHLC
    if cls.model in ("rnn", "lstm", "gru"):
        over["model_params"] = dict(FAST_LSTM)
    elif cls.model == "mlp":
        over["model_params"] = {"hidden_size": 8, "epochs": 2, "batch_size": 256}
    elif cls.model == "lightgbm":
        over["model_params"] = {"num_boost_round": 40, "early_stopping_rounds": 5, "num_leaves": 7, "lambda_l1": 0.0,
                                "lambda_l2": 1.0}
    elif cls.model in ("alstm", "tcn", "transformer"):  # the zoo's CSI 300 files: their own keys, tiny sizes
        over["model_params"] = {**cls.model_params, "hidden_size": 8, "epochs": 2, "max_train_samples": None}
    elif cls.model == "blend":  # each member shrunk as a strategy of its own model would be
        over["data"] = TINY_OHLC
        over["model_params"] = {"members": [_tiny_member(m) for m in cls.model_params["members"]]}
    if cls.portfolio in ("topk", "topk_dropout", "long_short"):
        over["portfolio_params"] = {**cls.portfolio_params, "k": 3}
    if "benchmark" in cls.param_names():
        over["benchmark"] = None
    return {k: v for k, v in over.items() if k in cls.param_names()}


def _tiny_member(member: dict) -> dict:
    """A blend member with the tiny parameters of its model (as tiny_overrides gives a strategy of that model) and a
    window of at most 10 bars."""
    model, params = member["model"], member.get("model_params", {})
    if model in ("alstm", "tcn", "transformer"):
        params = {**params, "hidden_size": 8, "epochs": 2, "max_train_samples": None}
    elif model in ("rnn", "lstm", "gru"):
        params = dict(FAST_LSTM)
    elif model == "lightgbm":
        params = {"num_boost_round": 40, "early_stopping_rounds": 5, "num_leaves": 7, "lambda_l1": 0.0,
                  "lambda_l2": 1.0}
    return {**member, "model_params": params, **({"window": min(member["window"], 10)} if "window" in member else {})}


@pytest.mark.parametrize("path", [pytest.param(p, marks=pytest.mark.slow) if p.stem.startswith("csi300_") else p
                                  for p in STRATEGY_FILES], ids=[p.stem for p in STRATEGY_FILES])
def test_strategy_file_runs_end_to_end(path, tmp_path):
    """Every example strategy runs, writes the whole run directory, and its tables agree with its test span."""
    from seqalpha.runs import schema

    cls, _ = load_strategy_file(path)
    res = run_backtest(cls, progress=False, out=tmp_path / "run", **tiny_overrides(cls))
    files = [schema.CONFIG, schema.METRICS, schema.REPORT, schema.DATA_QUALITY,
             *(f"{t}.parquet" for t in schema.TABLES)]
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == sorted(files)
    first, last = (pd.Timestamp(d) for d in res.config["span"])
    assert res.scores["date"].min() == first and res.scores["date"].max() == last
    assert res.returns["date"].iloc[-1] == pd.Timestamp(res.config["simulated"][1])  # the bar after the last decision
    assert set(res.weights["asset"]) <= set(res.scores["asset"])
    assert res.metrics["n_rebalances"] == len(res.rebalances) > 0
    assert res.metrics["n_retrains"] >= 1 and len(res.training) > 0 or res.config["params"]["model"] == "linear"
    for key in ("sharpe", "annual_return", "max_drawdown", "excess_annual_return", "information_ratio", "ic"):
        assert np.isfinite(res.metrics[key]), key
    assert -1 <= res.metrics["ic"] <= 1 and res.metrics["max_drawdown"] <= 0
    assert np.isfinite(res.returns[["strategy", "benchmark"]].to_numpy()).all()


def test_same_seed_same_numbers():
    """Two fits from scratch (the model cache off, so the second run cannot reload the first one's models)."""
    cls, _ = load_strategy_file(ROOT / "strategies" / "lstm_topk.py")
    a = run_backtest(cls, progress=False, **{**tiny_overrides(cls), "cache": False})
    b = run_backtest(cls, progress=False, **{**tiny_overrides(cls), "cache": False})
    assert a.metrics["n_cache_hits"] == b.metrics["n_cache_hits"] == 0
    pd.testing.assert_frame_equal(a.scores, b.scores)
    pd.testing.assert_frame_equal(a.returns, b.returns)
    c = run_backtest(cls, progress=False, **{**tiny_overrides(cls), "seed": 7})
    assert not np.allclose(a.scores["score"], c.scores["score"])


def test_run_directory_contents(tmp_path):
    cls, _ = load_strategy_file(ROOT / "strategies" / "lstm_topk.py")
    res = run_backtest(cls, progress=False, out=tmp_path, **tiny_overrides(cls))
    assert not list(tmp_path.glob(".*.tmp"))
    # A write that fails half-way (here: one table cannot be written) leaves no metrics.json and no temp files,
    # so the folder is not listed as a finished run, and files already there are whole.
    broken = tmp_path / "broken"
    res.weights = object()
    with pytest.raises(AttributeError):
        res.write(broken)
    assert (broken / "scores.parquet").exists() and not (broken / "metrics.json").exists()
    assert not list(broken.glob(".*")) and not list(broken.glob("weights*"))
    m = json.loads((tmp_path / "metrics.json").read_text())
    for key in ("ic", "rank_ic", "icir", "rank_icir", "annual_return", "annual_volatility", "sharpe", "max_drawdown",
                "excess_annual_return", "information_ratio", "turnover", "n_rebalances", "n_retrains"):
        assert key in m
    assert set(m["seconds"]) >= {"data", "train", "predict", "simulate"}
    scores = pd.read_parquet(tmp_path / "scores.parquet")
    assert list(scores.columns) == ["date", "asset", "score", "label"]


def test_unknown_parameter_did_you_mean():
    class S(Strategy):
        pass

    with pytest.raises(StrategyError, match="unknown strategy parameter 'windw'. Did you mean 'window'"):
        S(windw=3)


def test_cli_set_unknown_parameter_is_a_clean_error(capsys):
    assert main(["run", str(ROOT / "strategies" / "lstm_topk.py"), "--set", "modle=gru"]) == 2
    assert "Did you mean 'model'" in capsys.readouterr().err


def test_model_params_for_another_model_fail_before_loading_data_with_the_fix(capsys):
    missing = "parquet:/nonexistent/table.parquet"  # never opened: the model check comes first
    assert main(["run", str(ROOT / "strategies" / "lstm_topk.py"), "--set", "model=linear", "--data", missing]) == 2
    err = capsys.readouterr().err
    assert "'linear': unknown model parameter(s) ['hidden_size'" in err and "--set model_params={}" in err


@pytest.mark.slow
def test_cli_run_with_overrides_and_data(tmp_path):
    table = tmp_path / "table.parquet"
    from seqalpha.builtin_plugins.synthetic import make_synthetic_panel

    make_synthetic_panel(assets=12, days=220, seed=3).to_frame().to_parquet(table)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "seqalpha.cli", "run", str(ROOT / "strategies" / "lstm_topk.py"),
           "--set", "model=gru", "--set", "window=12", "--set", "min_train_bars=80",
           "--set", f"model_params={FAST_LSTM!r}", "--set", "portfolio_params={'k': 3}",
           "--data", f"parquet:{table}", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Sharpe" in proc.stdout and "retrained gru" in proc.stderr
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["params"]["model"] == "gru" and cfg["params"]["window"] == 12 and cfg["data"].startswith("parquet:")


def test_cli_verbose_logs_rebalances_and_quiet_does_not(tmp_path, capsys):
    args = ["run", str(ROOT / "strategies" / "linear_long_short.py"), "--set", f"data='{TINY}'",
            "--set", "min_train_bars=80", "--set", "portfolio_params={'k': 3}"]
    assert main([*args, "--out", str(tmp_path / "a"), "--verbose"]) == 0
    err = capsys.readouterr().err
    assert "rebalance 2018" in err and "retrained linear" in err
    assert main([*args, "--out", str(tmp_path / "b"), "--quiet"]) == 0
    assert capsys.readouterr().err == ""


def test_warnings_are_summarised_once_with_counts():
    import warnings

    from seqalpha.cli import summarize_warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            warnings.warn("file x.csv: 2 bad rows skipped", UserWarning, stacklevel=1)
        warnings.warn("other", UserWarning, stacklevel=1)
    text = summarize_warnings(caught)
    assert text.splitlines()[0] == "4 warning(s) during the run:"
    assert "(x3) UserWarning: file x.csv: 2 bad rows skipped" in text


def test_csi300_selection_candidates_are_valid_and_end_before_the_test_period():
    """benchmarks/csi300_select.py chooses settings on 2015-2016 only: its candidates are real parameters and
    its validation span ends before the strategy's test period begins."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("csi300_select", ROOT / "benchmarks" / "csi300_select.py")
    select = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(select)
    for name in ("csi300_lstm", "csi300_gru"):
        cls, _ = load_strategy_file(ROOT / "strategies" / f"{name}.py")
        assert pd.Timestamp(select.VALIDATION["test_end"]) < pd.Timestamp(cls.test_start)
        for overrides in select.candidates(dict(cls.model_params)).values():
            s = cls(**{**select.VALIDATION, **overrides})
            assert s.test_start == select.VALIDATION["test_start"]
            collect_registries().models.get(s.model).factory(**s.model_params)  # the model takes these params


def test_saved_decisions_reproduce_the_run(tmp_path, capsys):
    """benchmarks/resimulate.py rebuilds a run's simulation from its run directory alone (weights and rebalance
    dates), with the price-limit rule and side-specific costs on, and gets the stored returns back exactly (run in
    this process, with the working tree's engine only: ``--before none``)."""
    import importlib.util

    cls, _ = load_strategy_file(ROOT / "strategies" / "linear_long_short.py")
    run_backtest(cls, progress=False, out=tmp_path / "run", **tiny_overrides(cls), limit_threshold=0.02,
                 buy_cost=0.001, sell_cost=0.002, min_cost=1.0)
    spec = importlib.util.spec_from_file_location("resimulate", ROOT / "benchmarks" / "resimulate.py")
    resimulate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(resimulate)
    capsys.readouterr()
    resimulate.main([str(tmp_path / "run"), "--before", "none"])
    out = capsys.readouterr().out
    now = [line for line in out.splitlines() if line.startswith("run now:")]
    assert len(now) == 1 and now[0].endswith("reproduces the stored returns: True"), out
    assert "limit up:" in now[0]


def test_the_seeds_table_reports_whole_worst_runs_and_checks_the_goal():
    """benchmarks/csi300_seeds_table.py: the chosen strategy comes first, its worst seed is one whole run (by rank
    IC), the paired differences use common seeds only, and each goal line is met or missed by the measured figure."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("seeds_table", ROOT / "benchmarks" / "csi300_seeds_table.py")
    seeds_table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(seeds_table)
    rows = []
    for name, chosen, rank_ics in [("b_lstm", False, [0.030, 0.020, 0.028]), ("a_alstm", True, [0.034, 0.026])]:
        for seed, r in enumerate(rank_ics):
            rows.append({"strategy": name, "chosen": chosen, "model": name[2:], "seed": seed, "ic": r / 2,
                         "rank_ic": r, "icir": 0.1, "rank_icir": 0.2, "excess_annual_return": 0.01 * (seed - 1),
                         "information_ratio": seed - 1.0, "excess_max_drawdown": -0.1 - seed / 100,
                         "wall_seconds": 600.0 + 300 * seed})
    runs = pd.DataFrame(rows)
    table = seeds_table.table(runs)
    assert table["run"].iloc[0].startswith("chosen on 2015-2016: a_alstm, mean ± std (seeds 0, 1)")
    assert table["rank IC"].iloc[0] == "0.0300 ± 0.0057"
    worst = table[table["run"] == "b_lstm, worst seed by rank IC (seed 1)"].iloc[0]
    assert (worst["rank IC"], worst["excess return (a year)"], worst["wall time"]) == ("0.0200", "+0.00%", "15.0 min")
    pairs = seeds_table.paired_comparisons(runs, ["strategy"])
    assert pairs[["A", "B", "seeds"]].values.tolist() == [["strategy=b_lstm", "strategy=a_alstm", 2]]
    assert pairs["mean rank_ic A - B"].iloc[0] == pytest.approx(((0.030 - 0.034) + (0.020 - 0.026)) / 2)
    # issue 23's goal, b_lstm standing in for the LightGBM baseline: differences 0.004 and 0.006 on seeds 0 and 1
    goal = seeds_table.goal_lines(runs[runs["chosen"]], runs[runs["strategy"] == "b_lstm"])
    assert goal[0] == "- mean rank IC above (Qlib's LightGBM on this data) 0.0446: 0.03 (missed)"
    assert goal[1].startswith("- paired rank IC over csi300_lgbm_alpha158, in standard errors, above 2: 5 ")
    assert "(difference +0.0050, SE 0.0010, 2 seeds) (met)" in goal[1]
    assert goal[2] == "- minutes per seed at most 15: 15 (met)"
    assert goal[3] == "- secondary: mean IC above 0.041: 0.015 (missed)"
    assert goal[4].endswith("0.026 (missed)") and goal[5].endswith("0.03 (missed)")
    tighter = seeds_table.goal_lines(runs[runs["chosen"]], runs[runs["strategy"] == "b_lstm"], minutes_budget=14)
    assert tighter[2] == "- minutes per seed at most 14: 15 (missed)"


def test_the_selection_table_projects_rule_4_from_the_fastest_fresh_fit(tmp_path):
    """benchmarks/csi300_select_v2_table.py, rule 4: a single-model candidate's projection is two of its fastest
    refits; an in-run ensemble's counts every member and times only the members it fitted (not cache hits)."""
    import importlib.util
    import json

    spec = importlib.util.spec_from_file_location("select_table", ROOT / "benchmarks" / "csi300_select_v2_table.py")
    select_table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(select_table)
    single = tmp_path / "single" / "seed=0"
    single.mkdir(parents=True)
    (single / "metrics.json").write_text(json.dumps({"retrain_seconds": [600.0, 300.0]}))
    pd.DataFrame({"retrain_date": ["2015", "2016"], "seed": [0, 0], "seconds": [600.0, 300.0],
                  "cached": [False, False]}).to_parquet(single / "training.parquet")
    assert select_table.fastest_fit_seconds(tmp_path / "single") == (300.0, 1)
    assert select_table.projected_minutes(300.0, 1) == 2 * 300 / 60
    ensemble = tmp_path / "ensemble" / "seeds=_0,1,2_"
    ensemble.mkdir(parents=True)
    (ensemble / "metrics.json").write_text(json.dumps({"retrain_seconds": [5.0, 2000.0]}))
    # 2015: members 0 and 1 read from the cache (their recorded seconds are the original fits'), member 2 fitted
    pd.DataFrame({"retrain_date": ["2015"] * 3 + ["2016"] * 3, "seed": [0, 1, 2] * 2,
                  "seconds": [100.0, 120.0, 700.0, 650.0, 680.0, 690.0],
                  "cached": [True, True, False, False, False, False]}).to_parquet(ensemble / "training.parquet")
    assert select_table.fastest_fit_seconds(tmp_path / "ensemble") == (650.0, 3)
    assert select_table.projected_minutes(650.0, 3) == 2 * 650 * 3 / 60
