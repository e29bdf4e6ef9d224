"""Plugins: built-ins through the same hooks, entry points, strategy-file hookimpls, clear errors."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from seqalpha import Strategy, StrategyError, hookimpl, load_strategy_file, run_backtest
from seqalpha.builtin_plugins import DEFAULT_PLUGINS
from seqalpha.builtin_plugins.linear import LastStepRidge
from seqalpha.plugins import collect_registries
from seqalpha.registry import RegistryError

ROOT = Path(__file__).resolve().parents[1]


def test_builtins_are_registered_through_hooks():
    reg = collect_registries()
    assert {"rnn", "lstm", "gru", "linear"} <= set(reg.models.names())
    assert {"topk", "topk_dropout", "long_short"} <= set(reg.portfolios.names())
    assert {"synthetic", "parquet", "csv"} <= set(reg.data_sources.names())
    assert reg.models.get("lstm").plugin == "seqalpha.builtin_plugins.recurrent"
    assert all(m.startswith("seqalpha.builtin_plugins.") for m in DEFAULT_PLUGINS)


def test_duplicate_name_is_rejected_naming_both_plugins(register_plugin):
    class Dup:
        @staticmethod
        @hookimpl
        def register_models(register):
            register("lstm", LastStepRidge)

    register_plugin(Dup, name="dup-plugin")
    with pytest.raises(RegistryError, match=r"'lstm' is registered twice: by plugin 'seqalpha.builtin_plugins.recurrent' and by plugin 'dup-plugin'"):
        collect_registries()


def test_unknown_model_says_did_you_mean():
    reg = collect_registries()
    with pytest.raises(RegistryError, match="Did you mean 'lstm'"):
        reg.models.get("lstn")


def test_bad_names_rejected(register_plugin):
    class Bad:
        @staticmethod
        @hookimpl
        def register_portfolios(register):
            register("has space", lambda: None)

    register_plugin(Bad, name="bad")
    with pytest.raises(RegistryError, match="names must be"):
        collect_registries()


def test_observer_hooks_fire_in_order(register_plugin):
    """started; then per bar: trained (at each retrain) before rebalanced (at each rebalance); finished last."""
    events = []

    class Observer:
        @staticmethod
        @hookimpl
        def backtest_started(strategy, panel):
            events.append(("started", None))

        @staticmethod
        @hookimpl
        def model_trained(strategy, date, model, n_train, n_valid, seconds):
            events.append(("trained", date))

        @staticmethod
        @hookimpl
        def rebalanced(strategy, date, scores, weights):
            events.append(("rebalanced", date))

        @staticmethod
        @hookimpl
        def backtest_finished(strategy, result):
            events.append(("finished", None))

    register_plugin(Observer, name="observer")

    class Tiny(Strategy):
        data = "synthetic?assets=12&days=200"
        model = "linear"
        window = 5
        min_train_bars = 60
        retrain = "QS"
        rebalance = "MS"

    res = run_backtest(Tiny, progress=False)
    retrain_dates = sorted({pd.Timestamp(d) for kind, d in events if kind == "trained"})
    assert len(retrain_dates) == res.metrics["n_retrains"] >= 2
    expected = sorted([(d, 0, "trained") for d in retrain_dates] +
                      [(d, 1, "rebalanced") for d in res.rebalances["date"]])
    assert events == [("started", None), *((kind, d) for d, _, kind in expected), ("finished", None)]


STRATEGY_WITH_MODEL = '''
import numpy as np
from seqalpha import Model, Strategy, hookimpl


class MeanReversion(Model):
    """Scores minus the last step's first factor."""

    def fit(self, train, valid):
        return {}

    def predict(self, samples):
        return -samples.features[samples.t, samples.i, 0].astype(float)


@hookimpl
def register_models(register):
    register("mean_reversion_in_file", MeanReversion)


class InFile(Strategy):
    data = "synthetic?assets=12&days=200"
    model = "mean_reversion_in_file"
    window = 5
    min_train_bars = 60
