"""MLflow tracking (issue 24, section 3): `--track [URI]` / $SEQALPHA_TRACKING_URI on `run` and `sweep`, read back from
a local SQLite store; no tracking without either; a store that is down or unwritable is one warning, never a failed
run. One store, one run and one sweep are made once for the module (importing mlflow and creating a store cost
seconds)."""

from __future__ import annotations

import json
import os
import time
import warnings

import pandas as pd
import pytest

from seqalpha import load_strategy_file, run_backtest
from seqalpha.cli import main
from seqalpha.runs.compare import flat_metrics
from seqalpha.tracking import DEFAULT_URI, ENV_VAR, TrackingError, open_tracker, redact, tracking_uri
from seqalpha.tracking.record import MAX_PARAM_VALUE, QLIB_NAMES, flatten

pytest.importorskip("mlflow")  # the test extra installs mlflow-skinny: these run in CI

STRATEGY = '''
from seqalpha import Strategy


class TinyTracked(Strategy):
    data = "synthetic?assets=10&days=140&seed=3"
    model = "linear"
    window = 4
    horizon = 1
    rebalance = "W"
    retrain = None
    min_train_bars = 60
    portfolio_params = {"k": 3}
'''

TIMING = ("seconds", "retrain_seconds", "n_cache_hits")


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    """A store with one CLI run and one CLI sweep (grid of 2 x 2 seeds) tracked into it, and a client to read it."""
    from mlflow.tracking import MlflowClient

    root = tmp_path_factory.mktemp("tracked")
    strategy = root / "tiny_tracked.py"
    strategy.write_text(STRATEGY)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(ENV_VAR, raising=False)
        assert main(["run", str(strategy), "--out", str(root / "run"), "-q", "--track", uri]) == 0
        assert main(["sweep", str(strategy), "--grid", "window=[3,4]", "--seeds", "0,1", "--out", str(root / "sweep"),
                     "--track", uri]) == 0
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("TinyTracked")
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    return {"root": root, "strategy": strategy, "uri": uri, "client": client, "runs": runs}


def _by_tag(runs, key: str, value: str):
    found = [r for r in runs if r.data.tags.get(key) == value]
    assert len(found) == 1, (key, value, [r.data.tags.get(key) for r in runs])
    return found[0]


