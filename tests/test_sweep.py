"""seqalpha sweep: a grid times seeds, serially or on a real Dask LocalCluster, and `run --workers`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from seqalpha import StrategyError, load_strategy_file, run_backtest
from seqalpha.cli import main
from seqalpha.metrics import mean_standard_error
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
    made = sweep(cls, grid={"window": [5, 8]}, seeds=[0, 1], out=out)
    shutil.copytree(out, out.parent / "pristine")  # as made, for the baseline test to resume from
    return made, out


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
    assert row["rank_ic_se"] == alone.metrics["rank_ic_se"] == mean_standard_error(alone.ic["rank_ic"], 1) > 0
    assert row["n_ic_dates"] == len(alone.ic)
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


# ---- is it any good at all? signal against zero, and the --baseline point (framework/sweep/significance.py) ----

def test_mean_standard_error_is_newey_west_never_below_iid():
    """rank_ic_se by hand: Bartlett weights on L = max(h, floor(4 (n/100)^(2/9))) lags, floored at std/sqrt(n)."""
    import numpy as np

    v = np.array([0.01, 0.03, 0.04, 0.05, 0.04, 0.02, 0.00, -0.01, 0.01, 0.03])  # a slow wave
    n, d = len(v), v - v.mean()
    lags = 3  # max(h=3, floor(4 * 0.1 ** (2 / 9)) = 2)
    long_run = d @ d / n + sum(2 * (1 - j / (lags + 1)) * (d[j:] @ d[:-j]) / n for j in range(1, lags + 1))
    assert long_run / n > v.var(ddof=1) / n  # positively autocorrelated: Newey-West is the larger
    assert mean_standard_error(v, horizon=3) == pytest.approx(np.sqrt(long_run / n), rel=1e-12)
    alternating = np.array([0.02, -0.01] * 5)  # negatively autocorrelated: the i.i.d. figure is kept
    assert mean_standard_error(alternating, 1) == pytest.approx(alternating.std(ddof=1) / np.sqrt(10), rel=1e-12)
    assert np.isnan(mean_standard_error(np.array([0.1]), 1))


def test_a_points_standard_error_combines_seeds_and_days_by_the_documented_formula():
    import numpy as np

    from seqalpha.sweep.significance import NO_SIGNAL, combined_se, point_significance, signal_verdict

    means, ses = [0.02, 0.04, 0.03], [0.010, 0.012, 0.011]
    hand = np.sqrt(np.var(means, ddof=1) / 3 + np.mean(np.square(ses)))  # 0.012450
    assert combined_se(means, ses) == pytest.approx(hand, rel=1e-12) == pytest.approx(0.0124499, abs=1e-7)
    assert combined_se(means, ses) >= max(np.std(means, ddof=1) / np.sqrt(3), np.sqrt(np.mean(np.square(ses))))
    assert combined_se([0.03], [0.011]) == 0.011  # one seed: the run's own
    assert np.isnan(combined_se([0.03, 0.02], [0.011, np.nan]))  # a run without rank_ic_se: unknown, not smaller
    assert signal_verdict(0.03, hand) == "positive" and signal_verdict(0.02, hand) == NO_SIGNAL
    assert signal_verdict(-0.03, hand) == "negative" and signal_verdict(0.03, np.nan) == ""
    group = pd.DataFrame({"rank_ic": means, "rank_ic_se": ses})
    assert point_significance(group) == {"rank_ic se": pytest.approx(hand), "signal": "positive"}


SIGNAL = "synthetic?assets=12&days=200&seed=1&lag=2&strength=1"  # today's signal moves the label: linear finds it
NOISE = "synthetic?assets=12&days=200&seed=2&strength=0"  # nothing to find (rank IC 0.14 SE from zero; a pure-noise
# panel lands beyond 2 SE one time in twenty, as seed=1 does: the mark is a 95% statement)


@pytest.mark.slow
def test_a_planted_signal_is_a_signal_and_pure_noise_is_not(strategy_file, tmp_path, capsys):
    """A grid over data (which also runs now: `data` was passed to run_backtest twice) with the linear model."""
    out = tmp_path / "signal"
    code = main(["sweep", str(strategy_file), "--grid", f"data=['{SIGNAL}', '{NOISE}']", "--set", "model=linear",
                 "--set", "model_params={}", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    assert "no signal" in capsys.readouterr().out  # the terminal table says it
    table = pd.read_parquet(out / "results.parquet")
    assert list(table["status"]) == ["ok", "ok"] and (table["rank_ic_se"] > 0).all()
    from seqalpha.sweep.summary import point_summary

    points = point_summary(table, ["data"]).set_index("data")
    assert points.at[SIGNAL, "signal"] == "positive" and points.at[SIGNAL, "rank_ic mean"] > 0.3
    assert points.at[NOISE, "signal"] == "no signal"
    assert abs(points.at[NOISE, "rank_ic mean"]) <= 2 * points.at[NOISE, "rank_ic se"]
    text = (out / "summary.md").read_text()
    assert f"**No signal** (mean rank IC within 2 standard errors of zero): 1 of 2 points: data={NOISE}." in text
    assert "| no signal |" in text and "| positive |" in text
    page = (out / "report.html").read_text()
    assert "Signal: mean rank IC against zero" in page and "no signal" in page


@pytest.fixture(scope="module")
def baseline_sweep(strategy_file, serial_sweep, tmp_path_factory):
    """The serial sweep resumed from the command line with --baseline model=linear: only the two baseline runs
    are new (the grid runs are found complete)."""
    out = tmp_path_factory.mktemp("baseline") / "sweep"
    shutil.copytree(serial_sweep[1].parent / "pristine", out)
    grid_mtimes = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("*/metrics.json")}
    code = main(["sweep", str(strategy_file), "--grid", "window=[5, 8]", "--seeds", "0,1", "--baseline",
                 "model=linear", "--out", str(out), "--resume"])
    assert code == 0
    return out, grid_mtimes


@pytest.mark.slow
def test_baseline_pairs_every_point_leads_the_summary_and_resumes(strategy_file, baseline_sweep):
    import numpy as np

    out, grid_mtimes = baseline_sweep
    assert {p.parent.name: p.stat().st_mtime_ns for p in out.glob("*/metrics.json") if p.parent.name in grid_mtimes} \
        == grid_mtimes  # the grid runs were not rerun
    table = pd.read_parquet(out / "results.parquet")
    base = table[table["baseline"]]
    assert len(table) == 6 and list(base["seed"]) == [0, 1] and list(base["status"]) == ["ok", "ok"]
    assert set(table.loc[~table["baseline"], "window"]) == {5, 8} and set(base["window"]) == {6}  # its own window
    for run_dir in base["run_dir"]:  # linear from its own defaults: the strategy's LSTM model_params left behind
        config = json.loads((out / run_dir / "config.json").read_text())
        assert config["model"] == "linear" and config["model_params"] == {"alpha": 1.0}
    text = (out / "summary.md").read_text()
    heads = [line for line in text.splitlines() if line.startswith("## ")]
    assert heads[0] == "## Against the baseline (model='linear')"
    cls, _ = load_strategy_file(strategy_file)
    mtimes = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("*/metrics.json")}
    again = sweep(cls, grid={"window": [5, 8]}, seeds=[0, 1], out=out, resume=True, baseline={"model": "linear"})
    assert {p.parent.name: p.stat().st_mtime_ns for p in out.glob("*/metrics.json")} == mtimes  # nothing rerun
    against = again.against_baseline()
    assert list(against["point"]) == ["window=5", "window=8"] and list(against["seeds"]) == [2, 2]
    for _, row in against.iterrows():  # every point paired on the same seeds, by hand
        runs = again.table.set_index(["baseline", "seed"])
        point = int(row["point"].split("=")[1])
        d = [again.table.query(f"window == {point} and seed == {s} and not baseline")["rank_ic"].iloc[0]
             - runs.loc[(True, s), "rank_ic"] for s in (0, 1)]
        assert row["mean rank_ic point - baseline"] == pytest.approx(np.mean(d))
        assert row["SE (seeds)"] == pytest.approx(np.std(d, ddof=1) / np.sqrt(2))
        assert row["SE (seeds and days)"] >= row["SE (seeds)"]
        assert row["against the baseline"] in ("better", "worse", "no clear difference")
    page = (out / "report.html").read_text()
    assert page.index("Against the baseline") < page.index("Signal: mean rank IC against zero")
    assert page.count('<div class="sa-fit"><div class="sa-table">') >= 4  # every table wraps and scrolls


def test_baseline_errors_are_one_line_before_any_work(strategy_file, tmp_path):
    from seqalpha.sweep import parse_baseline

    cls, _ = load_strategy_file(strategy_file)
    assert parse_baseline(["model=linear", "aux_horizons=[2, 5]"]) == {"model": "linear", "aux_horizons": [2, 5]}
    with pytest.raises(StrategyError, match="KEY=VALUE"):
        parse_baseline(["linear"])
    with pytest.raises(StrategyError, match="given twice"):
        parse_baseline(["model=linear", "model=gru"])
    with pytest.raises(StrategyError, match="not a strategy parameter. Did you mean 'model'"):
        sweep(cls, grid={"window": [5]}, out=tmp_path / "a", baseline={"modl": "linear"})
    with pytest.raises(StrategyError, match="sweep's seeds"):
        sweep(cls, grid={"window": [5]}, seeds=[0], out=tmp_path / "b", baseline={"seed": 3})
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    assert main(["sweep", str(strategy_file), "--seeds", "0", "--baseline", "modl=linear", "--out",
                 str(tmp_path / "c")]) == 2


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed")
def test_sweep_report_tables_fit_the_page_in_headless_chromium(baseline_sweep, tmp_path):
    """At laptop width no table is wider than its card (a wide one was cut off at the right edge)."""
    from tests.test_report import chromium

    page = baseline_sweep[0] / "report.html"
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text().replace("<head>", "<head>" + FIT_SCRIPT, 1))
    done = chromium("--window-size=1400,1200", "--virtual-time-budget=10000", "--dump-dom", probe.as_uri(),
                    profile=tmp_path / "profile")
    found = __import__("re").search(r'<pre id="sa-fit">(.*?)</pre>', done.stdout, __import__("re").S)
    assert found, done.stderr[-2000:]
    widths = json.loads(found.group(1))
    assert len(widths) >= 5 and all(scroll <= client + 1 for scroll, client in widths), widths


FIT_SCRIPT = """<script>window.addEventListener('load', function () { setTimeout(function () {
  var out = Array.prototype.map.call(document.querySelectorAll('.sa-table'),
                                     function (t) { return [t.scrollWidth, t.clientWidth]; });
  var pre = document.createElement('pre'); pre.id = 'sa-fit'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre); }, 500); });</script>"""
