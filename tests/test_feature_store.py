"""The feature store (framework/features/store.py): computed once, memory-mapped, keyed, checked, shared, pruned."""

from __future__ import annotations

import json
import os
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest

from seqalpha import Strategy, run_backtest
from seqalpha.backtest.dataset import Dataset
from seqalpha.cli import main
from seqalpha.data import load_panel
from seqalpha.feature_sets import FeatureSet, LazyFeatureSet, WindowTransform
from seqalpha.features.store import FOLDER, MARKER, FeatureStore, feature_key, store_for
from seqalpha.features.store_file import forget_verified
from seqalpha.hookspecs import hookimpl
from seqalpha.plugins import collect_registries, run_manager
from seqalpha.resolved import panel_digest

DATA = "synthetic?assets=12&days=160&seed=0"
CALLS = {"n": 0}


def counted(panel):
    """A feature set that counts its calls: two columns of the panel, one of them lagged."""
    CALLS["n"] += 1
    sig = panel.field("signal").astype(np.float32)
    lagged = np.full_like(sig, np.nan)
    lagged[1:] = sig[:-1]
    return FeatureSet(np.stack([sig, lagged], axis=-1), ["sig", "sig_lag1"])


def lazy(panel):
    """The same two features, written straight into the array the Dataset hands over (a memory map in a store)."""
    def fill(out, columns):
        CALLS["memmap"] = isinstance(out, np.memmap)
        full = counted(panel).values
        for k, c in enumerate(columns):
            out[:, :, k] = full[:, :, c]
    return LazyFeatureSet(["sig", "sig_lag1"], (len(panel.dates), len(panel.assets), 2), fill)


class StorePlugin:
    @hookimpl
    def register_features(self, register):
        register("counted", counted)
        register("lazy_counted", lazy)


class Tiny(Strategy):
    data = DATA
    feature_set = "counted"
    model = "lstm"
    model_params = {"hidden_size": 4, "epochs": 1, "batch_size": 256}
    window = 5
    horizon = 1
    retrain = None
    min_train_bars = 100


@pytest.fixture
def plugin(register_plugin):
    register_plugin(StorePlugin(), name="feature-store-test")
    CALLS["n"] = 0


def _registries():
    return collect_registries(run_manager())


def _build(strategy, store, panel=None):
    reg = _registries()
    panel = panel if panel is not None else load_panel(DATA, reg.data_sources)
    return Dataset.build(strategy, panel, reg.features, store)


def test_a_rerun_reads_the_store_and_config_records_its_key(plugin, tmp_path):
    first = run_backtest(Tiny)
    second = run_backtest(Tiny, out=tmp_path / "b", model_params={"hidden_size": 5, "epochs": 1})
    assert CALLS["n"] == 1  # the second run (another model: no model-cache hit) read the features
    key = first.config["feature_key"]
    entry = Path(os.environ["SEQALPHA_CACHE_DIR"]) / FOLDER / key[:2] / f"{key}.features"
    assert entry.is_file() and second.config["feature_key"] == key
    config = json.loads((tmp_path / "b" / "config.json").read_text())
    assert config["feature_key"] == key
    from seqalpha.resolved import resolve_run

    assert "feature_key" not in resolve_run(Tiny).identity()  # recorded, not identity


def test_scores_are_identical_with_and_without_the_store(plugin, tmp_path, monkeypatch):
    stored = run_backtest(Tiny)
    monkeypatch.setenv("SEQALPHA_CACHE_DIR", str(tmp_path / "other"))  # no model-cache hit either
    memory = run_backtest(Tiny, cache=False)
    assert memory.config["feature_key"] is None and not (tmp_path / "other").exists()  # cache=False writes nothing
    assert np.array_equal(stored.scores["score"].to_numpy(), memory.scores["score"].to_numpy())
    for normalize in ("zscore", "rank", "robust", None):
        s = Tiny(normalize=normalize, feature_set="classic")
        a, b = _build(s, FeatureStore(tmp_path / "fs")), _build(s, None)
        assert a.feature_key is not None and b.feature_key is None
        assert np.array_equal(a.features, b.features, equal_nan=True) and np.array_equal(a.observed, b.observed)
        assert not a.features.flags.writeable and not a.features.flags.owndata  # a view into the memory map


def test_a_lazy_feature_set_is_written_straight_into_the_memory_map(plugin, tmp_path):
    s = Tiny(feature_set="lazy_counted", normalize="robust")
    a = _build(s, FeatureStore(tmp_path / "fs"))
    assert CALLS["memmap"] is True
    b = _build(s, None)
    assert CALLS["memmap"] is False and np.array_equal(a.features, b.features, equal_nan=True)
    # sample windows are views of the map, gathered per batch; fitting the robust transform reads only a sample
    sample = a.samples(np.arange(100, 110), a.fit_transform(np.arange(20, 90)), need_label=False)
    assert np.isfinite(sample.windows(np.arange(5))).all()