@pytest.mark.slow
def test_a_run_reads_back_equal_to_its_metrics_json(tracked):
    """Parameters are the config's strategy parameters, flattened; every metric of metrics.json is there under its
    own name, and the Qlib recorder names equal their sources; the per-date IC is a series stepped by date; the run
    folder is the artifacts; the tags name the strategy file, the data digest and the code version."""
    folder = tracked["root"] / "run"
    run = _by_tag(tracked["runs"], "seqalpha.run_dir", str(folder))
    config = json.loads((folder / "config.json").read_text())
    metrics = json.loads((folder / "metrics.json").read_text())
    assert run.info.status == "FINISHED" and "mlflow.parentRunId" not in run.data.tags
    assert run.data.params == flatten({**config["params"], "data": config["data"]})
    assert run.data.params["portfolio_params.k"] == "3" and run.data.params["window"] == "4"
    logged = run.data.metrics
    for name, value in flat_metrics(metrics).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            assert logged[name] == pytest.approx(value, rel=0, abs=0), name
    assert set(QLIB_NAMES) <= set(logged)
    for qlib, ours in QLIB_NAMES.items():
        assert logged[qlib] == metrics[ours], qlib
    assert logged["1day.excess_return_with_cost.annualized_return"] == metrics["qlib_excess_annual_return"]
    client = tracked["client"]
    ic = pd.read_parquet(folder / "ic.parquet").sort_values("date").reset_index(drop=True)
    history = sorted(client.get_metric_history(run.info.run_id, "rank_ic_by_date"), key=lambda m: m.step)
    assert [m.step for m in history] == list(range(len(ic)))
    assert [m.value for m in history] == ic["rank_ic"].tolist()
    assert [m.timestamp for m in history] == [int(d.value // 1_000_000) for d in ic["date"]]
    assert [m.value for m in client.get_metric_history(run.info.run_id, "retrain_seconds")] == \
        metrics["retrain_seconds"]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.json", "metrics.json", "ic.parquet", "report.html"} <= artifacts and ".lock" not in artifacts
    tags = run.data.tags
    assert tags["seqalpha.strategy_file"] == str(tracked["strategy"].resolve())
    assert tags["seqalpha.data_digest"] == config["data_digest"]
    assert tags["seqalpha.code.strategy"] == config["code"]["strategy"] and tags["seqalpha.version"]
    assert not [k for k in config if "track" in k] and "mlflow" not in json.dumps(config)  # config.json never names it


@pytest.mark.slow
def test_a_sweep_is_a_parent_with_one_child_per_point_and_seed(tracked):
    sweep_dir = tracked["root"] / "sweep"
    parent = _by_tag(tracked["runs"], "seqalpha.sweep_dir", str(sweep_dir))
    assert parent.data.tags["seqalpha.kind"] == "sweep" and parent.info.status == "FINISHED"
    assert parent.data.params["grid.window"] == "[3, 4]" and parent.data.params["seeds"] == "[0, 1]"
    children = [r for r in tracked["runs"] if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    results = pd.read_parquet(sweep_dir / "results.parquet")
    assert sorted(r.info.run_name for r in children) == sorted(results["run_dir"])  # 4: 2 points x 2 seeds
    assert len(children) == 4
    for child in children:
        row = results[results["run_dir"] == child.info.run_name].iloc[0]
        assert child.data.params["window"] == str(row["window"]) and child.data.params["seed"] == str(row["seed"])
        assert child.data.metrics["rank_ic"] == row["rank_ic"] and child.data.metrics["Rank IC"] == row["rank_ic"]
    files = {a.path for a in tracked["client"].list_artifacts(parent.info.run_id)}
    assert {"results.parquet", "summary.md", "report.html"} <= files


@pytest.mark.slow
def test_no_track_and_no_variable_tracks_nothing_and_the_variable_tracks(tracked, tmp_path, monkeypatch):
    """Without --track or $SEQALPHA_TRACKING_URI nothing is tracked (no store is made, not even the default one);
    the variable alone tracks to its store; a tracked run's numbers equal an untracked one's."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert open_tracker(None) is None
    assert main(["run", str(tracked["strategy"]), "--out", str(tmp_path / "plain"), "-q"]) == 0
    assert not list(tmp_path.rglob("*.db")) and not (tmp_path / "runs").exists()
    client = tracked["client"]
    experiment = client.get_experiment_by_name("TinyTracked").experiment_id
    assert not client.search_runs([experiment], f"tags.`seqalpha.run_dir` = '{tmp_path / 'plain'}'")
    plain = json.loads((tmp_path / "plain" / "metrics.json").read_text())
    tracked_metrics = json.loads((tracked["root"] / "run" / "metrics.json").read_text())
    assert {k: v for k, v in plain.items() if k not in TIMING} == \
        {k: v for k, v in tracked_metrics.items() if k not in TIMING}  # tracking changes no number

    monkeypatch.setenv(ENV_VAR, tracked["uri"])
    assert main(["run", str(tracked["strategy"]), "--out", str(tmp_path / "by_env"), "-q"]) == 0
    found = client.search_runs([experiment], f"tags.`seqalpha.run_dir` = '{tmp_path / 'by_env'}'")
    assert len(found) == 1 and found[0].data.metrics["ic"] == tracked_metrics["ic"]


@pytest.mark.slow
def test_a_server_that_is_down_warns_once_and_the_run_completes(tracked, tmp_path, capsys):
    """A tracking server that refuses connections: the run finishes and writes its folder, exit 0, and the user
    reads one warning (with the password of the URI redacted), quickly (no retries for minutes)."""
    t0 = time.perf_counter()
    rc = main(["run", str(tracked["strategy"]), "--out", str(tmp_path / "down"), "-q",
               "--track", "http://user:hunter2@127.0.0.1:9"])
    elapsed = time.perf_counter() - t0
    err = capsys.readouterr().err
    assert rc == 0 and (tmp_path / "down" / "metrics.json").is_file()
    assert err.count("TrackingWarning") == 1 and "127.0.0.1:9" in err and "hunter2" not in err, err
    assert elapsed < 30, elapsed


@pytest.mark.slow
def test_a_failing_store_in_a_sweep_or_an_unwritable_store_is_one_warning(tracked, tmp_path):
    """Down server in a sweep: one warning for the parent and both children; an SQLite store in a folder that cannot
    be made: one warning; the runs complete either way."""
    from seqalpha.sweep import sweep
    from seqalpha.tracking import Tracker, TrackingPlugin, TrackingWarning

    cls, _ = load_strategy_file(tracked["strategy"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = sweep(cls, seeds=[0, 1], out=tmp_path / "sweep", tracker=Tracker("http://127.0.0.1:9"))
    assert list(result.table["status"]) == ["ok", "ok"]
    assert sum(issubclass(w.category, TrackingWarning) for w in caught) == 1

    blocker = tmp_path / "a_file"
    blocker.write_text("")  # a store "inside" a file: its folder cannot be made
    plugin = TrackingPlugin(f"sqlite:///{blocker / 'mlflow.db'}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_backtest(cls, out=tmp_path / "unwritable", plugins=[plugin], progress=False)
    assert (tmp_path / "unwritable" / "metrics.json").is_file() and plugin.run_id is None
    assert [str(w.message)[:30] for w in caught if issubclass(w.category, TrackingWarning)] == \
        ["MLflow tracking to sqlite:////"]


def test_track_options_and_a_missing_mlflow(tmp_path, monkeypatch, capsys):
    """A bare --track is the SQLite default made absolute (or the variable's store); a word that is no URI is refused
    in one line; a URI's password is redacted; without mlflow, --track is one line naming the pip command."""
    assert tracking_uri("", {}, cwd=tmp_path) == f"sqlite:///{tmp_path.resolve() / 'runs' / 'mlflow.db'}"
    assert DEFAULT_URI == "sqlite:///runs/mlflow.db"
    assert tracking_uri("", {ENV_VAR: "http://host:5000"}) == "http://host:5000"
    assert tracking_uri("http://other:1", {ENV_VAR: "http://host:5000"}) == "http://other:1"
    assert tracking_uri(None, {ENV_VAR: " "}) is None
    with pytest.raises(TrackingError, match="not a tracking URI"):
        tracking_uri("strategy.py", {})
    assert redact("https://me:pa55@mlflow.example.com/path") == "https://me:***@mlflow.example.com/path"
    assert redact("sqlite:////abs/mlflow.db") == "sqlite:////abs/mlflow.db"

    import seqalpha.tracking.settings as settings

    monkeypatch.setattr(settings, "mlflow_installed", lambda: False)
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert main(["run", str(tmp_path / "any.py"), "--track"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install 'seqalpha[mlflow]'" in err, err


def test_parameters_flatten_and_truncate_to_mlflows_limits():
    flat = flatten({"model_params": {"hidden_size": 8, "opt": {"lr": 0.01}}, "empty": {}, "seeds": [1, 2],
                    "long": "x" * 10_000, "none": None, "bad key$": 1})
    assert flat["model_params.hidden_size"] == "8" and flat["model_params.opt.lr"] == "0.01"
    assert flat["empty"] == "{}" and flat["seeds"] == "[1, 2]" and flat["none"] == "null"
    assert len(flat["long"]) == MAX_PARAM_VALUE and flat["long"].endswith("...")
    assert flat["bad key_"] == "1"


def test_open_tracker_never_reads_the_environment_unless_given(monkeypatch):
    """open_tracker reads $SEQALPHA_TRACKING_URI from the mapping it is given (the client's os.environ by default),
    and never writes the environment."""
    monkeypatch.setenv(ENV_VAR, "http://127.0.0.1:9")
    before = dict(os.environ)
    tracker = open_tracker(None)
    assert tracker is not None and tracker.uri == "http://127.0.0.1:9"
    assert open_tracker(None, {}) is None
    assert dict(os.environ) == before


@pytest.mark.slow
def test_on_a_dask_cluster_only_the_client_writes_the_store(tracked, tmp_path, dask_scheduler):
    """`sweep --scheduler` and `run --scheduler` with --track: every child is logged, by the client as its row or
    run comes back; no worker process ever imports mlflow (so a shared SQLite store has one writer)."""
    from distributed import Client

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    strategy = str(tracked["strategy"])
    assert main(["sweep", strategy, "--seeds", "0,1", "--out", str(tmp_path / "sweep"), "--scheduler", dask_scheduler,
                 "--track", uri]) == 0
    assert main(["run", strategy, "--out", str(tmp_path / "run"), "-q", "--scheduler", dask_scheduler,
                 "--track", uri]) == 0
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("TinyTracked").experiment_id])
    parent = _by_tag(runs, "seqalpha.sweep_dir", str(tmp_path / "sweep"))
    assert sorted(r.info.run_name for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id) == \
        ["seed=0", "seed=1"]
    run = _by_tag(runs, "seqalpha.run_dir", str(tmp_path / "run"))
    assert run.data.metrics["rank_ic"] == json.loads((tmp_path / "run" / "metrics.json").read_text())["rank_ic"]
    with Client(dask_scheduler) as dask:
        assert not any(dask.run(lambda: "mlflow" in __import__("sys").modules).values())


@pytest.mark.slow
def test_the_study_api_for_searches_logs_trials_and_their_runs(tracked):
    """What `seqalpha tune` uses: a parent run (study) whose children are trials (parameters and objective values)
    with finished run folders as grandchildren; FAILED trials are kept; without a tracker every call is a no-op."""
    from seqalpha.tracking import Tracker, study

    with study(None, "nothing", "TinyTracked") as off:
        assert off.log_trial("t0", {"lr": 0.1}, {"objective": 1.0}) is None and off.log_run(tracked["root"]) is None
    tracker = Tracker(tracked["uri"])
    with study(tracker, "search-1", "TinyTracked", params={"space": {"window": "int(3,8)"}, "trials": 2},
               tags={"seqalpha.kind": "tune"}) as parent:
        ok = parent.log_trial("trial-0", {"window": 4, "model_params": {"alpha": 0.5}},
                              {"objective": 0.05, "rank_ic.seed0": 0.04, "missing": None})
        grandchild = parent.log_run(tracked["root"] / "run", name="trial-0/seed=0", parent=ok)
        failed = parent.log_trial("trial-1", {"window": 99}, status="FAILED", tags={"seqalpha.error": "boom"})
        parent.log_metrics({"best_objective": 0.05}, step=0)
    client = tracked["client"]
    assert client.get_run(parent.run_id).info.status == "FINISHED"
    assert client.get_run(parent.run_id).data.params == {"space.window": "int(3,8)", "trials": "2"}
    trial = client.get_run(ok)
    assert trial.data.tags["mlflow.parentRunId"] == parent.run_id and trial.data.params["model_params.alpha"] == "0.5"
    assert trial.data.metrics == {"objective": 0.05, "rank_ic.seed0": 0.04}
    assert client.get_run(grandchild).data.tags["mlflow.parentRunId"] == ok
    assert client.get_run(failed).info.status == "FAILED"
    assert client.get_run(parent.run_id).data.metrics["best_objective"] == 0.05


@pytest.mark.slow
def test_seqalpha_tune_tracks_a_parent_with_trials_and_their_runs(tracked, tmp_path):
    """`seqalpha tune --track`: the search is a parent run (its settings as parameters, the best objective, the
    tune folder's files), each trial a child (values, per-seed and mean objective) whose runs are grandchildren;
    the objective logged equals trials.parquet's."""
    from tests.test_tune import SELECT, STRATEGY

    strategy = tmp_path / "lagged.py"
    strategy.write_text(STRATEGY)
    out = tmp_path / "search"
    assert main(["tune", str(strategy), "--space", "window=int(19,24)", "--trials", "2", "--seeds", "0",
                 "--select", SELECT, "--out", str(out), "--track", tracked["uri"]]) == 0
    client = tracked["client"]
    experiment = client.get_experiment_by_name("Lagged")
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    parent = _by_tag(runs, "seqalpha.kind", "tune")
    assert parent.info.status == "FINISHED" and parent.data.params["trials"] == "2"
    trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    table = pd.read_parquet(out / "trials.parquet")
    assert len(trials) == 2
    for trial in trials:
        number = int(trial.data.tags["seqalpha.trial"])
        row = table[table["number"] == number].iloc[0]
        assert trial.data.params["window"] == str(int(row["window"]))
        assert trial.data.metrics["objective"] == pytest.approx(row["rank_ic mean"], abs=0, rel=1e-12)
        runs_of_trial = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == trial.info.run_id]
        assert len(runs_of_trial) == 1 and runs_of_trial[0].data.metrics["rank_ic"] == trial.data.metrics["objective"]
    assert parent.data.metrics["best_objective"] == table["rank_ic mean"].max()
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"trials.parquet", "best.py", "summary.md", "report.html"} <= artifacts
