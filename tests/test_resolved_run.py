"""One resolved run for every entry point (framework/resolved.py): the seams it fixes, each with a test that failed
before it existed: warm-start resume, --force and cache=False on --workers, sweep resume with a callable, relative
sweep folders on a cluster, plugin code versions, a subclassed strategy's hooks, group-readable run files."""

from __future__ import annotations

import json
import linecache
import os
import signal
import stat
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from seqalpha import Strategy, load_strategy_file, run_backtest
from seqalpha.canonical import canonical, dumps
from seqalpha.cli import main
from seqalpha.resolved import resolve_run
from tests.test_resume import STRATEGY as KILLABLE
from tests.test_resume import _cli
from tests.test_sweep import STRATEGY as TINY_SWEEP

ROOT = Path(__file__).resolve().parents[1]

def _warm_variant(source: str) -> str:
    """test_resume's killable strategy, warm-started, and able to raise Ctrl-C (KeyboardInterrupt) in process."""
    swaps = [('"batch_size": 256}', '"batch_size": 256, "warm_start": True}'), ("days=200", "days=220"),
             ("class Killable", "class WarmKillable"),
             ("        os.kill(os.getpid(), signal.SIGKILL)\n",
              "        os.kill(os.getpid(), signal.SIGKILL)\n"
              "    if _calls[0] == int(os.environ.get(\"SEQALPHA_TEST_INTERRUPT_AT\", \"0\")):\n"
              "        raise KeyboardInterrupt\n")]
    for old, new in swaps:
        assert source.count(old) == 1, old
        source = source.replace(old, new)
    return source


WARM = _warm_variant(KILLABLE)

TIMING = ("seconds", "retrain_seconds", "n_cache_hits")


def _metrics(run_dir: Path) -> dict:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {k: v for k, v in metrics.items() if k not in TIMING}


@pytest.fixture(scope="module")
def warm_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("warm") / "warm_killable.py"
    path.write_text(WARM)
    return path


