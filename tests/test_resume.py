"""Resumable runs: a run killed after a finished retrain resumes from its checkpoint and ends with the same numbers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seqalpha import Model, Strategy, hookimpl, run_backtest
from seqalpha.backtest.checkpoint import Checkpoint, CheckpointMismatch
from seqalpha.cli import main

ROOT = Path(__file__).resolve().parents[1]

STRATEGY = textwrap.dedent('''
    """A tiny LSTM run with an observer that SIGKILLs its own process at the Nth model_trained call."""
    import os
    import signal

    from seqalpha import Strategy, hookimpl

    _calls = [0]


    @hookimpl
    def model_trained(strategy, date, model, n_train, n_valid, seconds):
        _calls[0] += 1
        if _calls[0] == int(os.environ.get("SEQALPHA_TEST_KILL_AT", "0")):
            os.kill(os.getpid(), signal.SIGKILL)


    class Killable(Strategy):
        data = "synthetic?assets=12&days=200"
        model = "lstm"
        model_params = {"hidden_size": 8, "epochs": 2, "patience": 1, "batch_size": 256}
        window = 8
        horizon = 1
        rebalance = "W"
        retrain = "MS"
        min_train_bars = 80
        portfolio_params = {"k": 3}
''')

COMPARED = ["scores", "weights", "returns", "ic", "rebalances"]


def _cli(strategy_file: Path, out: Path, cache: Path, *extra: str, kill_at: int = 0) -> subprocess.CompletedProcess:
    env = {**os.environ, "SEQALPHA_CACHE_DIR": str(cache), "SEQALPHA_TEST_KILL_AT": str(kill_at),
           "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "seqalpha.cli", "run", str(strategy_file), "--out", str(out), "-q",
                           *extra], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def _numbers(run_dir: Path) -> dict:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {k: v for k, v in metrics.items() if k not in ("seconds", "retrain_seconds", "n_cache_hits")}


@pytest.mark.slow
def test_sigkilled_run_resumes_to_the_same_numbers(tmp_path, monkeypatch, capsys):
    """Killed with SIGKILL after its second retrain, then `--resume`d, in processes of their own; the run that was
    never stopped goes in this process (the same command, and the same numbers as in a process of its own)."""
    strategy = tmp_path / "killable.py"
    strategy.write_text(STRATEGY)
    monkeypatch.setenv("SEQALPHA_CACHE_DIR", str(tmp_path / "cache_whole"))
    assert main(["run", str(strategy), "--out", str(tmp_path / "whole"), "-q"]) == 0, capsys.readouterr().err

    killed = _cli(strategy, tmp_path / "killed", tmp_path / "cache_killed", kill_at=2)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    run_dir = tmp_path / "killed"
    assert not (run_dir / "metrics.json").exists()
    assert [p.name for p in (run_dir / "checkpoint").glob("segment-*.state")] == ["segment-00000.state"]

    resumed = _cli(strategy, run_dir, tmp_path / "cache_killed", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert _numbers(run_dir) == _numbers(tmp_path / "whole")
    for table in COMPARED:
        pd.testing.assert_frame_equal(pd.read_parquet(run_dir / f"{table}.parquet"),
                                      pd.read_parquet(tmp_path / "whole" / f"{table}.parquet"), obj=table)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["n_cache_hits"] == 1  # the retrain that finished just before the kill was not fitted again
    config = json.loads((run_dir / "config.json").read_text())
    assert config["resumed_at"] is not None
    assert not (run_dir / "checkpoint").exists()  # a finished run leaves no checkpoint


# ---- in process: faster checks of the same machinery ------------------------------------------------



class LastStep(Model):
    defaults = {"seed": 0}

    def fit(self, train, valid):
        x = train.last_step()
        self.coef = np.linalg.lstsq(np.c_[x, np.ones(len(x))], train.targets, rcond=None)[0]
        return {}

    def predict(self, samples):
        return np.c_[samples.last_step(), np.ones(len(samples))] @ self.coef


class Interrupt:
    """Raises KeyboardInterrupt (Ctrl-C) at the Nth model_trained call."""

    def __init__(self, at: int) -> None:
        self.at, self.calls = at, 0

    @hookimpl
    def register_models(self, register):
        register("last_step_lstsq", LastStep)

    @hookimpl
    def model_trained(self, strategy, date, model, n_train, n_valid, seconds):
        self.calls += 1
        if self.calls == self.at:
            raise KeyboardInterrupt


class Quick(Strategy):
    data = "synthetic?assets=16&days=240"
    model = "last_step_lstsq"
    window = 5
    horizon = 1
    rebalance = "W"
    retrain = "MS"
    min_train_bars = 60
    portfolio_params = {"k": 4}


def _tables(res):
    return {t: getattr(res, t) for t in COMPARED}


@pytest.mark.parametrize("stop_at", [2, 4])
def test_interrupted_run_resumes_in_process(tmp_path, stop_at):
    whole = run_backtest(Quick, plugins=[Interrupt(0)], progress=False, out=tmp_path / "whole")
    with pytest.raises(KeyboardInterrupt):
        run_backtest(Quick, plugins=[Interrupt(stop_at)], progress=False, out=tmp_path / "cut")
    segments = sorted((tmp_path / "cut" / "checkpoint").glob("segment-*.state"))
    assert len(segments) == stop_at - 1
    resumed = run_backtest(Quick, plugins=[Interrupt(0)], progress=False, out=tmp_path / "cut", resume=True)
    assert resumed.config["resumed_at"] is not None
    for name, table in _tables(whole).items():
        pd.testing.assert_frame_equal(table, _tables(resumed)[name], obj=name)
    keep = [k for k in whole.metrics if k not in ("seconds", "retrain_seconds", "n_cache_hits")]
    assert {k: resumed.metrics[k] for k in keep} == pytest.approx({k: whole.metrics[k] for k in keep}, nan_ok=True)


def test_resume_refuses_another_configuration(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        run_backtest(Quick, plugins=[Interrupt(3)], progress=False, out=tmp_path / "cut")
    with pytest.raises(CheckpointMismatch, match="another configuration"):
        run_backtest(Quick, plugins=[Interrupt(0)], progress=False, out=tmp_path / "cut", resume=True, window=6)


def test_resume_without_checkpoint_starts_over_and_needs_a_run_dir(tmp_path):
    res = run_backtest(Quick, plugins=[Interrupt(0)], progress=False, out=tmp_path / "fresh", resume=True)
    assert res.config["resumed_at"] is None
    with pytest.raises(ValueError, match="out="):
        run_backtest(Quick, plugins=[Interrupt(0)], progress=False, resume=True)


def test_a_half_written_segment_is_never_read(tmp_path):
    ckpt = Checkpoint(tmp_path, "fp")
    ckpt.save(10, {"rows": [1, 2], "now": "a"})
    ckpt.save(20, {"rows": [1, 2, 3], "now": "b"})
    (tmp_path / ".segment-00002.state.x.tmp").write_bytes(b"\x80half")  # a write killed before its rename
    loaded = Checkpoint(tmp_path, "fp").load()
    assert loaded == (20, {"rows": [1, 2, 3], "now": "b"})
    with pytest.raises(CheckpointMismatch):
        Checkpoint(tmp_path, "other").load()


def test_cli_resume_defaults_to_the_latest_run_of_the_strategy(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    strategy = tmp_path / "quick.py"
    strategy.write_text("from tests.test_resume import Quick as _Q\n\nclass QuickCli(_Q):\n    model = 'linear'\n")
    monkeypatch.syspath_prepend(str(ROOT))
    assert main(["run", str(strategy), "--resume", "-q"]) == 2
    assert "no run directory" in capsys.readouterr().err
    (tmp_path / "runs" / "QuickCli-20200101-000000").mkdir(parents=True)
    (tmp_path / "runs" / "QuickCli-20240101-000000").mkdir(parents=True)
    assert main(["run", str(strategy), "--resume", "-q"]) == 0
    assert (tmp_path / "runs" / "QuickCli-20240101-000000" / "metrics.json").exists()
    assert not (tmp_path / "runs" / "QuickCli-20200101-000000" / "metrics.json").exists()
