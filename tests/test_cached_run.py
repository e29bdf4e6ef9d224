"""A cached run never imports torch (docs/design.md, "The caches"): model cards, the lazily restored model, cached
scores and gradient flow, the parameter check recorded, torch's threads pinned when torch is loaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seqalpha import Strategy, run_backtest, safe_codec
from seqalpha.model import ModelCache, derived_cache
from seqalpha.model.card import CardFactory, card_key
from seqalpha.model.lazy_model import LazyModel
from seqalpha.resolved import resolve_run

ROOT = Path(__file__).resolve().parents[1]
TINY = {"hidden_size": 4, "epochs": 1, "patience": 1, "batch_size": 256}

STRATEGY = f'''
from seqalpha import Strategy


class TinyCached(Strategy):
    data = "synthetic?assets=12&days=160&seed=3"
    model = "lstm"
    model_params = {TINY!r}
    window = 5
    horizon = 2
    rebalance = "W"
    retrain = "2MS"
    min_train_bars = 60
    portfolio = "topk"
    portfolio_params = {{"k": 3}}
'''

PROBE = """
import sys
from seqalpha.cli import main
main(["run", sys.argv[1], "-q", "--out", sys.argv[2], "--force"])
print("HEAVY=" + ",".join(sorted(m for m in ("torch", "seqalpha.model.torch_sequence") if m in sys.modules)))
"""


def _env(cache: Path) -> dict:
    return {**os.environ, "SEQALPHA_CACHE_DIR": str(cache), "OMP_NUM_THREADS": "1",
            "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}


def _same_run(a: Path, b: Path) -> None:
    for name in ("scores.parquet", "gradient_flow.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(a / name), pd.read_parquet(b / name), check_exact=True)
    timing = {"seconds", "retrain_seconds", "n_cache_hits", "wall_seconds"}
    ma, mb = (json.loads((d / "metrics.json").read_text()) for d in (a, b))
    assert {k: v for k, v in ma.items() if k not in timing} == {k: v for k, v in mb.items() if k not in timing}


@pytest.mark.slow
def test_a_cached_run_imports_no_torch_and_gives_the_same_numbers(tmp_path, monkeypatch):
    """The second run of a torch strategy, in a new process, answers the lstm's defaults and code version from its
    card, loads its models without building them and reads each segment's scores and gradient flow from the cache:
    torch is never imported, and scores.parquet, gradient_flow.parquet and metrics.json (timings aside) are bitwise
    the first run's (made here, in this process)."""
    import importlib.util

    cache = tmp_path / "cache"
    strategy = tmp_path / "tiny_cached.py"
    strategy.write_text(STRATEGY)
    monkeypatch.setenv("SEQALPHA_CACHE_DIR", str(cache))
    spec = importlib.util.spec_from_file_location("tiny_cached_first", strategy)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    run_backtest(module.TinyCached, out=tmp_path / "r0")
    out = subprocess.run([sys.executable, "-c", PROBE, str(strategy), str(tmp_path / "r1")], cwd=tmp_path,
                         env=_env(cache), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    heavy = next(x for x in out.stdout.splitlines() if x.startswith("HEAVY=")).removeprefix("HEAVY=")
    assert heavy == ""  # the cached run never imports torch
    _same_run(tmp_path / "r0", tmp_path / "r1")


PLUGIN = '''
from seqalpha.hookspecs import hookimpl


@hookimpl
def register_models(register):
    register("tinylazy", "tinypkg.models:Tiny")
    register("tinycomputed", "tinypkg.models:Computed")
'''

MODELS = '''
import numpy as np

from seqalpha.model import Model

SCALE = 1.0


class Tiny(Model):
    """A mean of the last window step's features."""

    defaults = {"seed": 0, "scale": 1.0, "lags": [1, 2]}

    def fit(self, train, valid, log=None):
        return {}

    def predict(self, samples):
        return samples.windows(np.arange(len(samples)))[:, -1, :].mean(axis=1) * self.params["scale"] * SCALE


class Computed(Tiny):
    """Defaults computed when the module is imported: no card."""

    defaults = {**Tiny.defaults, "scale": float(len("ab"))}
'''


@pytest.fixture
def tiny_package(tmp_path, monkeypatch):
    """A plugin package on sys.path whose models are registered by import path; removed from sys.modules after."""
    pkg = tmp_path / "src" / "tinypkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "plugin.py").write_text(PLUGIN)
    (pkg / "models.py").write_text(MODELS)
    monkeypatch.syspath_prepend(str(pkg.parent))

    def fresh():  # what a new process would see
        for name in [m for m in sys.modules if m.split(".")[0] == "tinypkg"]:
            del sys.modules[name]
        import importlib

        importlib.invalidate_caches()
        return importlib.import_module("tinypkg.plugin")

    yield pkg, fresh
    for name in [m for m in sys.modules if m.split(".")[0] == "tinypkg"]:
        del sys.modules[name]


class TinyLazy(Strategy):
    data = "synthetic?assets=8&days=120&seed=1"
    model = "tinylazy"
    model_params = {}
    window = 4
    horizon = 2
    retrain = "2MS"
    rebalance = "W"
    min_train_bars = 40
    portfolio = "topk"
    portfolio_params = {"k": 2}


def test_a_card_answers_without_importing_and_an_edit_invalidates_it(tiny_package, tmp_path):
    """The first resolve imports the model and writes its card; a later one (a new process) answers defaults, the
    seed and the code version from the card without importing the module; editing the module's source, or a
    module of its classes, makes the card stale: the model is imported again and its code version (a cache key
    part) changes."""
    pkg, fresh = tiny_package
    cache = tmp_path / "cache"
    first = resolve_run(TinyLazy, plugins=[fresh()], cache_dir=cache)
    assert isinstance(first.factory, CardFactory) and "tinypkg.models" in sys.modules
    assert ModelCache(cache).load_tree(card_key("tinypkg.models:Tiny")) is not None
    second = resolve_run(TinyLazy, plugins=[fresh()], cache_dir=cache)
    assert isinstance(second.factory, CardFactory) and "tinypkg.models" not in sys.modules  # not imported
    assert second.code == first.code and second.model_params == first.model_params == {"seed": 0, "scale": 1.0,
                                                                                        "lags": [1, 2]}
    assert second.members == first.members
    (pkg / "models.py").write_text(MODELS.replace("SCALE = 1.0", "SCALE = 2.0  # edited"))  # not in the class: still seen
    third = resolve_run(TinyLazy, plugins=[fresh()], cache_dir=cache)
    assert "tinypkg.models" in sys.modules and third.code["model"] != first.code["model"]
    fourth = resolve_run(TinyLazy, plugins=[fresh()], cache_dir=cache)  # the new card
    assert "tinypkg.models" not in sys.modules and fourth.code == third.code


def test_computed_defaults_get_no_card(tiny_package, tmp_path):
    """A model whose defaults are computed at import (here ``float(len("ab"))``) is imported on every run: its card
    could go stale without any file changing."""
    _, fresh = tiny_package
    cache = tmp_path / "cache"
    for _ in range(2):
        run = resolve_run(TinyLazy, {"model": "tinycomputed"}, plugins=[fresh()], cache_dir=cache)
        assert not isinstance(run.factory, CardFactory) and run.model_params["scale"] == 2.0
    assert ModelCache(cache).load_tree(card_key("tinypkg.models:Computed")) is None


def test_damaged_score_and_gradient_entries_are_misses(tiny_package, tmp_path, monkeypatch):
    """Damaged cached scores are a miss, never an error: recomputed (the same numbers) and written again."""
    _, fresh = tiny_package
    cache = tmp_path / "cache"
    monkeypatch.setenv("SEQALPHA_CACHE_DIR", str(cache))
    stored = []
    real = derived_cache.store_scores
    monkeypatch.setattr(derived_cache, "store_scores", lambda c, k, m: (stored.append(k), real(c, k, m)))
    plugin = fresh()
    first = run_backtest(TinyLazy, plugins=[plugin])
    assert stored and all(k is not None for k in stored)
    for key in stored:  # flip a byte of every scores entry
        path = ModelCache(cache).tree_path(key)
        data = bytearray(path.read_bytes())
        data[-3] ^= 0xFF
        path.write_bytes(bytes(data))
        assert derived_cache.load_scores(ModelCache(cache), key, 1) is None
    stored.clear()
    second = run_backtest(TinyLazy, plugins=[plugin])
    pd.testing.assert_frame_equal(first.scores, second.scores, check_exact=True)
    assert len(stored) == len(set(stored)) > 0  # recomputed and stored again
    stored.clear()
    third = run_backtest(TinyLazy, plugins=[plugin])
    assert stored == []  # read from the cache this time
    pd.testing.assert_frame_equal(first.scores, third.scores, check_exact=True)


def test_cache_off_reads_and_writes_no_card_nor_scores(tiny_package, tmp_path, monkeypatch):
    """cache=False: no card, no scores, no recorded parameter check is read or written."""
    _, fresh = tiny_package
    cache = tmp_path / "cache"
    monkeypatch.setenv("SEQALPHA_CACHE_DIR", str(cache))

    def refuse(*a, **k):
        raise AssertionError("the cache was used with cache=False")

    monkeypatch.setattr(ModelCache, "load_tree", refuse)
    monkeypatch.setattr(ModelCache, "store_tree", refuse)
    run = run_backtest(TinyLazy, plugins=[fresh()], cache=False)
    assert len(run.scores) and not cache.exists()


def test_card_device_and_key_code_match_the_built_model(tmp_path):
    """The cache key's parts a card answers without torch are the built model's: its device and code version."""
    from seqalpha.builtin_plugins.nets.recurrent import LSTM
    from seqalpha.model.cache import code_version

    class S(Strategy):
        model = "lstm"
        model_params = TINY

    run = resolve_run(S, cache_dir=tmp_path / "cache")
    assert isinstance(run.factory, CardFactory)
    for params in ({**TINY, "device": "cpu"}, {**TINY, "device": "auto"}):
        device = run.factory.device(params)
        assert device is None or device == str(LSTM(**params).device)
    assert run.factory.device({**TINY, "device": "cpu"}) == "cpu"
    assert code_version(run.factory) == code_version(LSTM)


def test_lazy_model_builds_on_use_and_defers_tensors():
    """A cached torch model's tensors decode as arrays (no torch needed), made tensors when the model is used."""
    import torch

    from seqalpha.builtin_plugins.nets.recurrent import LSTM

    payload = safe_codec.encode({"w": torch.arange(6, dtype=torch.float32).reshape(2, 3), "n": 1})
    tree = safe_codec.decode(payload, defer_tensors=True)
    assert isinstance(tree["w"], safe_codec.DeferredTensor) and tree["w"].array.dtype == np.float32
    assert torch.equal(safe_codec.realise(tree)["w"], safe_codec.decode(payload)["w"])
    lazy = LazyModel(LSTM, TINY, {"attrs": {"history": []}, "network": None})
    assert not lazy.built and lazy.state() == {"attrs": {"history": []}, "network": None}
    assert lazy.history == [] and lazy.built  # looking inside builds it


def test_pin_threads_imports_no_torch_and_applies_when_a_model_is_built():
    """pin_threads leaves torch unimported (a new process); a torch model built after torch's pool was changed
    runs on the pinned count again."""
    import torch

    from seqalpha.builtin_plugins.nets.recurrent import LSTM
    from seqalpha.threads import pin_threads, pinned_threads

    code = "import sys; from seqalpha.threads import pin_threads; pin_threads(1); print('torch' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
    before, pinned = torch.get_num_threads(), pinned_threads()
    try:
        pin_threads(1)
        torch.set_num_threads(2)
        LSTM(hidden_size=2)
        assert torch.get_num_threads() == 1
    finally:
        pin_threads(pinned)
        torch.set_num_threads(before)


def test_a_card_the_model_contradicts_stops_the_run_when_built(tiny_package, tmp_path):
    """A card whose defaults are not the model's (planted in an unsigned shared cache) is refused as soon as the
    model is built: CardMismatch names the model."""
    from seqalpha.model.card import CardMismatch

    _, fresh = tiny_package
    cache = ModelCache(tmp_path / "cache")
    resolve_run(TinyLazy, plugins=[fresh()], cache_dir=cache.root)
    key = card_key("tinypkg.models:Tiny")
    card = cache.load_tree(key)
    cache.store_tree(key, {**card, "defaults": {**card["defaults"], "scale": 5.0}})
    run = resolve_run(TinyLazy, plugins=[fresh()], cache_dir=cache.root)
    assert isinstance(run.factory, CardFactory) and run.model_params["scale"] == 5.0
    with pytest.raises(CardMismatch, match="'tinylazy'"):
        run.factory(**run.factory_params)