@pytest.mark.slow
def test_warm_start_killed_and_resumed_gives_bitwise_the_same_run(warm_file, tmp_path, monkeypatch, capsys):
    """The warm-start chain is in the checkpoint: the first refit after --resume starts from the same model, under
    the same cache key, as in the run that was never stopped (it used to start cold: other numbers, exit 0). The
    uninterrupted run goes in this process (the same command); the killed one and its resume in their own."""
    monkeypatch.setenv("SEQALPHA_CACHE_DIR", str(tmp_path / "cache_whole"))
    assert main(["run", str(warm_file), "--out", str(tmp_path / "whole"), "-q"]) == 0, capsys.readouterr().err
    killed = _cli(warm_file, tmp_path / "killed", tmp_path / "cache_killed", kill_at=3)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    resumed = _cli(warm_file, tmp_path / "killed", tmp_path / "cache_killed", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    a, b = tmp_path / "whole", tmp_path / "killed"
    assert json.loads((b / "config.json").read_text())["resumed_at"] is not None
    assert (a / "scores.parquet").read_bytes() == (b / "scores.parquet").read_bytes()
    assert _metrics(a) == _metrics(b)


def test_warm_start_resume_without_the_cache_continues_the_chain(warm_file, tmp_path, monkeypatch):
    """The same with cache=False, in process (Ctrl-C at the third retrain, then resume)."""
    cls, module = load_strategy_file(warm_file)
    whole = run_backtest(cls, progress=False, out=tmp_path / "whole", cache=False)
    monkeypatch.setenv("SEQALPHA_TEST_INTERRUPT_AT", "3")
    module._calls[0] = 0
    with pytest.raises(KeyboardInterrupt):
        run_backtest(cls, progress=False, out=tmp_path / "cut", cache=False)
    assert list((tmp_path / "cut" / "checkpoint" / "warm").iterdir())  # the chain's last models are kept
    monkeypatch.setenv("SEQALPHA_TEST_INTERRUPT_AT", "0")
    resumed = run_backtest(cls, progress=False, out=tmp_path / "cut", cache=False, resume=True)
    assert resumed.config["resumed_at"] is not None
    pd.testing.assert_frame_equal(whole.scores, resumed.scores)
    assert {k: v for k, v in resumed.metrics.items() if k not in TIMING} == pytest.approx(
        {k: v for k, v in whole.metrics.items() if k not in TIMING}, nan_ok=True)


# ---- --workers ----------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_workers_honour_force_and_record_cache_false(tmp_path, capsys, dask_scheduler):
    """`run --workers 2 --force` (here on the shared cluster through `--scheduler`: the same fan-out) over a folder
    holding a checkpoint discards it (--force used to be dropped on this path, so every model was fitted and then
    the run refused); `--set cache=False` is recorded as cache: false (the fan-out used to force cache=True into
    the strategy) and nothing is left in the process environment (a cluster of our own: test_sweep's
    test_run_with_workers_equals_a_serial_run_and_records_threads)."""
    path = tmp_path / "tiny_fanout.py"
    path.write_text(TINY_SWEEP)  # test_sweep's tiny strategy (its kill hook is off without its variable)
    out = tmp_path / "run"
    (out / "checkpoint").mkdir(parents=True)
    (out / "checkpoint" / "segment-00000.pkl").write_bytes(b"an unfinished run's checkpoint")
    before = dict(os.environ)
    code = main(["run", str(path), "--out", str(out), "-q", "--scheduler", dask_scheduler, "--force", "--set",
                 "cache=False"])
    assert code == 0, capsys.readouterr().err
    config = json.loads((out / "config.json").read_text())
    assert config["params"]["cache"] is False and config["cache"] is False
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_cache_hits"] == metrics["n_model_fits"] >= 1  # every model came from the workers' fits
    assert not (out / "checkpoint").exists()
    assert dict(os.environ) == before


# ---- sweeps -------------------------------------------------------------------------------------------------
def rank_gap_loss(pred, target, dates):
    """A callable loss, as docs/training.md documents them."""
    return ((pred - target) ** 2).mean()


class CallableLoss(Strategy):
    data = "synthetic?assets=10&days=160&seed=2"
    model = "lstm"
    model_params = {"hidden_size": 4, "epochs": 1, "patience": 1, "batch_size": 256, "loss": rank_gap_loss}
    window = 5
    horizon = 1
    rebalance = "W"
    retrain = None
    min_train_bars = 70
    portfolio_params = {"k": 3}


def test_a_sweep_with_a_callable_parameter_resumes_without_rerunning(tmp_path):
    from seqalpha.sweep import sweep

    first = sweep(CallableLoss, seeds=[0], out=tmp_path / "sw")
    assert list(first.table["status"]) == ["ok"]
    said: list[str] = []
    again = sweep(CallableLoss, seeds=[0], out=tmp_path / "sw", resume=True, progress=said.append)
    assert any("1 of 1 runs already complete" in line for line in said), said
    assert not any(line.startswith("run 1/") for line in said)  # nothing was run again
    assert list(again.table["status"]) == ["ok"]
    config = json.loads((tmp_path / "sw" / "seed=0" / "config.json").read_text())
    loss = config["params"]["model_params"]["loss"]
    assert loss["callable"] == "rank_gap_loss" and len(loss["source"]) == 64  # never "<function ... at 0x...>"


def test_a_sweep_folder_is_absolute_for_the_workers(tmp_path, monkeypatch):
    """A relative --out is made absolute on the client, so a hand-started worker in another working directory
    writes its runs where the client reads results.parquet (they used to land in the worker's directory)."""
    from seqalpha.sweep import runner

    seen = []
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(runner, "run_task", lambda task, *a: seen.append(task.out) or {
        **task.extra, "status": "failed", "error": "stub", "worker": "w", "wall_seconds": 0.0,
        "run_dir": task.name, "threads": task.threads})
    runner.sweep(CallableLoss, seeds=[0, 1], out="relative/sweep")  # every run "fails": only the paths matter
    assert seen and all(Path(p).is_absolute() and Path(p).parent == tmp_path / "relative" / "sweep" for p in seen)


# ---- code versions ------------------------------------------------------------------------------------------
PLUGIN = textwrap.dedent('''
    import numpy as np
    from seqalpha import Model, hookimpl


    class ConstantModel(Model):
        """Scores every sample by its last feature."""
        defaults = {"scale": 1.0}

        def fit(self, train, valid):
            return {}

        def predict(self, samples):
            return samples.last_step()[:, 0] * self.params["scale"]


    @hookimpl
    def register_models(register):
        register("constant_plugin", ConstantModel)
''')


def _import(path: Path, name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_a_plugin_has_one_code_version_wherever_it_is_installed(tmp_path, monkeypatch):
    """The same plugin source loaded from a folder and from under the Python installation (site-packages) has one
    code version, so the model cache hits either way, and editing the installed copy changes it. (site-packages
    lies under the standard library's folder and used to be taken for it: an installed plugin's source was left
    out, and edits gave stale cache hits.)"""
    from seqalpha.model import cache

    lib = tmp_path / "lib" / "python3.11"
    monkeypatch.setattr(cache, "_STDLIB", str(lib), raising=False)  # where the old code looked for the stdlib
    folder, installed = tmp_path / "folder", lib / "site-packages" / "seqalpha_plug"
    folder.mkdir()
    installed.mkdir(parents=True)
    (folder / "plug.py").write_text(PLUGIN)
    (installed / "__init__.py").write_text(PLUGIN)
    a = _import(folder / "plug.py", "plug_from_folder")
    b = _import(installed / "__init__.py", "seqalpha_plug_installed")
    installed_version = cache.code_version(b.ConstantModel)
    assert cache.code_version(a.ConstantModel) == installed_version is not None
    (installed / "__init__.py").write_text(PLUGIN.replace("* self.params", "* 2 * self.params"))
    linecache.clearcache()  # as a new process would read the edited file
    c = _import(installed / "__init__.py", "seqalpha_plug_edited")
    assert cache.code_version(c.ConstantModel) != installed_version


def test_the_strategy_code_version_covers_modules_it_imports(tmp_path):
    """Editing a helper module that the strategy file imports changes the run's identity (so the checkpoint and
    the caches see it)."""
    (tmp_path / "my_signals.py").write_text("LOOKBACK = 5\n\ndef lookback():\n    return LOOKBACK\n")
    (tmp_path / "uses_helper.py").write_text(textwrap.dedent('''
        import my_signals
        from seqalpha import Strategy


        class UsesHelper(Strategy):
            model = "linear"
            window = 5
    '''))
    sys.path.insert(0, str(tmp_path))
    try:
        cls, _ = load_strategy_file(tmp_path / "uses_helper.py")
        before = resolve_run(cls).identity_digest(with_data=False)
        (tmp_path / "my_signals.py").write_text("LOOKBACK = 6\n\ndef lookback():\n    return LOOKBACK\n")
        sys.modules.pop("my_signals", None)
        cls, _ = load_strategy_file(tmp_path / "uses_helper.py")
        after = resolve_run(cls).identity_digest(with_data=False)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("my_signals", None)
    assert before != after


# ---- strategies -----------------------------------------------------------------------------------------
def test_a_subclassed_strategy_keeps_its_parents_hooks(tmp_path):
    """A strategy subclassing another file's strategy keeps the parent file's @hookimpl functions (they were
    silently lost: the parent's model was 'unknown')."""
    (tmp_path / "parent_strategy.py").write_text(PLUGIN + textwrap.dedent('''

        from seqalpha import Strategy


        class Parent(Strategy):
            data = "synthetic?assets=10&days=160&seed=3"
            model = "constant_plugin"
            window = 5
            horizon = 1
            retrain = None
            min_train_bars = 70
            portfolio_params = {"k": 3}
    '''))
    (tmp_path / "child_strategy.py").write_text(textwrap.dedent('''
        from parent_strategy import Parent


        class Child(Parent):
            rebalance = "MS"
    '''))
    sys.path.insert(0, str(tmp_path))
    try:
        cls, _ = load_strategy_file(tmp_path / "child_strategy.py", "Child")
        run = resolve_run(cls)
        assert run.model_entry.name == "constant_plugin"
        result = run_backtest(cls, progress=False, cache=False)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("parent_strategy", None)
    assert result.metrics["n_rebalances"] >= 1


# ---- files --------------------------------------------------------------------------------------------------
class Tiny(Strategy):
    data = "synthetic?assets=10&days=160&seed=4"
    model = "linear"
    window = 5
    horizon = 1
    retrain = None
    min_train_bars = 70
    portfolio_params = {"k": 3}


def test_run_files_are_group_readable_under_umask_022(tmp_path):
    old = os.umask(0o022)
    try:
        run_backtest(Tiny, progress=False, out=tmp_path / "run", cache=False)
    finally:
        os.umask(old)
    files = [p for p in (tmp_path / "run").iterdir() if p.is_file() and not p.name.startswith(".")]
    assert {p.name for p in files} >= {"config.json", "metrics.json", "scores.parquet", "report.html"}
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) == 0o644, p.name


def test_config_json_is_the_resolved_run_and_has_no_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQALPHA_CACHE_KEY", "s3cret-key-never-written")
    res = run_backtest(Tiny, progress=False, out=tmp_path / "run")
    text = (tmp_path / "run" / "config.json").read_text()
    assert "s3cret-key-never-written" not in text
    config = json.loads(text)
    run = resolve_run(Tiny)
    assert config["identity"] == run.identity_digest(with_data=False)
    for key in ("model_params", "embargo", "members", "data_digest", "features", "threads", "code", "versions",
                "cache_dir"):
        assert key in config, key
    assert Path(config["cache_dir"]).is_absolute()
    assert config["features"]["names"] == res.config["features"]["names"]


def test_one_serialiser_for_callables_numbers_and_dates():
    value = {"b": (1, 2.0), "a": float("nan"), "f": rank_gap_loss, "d": pd.Timestamp("2020-01-02")}
    out = canonical(value)
    assert list(out) == ["a", "b", "d", "f"] and out["a"] is None and out["b"] == [1, 2.0]
    assert out["f"]["callable"] == "rank_gap_loss" and "0x" not in dumps(value)
    assert out["d"].startswith("2020-01-02")