def test_the_key_changes_with_data_definitions_universe_and_code(plugin):
    reg = _registries()
    panel = load_panel(DATA, reg.data_sources)
    digest, universe = panel_digest(panel), panel.eligible()
    factory = reg.features.get("counted").factory
    base = feature_key(Tiny(), digest, universe, factory)
    assert base == feature_key(Tiny(), digest, universe.copy(), factory)
    assert base == feature_key(Tiny(window=9, model="gru"), digest, universe, factory)  # no feature changes
    other_universe = universe.copy()
    other_universe[50, 3] = not other_universe[50, 3]
    other = load_panel("synthetic?assets=12&days=160&seed=1", reg.data_sources)

    class Expr(Tiny):
        expressions = {"m5": "Mean($close, 5)"}

    keys = {base,
            feature_key(Tiny(), panel_digest(other), universe, factory),
            feature_key(Tiny(), digest, other_universe, factory),
            feature_key(Tiny(normalize="rank"), digest, universe, factory),
            feature_key(Tiny(clip=2.0), digest, universe, factory),
            feature_key(Tiny(factors=["sig"]), digest, universe, factory),
            feature_key(Tiny(feature_set="lazy_counted"), digest, universe, factory),
            feature_key(Expr(), digest, universe, factory),
            feature_key(Tiny(), digest, universe, reg.features.get("classic").factory),
            feature_key(Tiny(), digest, universe, factory, {"extra_definition": "x"})}
    assert len(keys) == 10
    # the run's definitions repeat the strategy's feature parameters: with or without them, one key
    assert base == feature_key(Tiny(), digest, universe, factory, {"feature_set": Tiny.feature_set, "names": ["a"],
                                                                   "window": 3, "universe": "digest"})


def _flip(path: Path, offset: int) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([byte[0] ^ 0x10]))


@pytest.mark.parametrize("damage", ["truncate", "flip_values", "flip_header", "flip_observed"])
def test_a_damaged_entry_is_detected_and_recomputed_never_read(plugin, tmp_path, damage):
    store = FeatureStore(tmp_path / "fs")
    good = np.array(_build(Tiny(), store).features)
    path = store.entries()[0]
    size = path.stat().st_size
    head = json.loads(path.read_bytes().split(b"\n")[1])
    if damage == "truncate":
        os.truncate(path, size - 100)
    else:
        where = {"flip_values": head["values_offset"] + 4 * 37 + 1, "flip_header": 40,
                 "flip_observed": head["observed_offset"] + 17}[damage]
        _flip(path, where)
    forget_verified()  # a new process: the entry is checked at its first open
    with pytest.warns(RuntimeWarning, match=r"feature store entry .*features .*computing the features again"):
        again = _build(Tiny(), store)
    assert CALLS["n"] == 2 and np.array_equal(np.asarray(again.features), good, equal_nan=True)
    forget_verified()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.array_equal(_build(Tiny(), store).features, good, equal_nan=True)  # replaced, whole again
    assert CALLS["n"] == 2 and path.stat().st_size == size


def test_two_writers_of_one_entry_are_safe(plugin, tmp_path):
    barrier = threading.Barrier(2, timeout=20)

    def slow(panel):
        barrier.wait()  # both computing at once: both write the same entry
        return counted(panel)

    class Slow:
        @hookimpl
        def register_features(self, register):
            register("slow", slow)

    reg = collect_registries(run_manager(Slow()))
    panel = load_panel(DATA, reg.data_sources)
    store, results, errors = FeatureStore(tmp_path / "fs"), [], []

    def build():
        try:
            results.append(Dataset.build(Tiny(feature_set="slow"), panel, reg.features, store))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 2
    assert np.array_equal(results[0].features, results[1].features, equal_nan=True)
    files = [p for p in (tmp_path / "fs").rglob("*") if p.is_file()]
    assert [p.name for p in files] == [store.entries()[0].name]  # one entry, no temporary file left
    forget_verified()
    assert store.get(results[0].feature_key) is not None  # whole and checked


def test_seqalpha_cache_lists_and_clears_feature_entries(plugin, tmp_path, capsys, monkeypatch):
    run_backtest(Tiny)
    run_backtest(Tiny, normalize="rank")
    root = Path(os.environ["SEQALPHA_CACHE_DIR"])
    assert main(["cache", "--list"]) == 0
    out = capsys.readouterr().out
    assert f"feature store {root / FOLDER}: 2 entr(ies)" in out and ": 2 model(s)" in out
    assert main(["cache", "--clear", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "removed 2 feature entr(ies)" in out and FeatureStore(root / FOLDER).entries() == []
    # a features/ folder without the marker that holds something else: nothing deleted
    foreign = tmp_path / "notacache"
    (foreign / FOLDER / "ab").mkdir(parents=True)
    (foreign / FOLDER / "ab" / "notes.txt").write_text("mine")
    monkeypatch.setenv("SEQALPHA_CACHE_DIR", str(foreign))
    assert main(["cache", "--clear", "--yes"]) == 2
    assert (foreign / FOLDER / "ab" / "notes.txt").is_file()


def test_cache_false_or_no_folder_means_no_store(tmp_path):
    assert store_for(False, tmp_path) is None and store_for(True, None) is None
    assert not (tmp_path / FOLDER).exists()
    assert store_for(True, tmp_path).root == tmp_path / FOLDER and (tmp_path / FOLDER / MARKER).is_file()


def test_the_robust_fit_in_feature_blocks_equals_the_fit_of_all_features_at_once():
    rng = np.random.default_rng(0)
    windows = rng.standard_normal((300, 6, 11)).astype(np.float32)
    windows[rng.random(windows.shape) < 0.1] = np.nan
    reference = [-1, 0, 0, -1, 3, -1, -1, -1, -1, 0, -1]
    x = WindowTransform(reference).relative(windows.astype(np.float64))  # the fit before blocks
    median = np.nanmedian(x, axis=0)
    mad = np.nanmedian(np.abs(x - median), axis=0) * 1.4826
    fitted = WindowTransform.fit(windows, reference, block=4)
    assert np.array_equal(fitted.median, np.nan_to_num(median).astype(np.float32))
    assert np.array_equal(fitted.scale, np.where(np.isfinite(mad) & (mad > 1e-12), mad, 1.0).astype(np.float32))
