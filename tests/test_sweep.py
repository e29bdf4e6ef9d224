"""seqalpha sweep: a grid times seeds, serially or on a real Dask LocalCluster, and `run --workers`."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from seqalpha import StrategyError, load_strategy_file, run_backtest
from seqalpha.cli import main
from seqalpha.sweep import parse_grid, parse_seeds, plan_runs, sweep

STRATEGY = '''
import os
from pathlib import Path

from seqalpha import Strategy, hookimpl

KILL_MARKER = os.environ.get("SEQALPHA_TEST_KILL_MARKER")


@hookimpl
def backtest_started(strategy, panel):
    """With SEQALPHA_TEST_KILL_MARKER set, the first run to start kills its own worker process (once)."""
    if KILL_MARKER and not Path(KILL_MARKER).exists():
        Path(KILL_MARKER).touch()
        os.kill(os.getpid(), 9)


class TinySweep(Strategy):
    data = "synthetic?assets=12&days=200&seed=1"
    model = "lstm"
    model_params = {"hidden_size": 4, "epochs": 1, "patience": 1, "batch_size": 256}
    window = 6
    horizon = 1
    rebalance = "W"
    retrain = "QS"
    min_train_bars = 80
    portfolio_params = {"k": 3}
'''

TIMING = ("seconds.", "retrain_seconds", "n_cache_hits", "wall_seconds", "worker")


@pytest.fixture(scope="module")
def strategy_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("strategy") / "tiny_sweep.py"
    path.write_text(STRATEGY)
    return path


@pytest.fixture(scope="module")
def serial_sweep(strategy_file, tmp_path_factory):
    """The serial 2 x 2 sweep (window 5 and 8, seeds 0 and 1) three tests read: made once. Its table is kept as it
    was made; its folder is the one test_serial_sweep_then_resume changes (a deleted run, then --resume)."""
    cls, _ = load_strategy_file(strategy_file)
    out = tmp_path_factory.mktemp("serial") / "serial"
    return sweep(cls, grid={"window": [5, 8]}, seeds=[0, 1], out=out), out


def _numbers(table: pd.DataFrame) -> pd.DataFrame:
    keep = [c for c in table.columns if not c.startswith(TIMING)]
    return table[keep].sort_values("run_dir").reset_index(drop=True)


def test_grid_and_seed_errors_are_one_line_before_any_work(strategy_file):
    cls, _ = load_strategy_file(strategy_file)
    assert parse_grid(["model=['lstm','gru']", "window=[20, 60]"]) == {"model": ["lstm", "gru"], "window": [20, 60]}
    assert parse_seeds("0, 1,2") == [0, 1, 2]
    with pytest.raises(StrategyError, match="not a strategy parameter. Did you mean 'window'"):
        plan_runs(cls, {"windw": [5]}, None)
    with pytest.raises(StrategyError, match="empty"):
        plan_runs(cls, {"window": []}, None)
    with pytest.raises(StrategyError, match="not a list"):
        parse_grid(["window=20"])
    with pytest.raises(StrategyError, match="not a Python literal"):
        parse_grid(["model=[lstm]"])
    with pytest.raises(StrategyError, match="window must be a positive int"):
        plan_runs(cls, {"window": [5, -1]}, None)
    specs = plan_runs(cls, {"model": ["lstm", "gru"], "window": [5, 8]}, [0, 1, 2])
    assert len(specs) == 12 and len({s.name for s in specs}) == 12
    assert main(["sweep", str(strategy_file), "--grid", "windw=[5]", "--out", "x"]) == 2


def test_a_grid_of_whole_dicts_that_differ_only_at_the_end_gets_distinct_folders(strategy_file):
    """Folder names are cut at 180 characters; a digest of the whole point keeps long grid values apart."""
    cls, _ = load_strategy_file(strategy_file)
    long = {**cls.model_params, "lr": 1e-3, "weight_decay": 0.0, "dropout": 0.0,
            "clip_norm": 3.0, "early_stop": "ic", "max_train_samples": 100_000}
    grid = {"model_params": [{**long, "aux_horizons": [2, 5]}, {**long, "warm_start": True}, long]}
    specs = plan_runs(cls, grid, [0, 1])
    assert all(len(s.name) <= 180 for s in specs) and any(len(",".join(map(str, s.point))) > 180 for s in specs)
    assert len({s.name for s in specs}) == 6
    assert [s.name for s in plan_runs(cls, grid, [0, 1])] == [s.name for s in specs]  # the same names on --resume


def test_serial_sweep_then_resume_runs_only_what_is_missing(strategy_file, serial_sweep):
    cls, _ = load_strategy_file(strategy_file)
    res, out = serial_sweep
    t = res.table
    assert list(t["status"]) == ["ok"] * 4 and set(t["worker"]) == {"local"}
    assert {"window", "seed", "status", "error", "worker", "wall_seconds", "run_dir", "rank_ic", "sharpe",
            "seconds.train"} <= set(t.columns)
    for run_dir in t["run_dir"]:  # ordinary run directories
        assert (out / run_dir / "metrics.json").exists() and (out / run_dir / "report.html").exists()
    summary = res.summary()
    assert list(summary["window"]) == [5, 8] and list(summary["n_seeds"]) == [2, 2]
    text = (out / "summary.md").read_text()
    assert "Paired comparisons" in text and "beyond seed noise" in text
    assert (out / "report.html").read_text().count("sa-chart") >= 1
    # a run that is the same as `seqalpha run` of that configuration and seed
    alone = run_backtest(cls, progress=False, window=8, seed=1, cache=False)
    row = t[(t["window"] == 8) & (t["seed"] == 1)].iloc[0]
    assert row["rank_ic"] == alone.metrics["rank_ic"] and row["sharpe"] == alone.metrics["sharpe"]
    with pytest.raises(StrategyError, match="already exists"):
        sweep(cls, grid={"window": [5, 8]}, seeds=[0, 1], out=out)
    gone = out / t["run_dir"][2]
    (gone / "metrics.json").unlink()
    kept = {d: (out / d / "metrics.json").stat().st_mtime_ns for d in t["run_dir"] if out / d != gone}
    again = sweep(cls, grid={"window": [5, 8]}, seeds=[0, 1], out=out, resume=True)
    assert (gone / "metrics.json").exists()
    assert {d: (out / d / "metrics.json").stat().st_mtime_ns for d in kept} == kept  # the others were not rerun
    pd.testing.assert_frame_equal(_numbers(again.table), _numbers(t))
    other = sweep(cls, grid={"window": [5, 8]}, seeds=[0, 1], out=out, resume=True, threads=2)
    assert set(other.table["worker"]) == {"local"} and set(other.table["threads"]) == {2}  # none kept: other count


@pytest.mark.slow
def test_sweep_on_two_workers_equals_serial_and_records_failures(strategy_file, serial_sweep, tmp_path,
                                                                  dask_scheduler):
    """On the shared 2-worker cluster (`--scheduler`; test_a_worker_killed_mid_sweep_is_retried starts its own)."""
    cls, _ = load_strategy_file(strategy_file)
    serial = serial_sweep[0]
    cluster = sweep(cls, grid={"window": [5, 8, 500]}, seeds=[0, 1], out=tmp_path / "cluster",
                    scheduler=dask_scheduler)
    t = cluster.table
    assert set(t["worker"]) - {"local"} and len(set(t["worker"])) == 2  # both workers ran something
    failed = t[t["status"] == "failed"]
    assert list(failed["window"]) == [500, 500] and failed["error"].str.contains("too few").all()
    ok = t[t["status"] == "ok"].drop(columns=["error"])
    pd.testing.assert_frame_equal(_numbers(ok).dropna(axis=1, how="all"),
                                  _numbers(serial.table.drop(columns=["error"])).dropna(axis=1, how="all"),
                                  check_dtype=False)


@pytest.mark.slow
def test_a_worker_killed_mid_sweep_is_retried(strategy_file, tmp_path, monkeypatch):
    monkeypatch.setenv("SEQALPHA_TEST_KILL_MARKER", str(tmp_path / "killed-once"))
    cls, _ = load_strategy_file(strategy_file)
    res = sweep(cls, grid={"window": [5, 8]}, out=tmp_path / "sweep", workers=2)
    assert (tmp_path / "killed-once").exists()  # a worker really died
    assert list(res.table["status"]) == ["ok", "ok"]


@pytest.mark.slow
def test_run_with_workers_equals_a_serial_run_and_records_threads(strategy_file, tmp_path, capsys):
    """`--workers 2` starts its own local cluster, and leaves this process's environment as it found it."""
    import os

    cls, _ = load_strategy_file(strategy_file)
    code = main(["run", str(strategy_file), "--out", str(tmp_path / "serial"), "-q", "--set", "seeds=[0, 1]",
                 "--set", "cache=False"])
    assert code == 0, capsys.readouterr().err
    before = dict(os.environ)
    code = main(["run", str(strategy_file), "--out", str(tmp_path / "fanned"), "-q", "--set", "seeds=[0, 1]",
                 "--set", "cache=False", "--workers", "2"])
    assert code == 0, capsys.readouterr().err
    assert dict(os.environ) == before  # the nannies' variables are gone
    a, b = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("serial", "fanned"))
    assert b["n_cache_hits"] == b["n_model_fits"] == 2 * b["n_retrains"]  # every model came from the workers
    same = [k for k in a if k not in ("seconds", "retrain_seconds", "n_cache_hits")]
    assert {k: a[k] for k in same} == {k: b[k] for k in same}
    for d in ("serial", "fanned"):
        assert json.loads((tmp_path / d / "config.json").read_text())["threads"] == 1
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "serial" / "scores.parquet"),
                                  pd.read_parquet(tmp_path / "fanned" / "scores.parquet"))


