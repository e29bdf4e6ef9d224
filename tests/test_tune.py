"""seqalpha tune: an Optuna search scored on a selection span that ends before the test period.

The search's strategy fits a ridge regression on every bar of its window (a model plugin in the strategy file:
fast, deterministic, and blind to a signal older than its window), on ``synthetic?lag=20``: the ``signal`` of
20 bars ago moves tomorrow's return, so the 1-bar label of a decision at t (close t+1 to close t+2) moves with
signal[t-18], which a window of at least 19 bars holds (t-18..t) and a shorter one cannot see. The 12-trial search
runs on ``lag=22`` (SEARCH_DATA), where that smallest window is 21: the issue's "a window of at least 21".
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seqalpha import StrategyError, load_strategy_file, run_backtest
from seqalpha.cli import main
from seqalpha.tune import parse_space, tune
from seqalpha.tune.objective import DIRECTIONS, NOT_OBJECTIVES, metric_direction
from seqalpha.tune.span import check_selection, parse_select

DATA = "synthetic?lag=20&assets=24&days=300&seed=3"
SEARCH_DATA = "synthetic?lag=22&assets=24&days=300&seed=3"  # the 12-trial search: a window must reach back 21 bars
SELECT = "2018-08-01..2018-10-15"  # decisions; the test period starts 2018-11-01
STRATEGY = f'''
import numpy as np

from seqalpha import Model, Strategy, hookimpl


class WindowRidge(Model):
    """Ridge regression on every step of the window: a longer window sees further back."""

    defaults = {{"alpha": 1.0}}

    def _x(self, samples):
        x = np.nan_to_num(samples.windows().reshape(len(samples), -1).astype(np.float64))
        return np.hstack([x, np.ones((len(x), 1))])

    def fit(self, train, valid, log=None):
        x, y = self._x(train), train.targets.astype(np.float64)
        self.coef = np.linalg.solve(x.T @ x + self.params["alpha"] * np.eye(x.shape[1]), x.T @ y)
        return {{"history": []}}

    def predict(self, samples):
        return (self._x(samples) @ self.coef).astype(np.float32)


@hookimpl
def register_models(register):
    register("window_ridge", WindowRidge)


class Lagged(Strategy):
    data = "{DATA}"
    factors = ["signal"]
    model = "window_ridge"
    window = 10
    horizon = 1
    rebalance = "W"
    retrain = None
    test_start = "2018-11-01"
    portfolio_params = {{"k": 5}}
'''
#: The smallest window that holds signal[t - 20] on SEARCH_DATA (see the module docstring).
SEES_THE_LAG = 21


@pytest.fixture(scope="module")
def strategy_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tune_strategy") / "lagged.py"
    path.write_text(STRATEGY)
    return path


@pytest.fixture(scope="module")
def search(strategy_file, tmp_path_factory):
    """The 12-trial search of window over 5..40 from the command line (12 runs with their run folders)."""
    out = tmp_path_factory.mktemp("tune") / "search"
    code = main(["tune", str(strategy_file), "--space", "window=int(5,40)", "--trials", "12", "--seeds", "0",
                 "--select", SELECT, "--data", SEARCH_DATA, "--out", str(out)])
    assert code == 0
    return out


@pytest.fixture(scope="module")
def small(strategy_file, tmp_path_factory):
    """A 2-trial search over two seeds and two parameters (4 runs), made once for the tests that read it."""
    out = tmp_path_factory.mktemp("tune_small") / "small"
    code = main(["tune", str(strategy_file), "--space", "window=int(19,30)", "--space",
                 "model_params.alpha=loguniform(0.1,10)", "--trials", "2", "--seeds", "0,1", "--select", SELECT,
                 "--out", str(out)])
    assert code == 0
    return out


@pytest.mark.slow
def test_twelve_trials_find_a_window_that_sees_the_planted_lag(search):
    table = pd.read_parquet(search / "trials.parquet")
    assert len(table) == 12 and (table["status"] == "ok").all()
    assert table["number"].tolist() == list(range(12))
    best = table.loc[table["rank_ic mean"].idxmax()]
    assert best["window"] >= SEES_THE_LAG
    # a real search: it tried windows that cannot see the lag, and those scored far below the best
    blind = table[table["window"] < SEES_THE_LAG]
    assert len(blind) >= 1 and blind["rank_ic mean"].max() < best["rank_ic mean"] - 0.1
    assert best["rank_ic mean"] > 0.15
    cls, _ = load_strategy_file(search / "best.py")
    assert cls.window == best["window"]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed")
def test_tune_report_renders_in_headless_chromium(search, tmp_path):
    from tests.test_report import browser_check, screenshot

    page = search / "report.html"
    assert browser_check(page, tmp_path) == {"charts": 3, "missing": [], "errors": []}
    screenshot(page, tmp_path / "tune.png", tmp_path, height=1600)


@pytest.mark.slow
def test_trials_run_on_a_dask_cluster_several_at_once(strategy_file, tmp_path, dask_scheduler):
    cls, _ = load_strategy_file(strategy_file)
    records, studies = [], []
    res = tune(cls, ["window=int(5,40)"], SELECT, 4, tmp_path / "cluster", seeds=[0, 1], scheduler=dask_scheduler,
               on_trial=records.append, on_study=studies.append)
    assert res.table["number"].tolist() == [0, 1, 2, 3] and (res.table["status"] == "ok").all()
    assert sorted(r.number for r in records) == [0, 1, 2, 3] and studies == [res]
    assert all(row["worker"] != "local" for r in records for row in r.rows.values())  # run by the workers
    # each trial's number is the serial machinery's number for the same values
    first = res.table.iloc[0]
    alone = run_backtest(cls, data=DATA, window=int(first["window"]), test_start="2018-08-01",
                         test_end="2018-10-15", progress=False)
    assert alone.metrics["rank_ic"] == first["rank_ic seed=0"]


def test_trials_parquet_has_each_seed_the_mean_status_and_wall_time(small):
    table = pd.read_parquet(small / "trials.parquet")
    assert table["number"].tolist() == [0, 1] and (table["status"] == "ok").all()
    assert list(table.columns) == ["number", "window", "model_params.alpha", "rank_ic seed=0", "rank_ic seed=1",
                                   "rank_ic mean", "status", "error", "wall_seconds", "run_dir"]
    mean = (table["rank_ic seed=0"] + table["rank_ic seed=1"]) / 2
    np.testing.assert_allclose(table["rank_ic mean"], mean, rtol=1e-12)
    for row in table.to_dict("records"):
        for seed in (0, 1):
            folder = small / row["run_dir"] / f"seed={seed}"
            metrics = json.loads((folder / "metrics.json").read_text())
            config = json.loads((folder / "config.json").read_text())
            assert metrics["rank_ic"] == row[f"rank_ic seed={seed}"]
            assert config["params"]["window"] == row["window"] and config["seed"] == seed
            assert config["params"]["model_params"] == {"alpha": row["model_params.alpha"]}
            assert config["span"][0] == "2018-08-01"


def test_best_py_subclasses_the_strategy_and_runs_with_the_chosen_values(small):
    table = pd.read_parquet(small / "trials.parquet")
    best = table.loc[table["rank_ic mean"].idxmax()]
    text = (small / "best.py").read_text()
    for needed in ("window=int(19,30)", "model_params.alpha=loguniform(0.1,10)", SELECT, "rank_ic", "Trials: 2",
                   "seeds 0, 1", "load_strategy_file"):
        assert needed in text
    cls, _ = load_strategy_file(small / "best.py")
    assert cls.__name__ == "LaggedTuned" and cls.__mro__[1].__name__ == "Lagged"
    assert cls.window == best["window"] and cls.model_params == {"alpha": best["model_params.alpha"]}
    assert cls.test_start == "2018-11-01"  # the strategy's own test period, untouched
    # it runs with those values: on the selection span it gives the trial's own number
    result = run_backtest(cls, test_start="2018-08-01", test_end="2018-10-15", progress=False, cache=False)
    assert result.config["params"]["window"] == best["window"]
    assert result.metrics["rank_ic"] == best["rank_ic seed=0"]


def test_summary_and_report_are_written_offline(small):
    summary = (small / "summary.md").read_text()
    assert "## Best: trial" in summary and "window=int(19,30)" in summary
    page = (small / "report.html").read_text()
    assert 'data-name="tune_history"' in page and 'data-name="tune_importance"' in page
    assert 'data-name="tune_slice_window"' in page and 'data-name="tune_slice_model_params.alpha"' in page
    from tests.test_report import assert_self_contained

    assert_self_contained(page)  # plotly.js inlined once, no external script or stylesheet


def test_a_resumed_search_continues_the_same_study(small, strategy_file, tmp_path, monkeypatch):
    import seqalpha.sweep.task as task_module

    folder = tmp_path / "resumed"
    shutil.copytree(small, folder)
    before = pd.read_parquet(folder / "trials.parquet")
    calls = []
    real = task_module.run_task
    monkeypatch.setattr(task_module, "run_task", lambda task, shipped=None: calls.append(task.name) or
                        real(task, shipped))
    space = ["--space", "window=int(19,30)", "--space", "model_params.alpha=loguniform(0.1,10)"]
    code = main(["tune", str(strategy_file), *space, "--trials", "3", "--seeds", "0,1", "--select", SELECT,
                 "--out", str(folder), "--resume"])
    assert code == 0
    after = pd.read_parquet(folder / "trials.parquet")
    assert after["number"].tolist() == [0, 1, 2]  # the same study, numbered on
    pd.testing.assert_frame_equal(after.iloc[:2], before)
    assert sorted(calls) == ["runs/trial-0002/seed=0", "runs/trial-0002/seed=1"]  # finished trials not redone
    # a folder holding a study is refused without --resume, and a resume with other settings is refused
    cls, _ = load_strategy_file(strategy_file)
    with pytest.raises(StrategyError, match="already holds a study"):
        tune(cls, ["window=int(19,30)", "model_params.alpha=loguniform(0.1,10)"], SELECT, 2, folder, seeds=[0, 1])
    with pytest.raises(StrategyError, match="was made with seeds"):
        tune(cls, ["window=int(19,30)", "model_params.alpha=loguniform(0.1,10)"], SELECT, 5, folder, seeds=[0],
             resume=True)


def test_a_span_that_reaches_the_test_period_is_refused(strategy_file, tmp_path):
    cls, _ = load_strategy_file(strategy_file)
    # test_start 2018-11-01 (a Thursday); h = 1: the last decision must be 3 bars earlier, on 2018-10-29
    with pytest.raises(StrategyError, match=r"too close to the test period.*on or before 2018-10-29"):
        tune(cls, ["window=int(5,40)"], "2018-08-01..2018-10-30", 2, tmp_path / "a")
    assert not (tmp_path / "a").exists()  # refused before the folder is made
    # a searched horizon counts at its longest
    with pytest.raises(StrategyError, match="horizon 6"):
        tune(cls, ["horizon=int(1,6)"], "2018-08-01..2018-10-26", 2, tmp_path / "b")
    # auxiliary horizons lengthen the embargo
    dates = pd.bdate_range("2018-01-01", periods=300)
    start, end = parse_select("2018-08-01..2018-10-24")
    with pytest.raises(StrategyError, match="embargo 5"):
        check_selection(dates, start, end, "2018-11-01", embargo=5, horizon=1)
    ok = check_selection(dates, start, end, "2018-11-01", embargo=4, horizon=1)
    assert ok.last_bar == pd.Timestamp("2018-10-31") and ok.last_bar < ok.test_start  # 24 Oct + 1 + 4 bars
    with pytest.raises(StrategyError, match="test_start"):
        tune(cls, ["window=int(5,40)"], SELECT, 2, tmp_path / "c", overrides={"test_start": None})
    code = main(["tune", str(strategy_file), "--space", "window=int(5,40)", "--trials", "2",
                 "--select", "2018-08-01..2018-12-31", "--out", str(tmp_path / "d")])
    assert code == 2


def test_tune_never_reads_a_price_of_the_test_period(strategy_file, tmp_path):
    from seqalpha.builtin_plugins.synthetic import make_synthetic_panel
    from seqalpha.data import Panel

    cls, _ = load_strategy_file(strategy_file)
    clean = make_synthetic_panel(assets=24, days=300, seed=3, lag=20)
    values = clean.values.copy()
    test = clean.dates > pd.Timestamp("2018-10-23")  # from the first bar after the selection's last label bar
    rng = np.random.default_rng(0)
    values[test] = rng.uniform(1e-3, 1e6, values[test].shape)  # garbage: prices, signal, every field
    poisoned = Panel(clean.dates, clean.assets, clean.fields, values, name=clean.name)
    runs, records = {}, []
    for name, panel in (("clean", clean), ("poisoned", poisoned)):
        res = tune(cls, ["window=int(18,24)"], "2018-08-01..2018-10-19", 2, tmp_path / name, seeds=[0],
                   data=panel, on_trial=records.append)
        runs[name] = res
    assert [r.number for r in records] == [0, 1, 0, 1] and all(r.status == "ok" for r in records)
    a, b = runs["clean"].table, runs["poisoned"].table
    assert a["window"].tolist() == b["window"].tolist()
    assert a["rank_ic mean"].tolist() == b["rank_ic mean"].tolist()  # bitwise
    # what the runs were given is the same data: the panel ends at the last bar the labels need
    for k in range(2):
        ca, cb = (json.loads((tmp_path / n / "runs" / f"trial-{k:04d}" / "seed=0" / "config.json").read_text())
                  for n in ("clean", "poisoned"))
        assert ca["data_digest"] == cb["data_digest"]
        assert ca["data"].endswith("until 2018-10-23")  # 2018-10-19 (Fri) + 1 trade bar + h = 1


def test_a_bad_space_gets_did_you_mean(strategy_file, tmp_path):
    cls, _ = load_strategy_file(strategy_file)
    cases = {
        "windw=int(5,40)": "not a strategy parameter. Did you mean 'window'",
        "window=intt(5,40)": "unknown distribution 'intt'. Did you mean 'int'",
        "window=int(5,40,lg)": "Did you mean 'log'",
        "window=int(40,5)": "low bound must be below",
        "window=int(5.5,40)": "bounds must be integers",
        "lr=loguniform(0,1)": "not a strategy parameter",
        "model_params.alpah=uniform(0.1,2)": "not a parameter of model 'window_ridge'. Did you mean 'alpha'",
        "model_param.alpha=uniform(0.1,2)": "Did you mean 'model_params'",
        "seed=int(0,3)": "not searchable here",
        "model=choice()": "at least one value",
        "window": "expects KEY=DIST",
    }
    for item, message in cases.items():
        with pytest.raises(StrategyError, match=message.replace("(", r"\(").replace(".", r"\.")):
            tune(cls, [item], SELECT, 2, tmp_path / "x")
    with pytest.raises(StrategyError, match=r"--space window=1\.5: window must be a positive int"):
        tune(cls, ["window=uniform(1.5,30)"], SELECT, 2, tmp_path / "x")
    with pytest.raises(StrategyError, match="--metric rank_icc.*Did you mean 'rank_ic'"):
        tune(cls, ["window=int(5,40)"], SELECT, 2, tmp_path / "x", metric="rank_icc")
    assert not (tmp_path / "x").exists()
    space = parse_space(["lr=loguniform(1e-4,1e-2)", "hidden_size=int(16,128,log)", "model=choice('lstm','gru')",
                         "dropout=uniform(0,0.5)"], type("S", (cls,), {"lr": 1e-3, "hidden_size": 8, "dropout": 0.1}))
    assert (space["hidden_size"].kind, space["hidden_size"].log) == ("int", True)
    assert space["lr"].log and space["model"].choices == ("lstm", "gru") and space["dropout"].high == 0.5


def test_without_optuna_the_error_names_the_extra(strategy_file, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(__import__("sys").modules, "optuna", None)  # `import optuna` raises ImportError
    code = main(["tune", str(strategy_file), "--space", "window=int(5,40)", "--trials", "2", "--select", SELECT,
                 "--out", str(tmp_path / "x")])
    assert code == 2 and "pip install 'seqalpha[tune]'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_every_catalogue_metric_is_an_objective_or_named_as_not_one():
    from seqalpha.metrics import BY_NAME

    assert set(DIRECTIONS) | set(NOT_OBJECTIVES) == set(BY_NAME)
    assert metric_direction("turnover") == "minimize" and metric_direction("max_drawdown") == "maximize"
    with pytest.raises(StrategyError, match="a count"):
        metric_direction("n_retrains")