'''


def test_model_defined_in_strategy_file_is_used_for_that_run_only(tmp_path):
    path = tmp_path / "in_file.py"
    path.write_text(STRATEGY_WITH_MODEL)
    cls, module = load_strategy_file(path)
    res = run_backtest(cls, progress=False)
    assert res.config["params"]["model"] == "mean_reversion_in_file"
    assert "mean_reversion_in_file" not in collect_registries().models.names()


def _fake_distribution(site: Path, body: str, name: str = "seqalpha_fake") -> None:
    pkg = site / name
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(textwrap.dedent(body))
    dist = site / f"{name}-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[seqalpha]\nfake = {name}\n")


def _cli(args, site: Path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    return subprocess.run([sys.executable, "-m", "seqalpha.cli", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=120)


@pytest.mark.slow
def test_entry_point_plugin_is_discovered(tmp_path):
    _fake_distribution(tmp_path, '''
        from seqalpha import hookimpl
        from seqalpha.builtin_plugins.linear import LastStepRidge

        class FakeRidge(LastStepRidge):
            """A model from an installed package."""

        @hookimpl
        def register_models(register):
            register("fake_ridge", FakeRidge)
    ''')
    out = _cli(["models"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert "fake_ridge" in out.stdout and "fake" in out.stdout
    listing = _cli(["plugins"], tmp_path)
    assert "model fake_ridge" in listing.stdout


def test_plugin_that_fails_to_import_is_named_and_others_work(tmp_path):
    _fake_distribution(tmp_path, "raise ImportError('needs a missing library')\n", name="seqalpha_broken")
    out = _cli(["plugins"], tmp_path)
    assert out.returncode == 0
    assert "seqalpha_broken" in out.stderr and "needs a missing library" in out.stderr
    assert "FAILED TO IMPORT" in out.stdout
    assert "model lstm" in out.stdout


PROBE_STRATEGY = '''
import numpy as np
from seqalpha import Model, Strategy, hookimpl


class Probe(Model):
    """Scores {sign} x the last step of the first feature."""

    def fit(self, train, valid):  # two arguments: the plugin style before fit took a log callback
        return {{}}

    def predict(self, samples):
        return {sign} * samples.last_step()[:, 0].astype(np.float64)


@hookimpl
def register_models(register):
    register("probe", Probe)


class ProbeStrategy(Strategy):
    data = "synthetic?assets=20&days=260&seed=3"
    model = "probe"
    window = 5
    retrain = "QS"
    min_train_bars = 60
    normalize = "zscore"
'''


def test_two_runs_in_two_threads_each_get_their_own_plugins(tmp_path):
    """Two strategy files register different models under the same name 'probe'; run side by side in threads,
    each gets its own model, the same numbers as alone, and the process-wide manager is left untouched."""
    import threading

    from seqalpha.plugins import load_plugins

    files = []
    for name, sign in (("plus", 1.0), ("minus", -1.0)):
        path = tmp_path / f"probe_{name}.py"
        path.write_text(PROBE_STRATEGY.format(sign=sign))
        files.append(load_strategy_file(path)[0])
    alone = [run_backtest(cls, progress=False, cache=False).metrics for cls in files]
    assert alone[0]["ic"] == pytest.approx(-alone[1]["ic"]) and abs(alone[0]["ic"]) > 0.01  # the models differ
    before = load_plugins().list_name_plugin()
    together: dict[int, dict] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def worker(k):
        try:
            barrier.wait()
            together[k] = run_backtest(files[k], progress=False, cache=False).metrics
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in (0, 1)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    for k in (0, 1):
        for key in ("ic", "rank_ic", "sharpe", "annual_return"):
            assert together[k][key] == alone[k][key]
    assert load_plugins().list_name_plugin() == before


def test_registration_hooks_go_through_pluggy_ordering(register_plugin):
    """A tryfirst hookimpl is called before the others, as pluggy documents."""
    calls = []

    class Early:
        @staticmethod
        @hookimpl(tryfirst=True)
        def register_portfolios(register):
            calls.append("early")

    class Late:
        @staticmethod
        @hookimpl
        def register_portfolios(register):
            calls.append("late")

    register_plugin(Early, name="early-plugin")
    register_plugin(Late, name="late-plugin")
    collect_registries()
    assert calls == ["early", "late"]


# ---- factories named by import path ("package.module:Name"), imported on first use ------------------------

HEAVY_MODULE = '''
raise ImportError("this module is heavy: listing models must not import it")


class HeavyModel:
    """A model whose module is expensive to import."""