def test_thread_count_is_recorded_and_repeatable(strategy_file, tmp_path):
    cls, _ = load_strategy_file(strategy_file)
    one = run_backtest(cls, progress=False, cache=False, threads=2)
    two = run_backtest(cls, progress=False, cache=False, threads=2)
    assert one.config["threads"] == two.config["threads"] == 2
    pd.testing.assert_frame_equal(one.scores, two.scores)
    assert run_backtest(cls, progress=False, cache=False).config["threads"] == 1


@pytest.mark.slow
@pytest.mark.skipif(__import__("shutil").which("chromium") is None, reason="chromium is not installed")
def test_sweep_report_renders_in_headless_chromium(serial_sweep, tmp_path):
    from tests.test_report import browser_check, screenshot

    page = serial_sweep[1] / "report.html"
    assert browser_check(page, tmp_path) == {"charts": 1, "missing": [], "errors": []}
    screenshot(page, tmp_path / "sweep.png", tmp_path, height=1400)


@pytest.mark.slow
def test_data_the_workers_cannot_see_is_named_and_scatter_data_ships_it(strategy_file, tmp_path, dask_scheduler):
    from seqalpha.builtin_plugins.synthetic import make_synthetic_panel

    cls, _ = load_strategy_file(strategy_file)
    table = make_synthetic_panel(assets=12, days=200, seed=1).to_frame()
    path = tmp_path / "panel.parquet"
    table.to_parquet(path)
    missing = sweep(cls, grid={"window": [5]}, out=tmp_path / "missing", data=f"parquet:{tmp_path / 'nowhere.parquet'}")
    assert missing.table["status"].tolist() == ["failed"]
    assert "is not visible on worker" in missing.table["error"][0] and "--scatter-data" in missing.table["error"][0]
    shipped = sweep(cls, grid={"window": [5, 6]}, out=tmp_path / "shipped", data=f"parquet:{path}",
                    scheduler=dask_scheduler, scatter_data=True)
    assert shipped.table["status"].tolist() == ["ok", "ok"]
    config = json.loads((tmp_path / "shipped" / shipped.table["run_dir"][0] / "config.json").read_text())
    assert config["data"] == f"parquet:{path}"  # the URI, not "panel:..."


def test_a_grid_over_data_or_ensembles_is_kept_apart(strategy_file, tmp_path):
    cls, _ = load_strategy_file(strategy_file)
    with pytest.raises(StrategyError, match="grid over data"):
        sweep(cls, grid={"data": ["synthetic?seed=1", "synthetic?seed=2"]}, out=tmp_path / "x", data="synthetic")
    res = sweep(cls, grid={"seeds": [[0, 1], [2, 3]]}, out=tmp_path / "ens")
    assert res.table["seeds"].tolist() == ["[0, 1]", "[2, 3]"]  # the grid's value, not the metric of that name
    assert len(res.summary()) == 2 and (tmp_path / "ens" / "summary.md").exists()