'''


def test_lazy_model_is_listed_without_importing_its_module(tmp_path):
    """`seqalpha models` shows a lazily registered model's docstring, read from source: its module (which
    raises if imported) is never imported."""
    _fake_distribution(tmp_path, '''
        from seqalpha import hookimpl

        @hookimpl
        def register_models(register):
            register("heavy", "seqalpha_lazyfake.heavy:HeavyModel")
    ''', name="seqalpha_lazyfake")
    (tmp_path / "seqalpha_lazyfake" / "heavy.py").write_text(HEAVY_MODULE)
    out = _cli(["models"], tmp_path)
    assert out.returncode == 0, out.stderr
    line = next(x for x in out.stdout.splitlines() if x.startswith("heavy "))
    assert line.split()[1] == "fake" and line.endswith("A model whose module is expensive to import.")
    assert "lstm" in out.stdout and "LSTM read at the last step" in out.stdout  # built-ins: lazy too


def test_lazy_factory_resolves_on_first_use_and_runs(register_plugin, tmp_path, monkeypatch):
    (tmp_path / "lazy_ridge_mod.py").write_text(textwrap.dedent('''
        from seqalpha.builtin_plugins.linear import LastStepRidge


        class LazyRidge(LastStepRidge):
            """Ridge, registered by import path."""
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))

    class Lazy:
        @staticmethod
        @hookimpl
        def register_models(register):
            register("lazy_ridge", "lazy_ridge_mod:LazyRidge")

    register_plugin(Lazy, name="lazy-plugin")
    entry = collect_registries().models.get("lazy_ridge")
    assert entry.lazy and entry.plugin == "lazy-plugin"
    assert entry.doc == "Ridge, registered by import path." and "lazy_ridge_mod" not in sys.modules
    assert entry.factory.__name__ == "LazyRidge" and entry.factory.defaults == {"alpha": 1.0} and not entry.lazy

    class Tiny(Strategy):
        data = "synthetic?assets=12&days=200"
        model = "lazy_ridge"
        model_params = {"alpha": 2.0}
        window = 5
        min_train_bars = 60

    res = run_backtest(Tiny, progress=False)
    assert res.config["params"]["model"] == "lazy_ridge" and res.metrics["n_retrains"] >= 1
    with pytest.raises(StrategyError, match=r"unknown model parameter\(s\) \['alhpa'\]"):  # defaults, resolved
        run_backtest(Tiny, progress=False, model_params={"alhpa": 1.0})


def test_lazy_factory_that_cannot_import_names_model_plugin_and_path(register_plugin):
    class Broken:
        @staticmethod
        @hookimpl
        def register_models(register):
            register("ghost", "no_such_module_xyz.models:Ghost")
            register("notcallable", "seqalpha.builtin_plugins.linear:__doc__")
            register("misspelt", "seqalpha.builtin_plugins.linear:LastStepRigde")

    register_plugin(Broken, name="broken-plugin")
    models = collect_registries().models
    with pytest.raises(RegistryError, match=r"model 'ghost' of plugin 'broken-plugin': cannot import "
                                            r"'no_such_module_xyz.models:Ghost': ModuleNotFoundError"):
        models.get("ghost").factory  # noqa: B018
    with pytest.raises(RegistryError, match="is a str, not a callable factory"):
        models.create("notcallable")
    with pytest.raises(RegistryError, match="model 'misspelt' of plugin 'broken-plugin': cannot import "
                                            "'seqalpha.builtin_plugins.linear:LastStepRigde': seqalpha.builtin_plugins.linear has no 'LastStepRigde'"):
        models.get("misspelt").factory  # noqa: B018
    assert models.get("ghost").doc.startswith("(cannot import:")

    class Tiny(Strategy):
        data = "synthetic?assets=12&days=200"
        model = "ghost"

    with pytest.raises(RegistryError, match="cannot import 'no_such_module_xyz.models:Ghost'"):
        run_backtest(Tiny, progress=False)


@pytest.mark.parametrize("bad", ["seqalpha.builtin_plugins.linear.LastStepRidge", "seqalpha.builtin_plugins.linear:", ":Name", "a b:C", ""])
def test_malformed_import_path_is_refused_at_registration(register_plugin, bad):
    class Bad:
        @staticmethod
        @hookimpl
        def register_models(register):
            register("bad_path", bad)

    register_plugin(Bad, name="bad-path-plugin")
    with pytest.raises(RegistryError, match=r"plugin 'bad-path-plugin' registered model 'bad_path' as .*"
                                            r"'package.module:Name'"):
        collect_registries()
