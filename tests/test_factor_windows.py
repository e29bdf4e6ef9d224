"""Sequence models over windows of factors: ``alpha158`` windows and ``["raw", "alpha158"]`` through the model zoo,
robust normalisation with Alpha158's early NaNs, and a list of feature sets (names, errors, the feature store)."""

from __future__ import annotations

import numpy as np
import pytest

from seqalpha import Strategy, run_backtest
from seqalpha.backtest.dataset import Dataset
from seqalpha.features.store import FeatureStore
from seqalpha.model import fit_model
from seqalpha.resolved import resolve_run
from seqalpha.strategy import StrategyError

DATA = "synthetic?assets=10&days=160&seed=0&ohlc=1"
TINY = {"hidden_size": 4, "epochs": 1, "batch_size": 512}


class Windows(Strategy):
    data = DATA
    feature_set = "alpha158"
    normalize = "robust"
    target = "rank"
    window = 8
    horizon = 1
    retrain = None
    min_train_bars = 120
    rebalance = "W"
    portfolio_params = {"k": 3}
    model = "lstm"
    model_params = TINY


def _dataset(**overrides) -> Dataset:
    from seqalpha.data import load_panel

    run = resolve_run(Windows, overrides)
    panel = load_panel(run.instance.data, run.registries.data_sources)
    return Dataset.build(run.instance, panel, run.registries.features), run


@pytest.fixture(scope="module")
def datasets():
    """The tiny panel's datasets, built once: alpha158 windows, and raw + alpha158 side by side."""
    out = {}
    for name, sets in (("alpha158", "alpha158"), ("raw+alpha158", ["raw", "alpha158"])):
        ds, run = _dataset(feature_set=sets)
        t = np.arange(len(ds.panel.dates))
        transform = ds.fit_transform(t[ds.window - 1:110])
        out[name] = (ds, run, transform)
    return out


ZOO = [("lstm", {}), ("gru", {}), ("alstm", {"rnn_type": "gru"}), ("alstm", {"aux_horizons": [2, 5]}),
       ("tcn", {}), ("transformer", {})]


@pytest.mark.parametrize("inputs", ["alpha158", "raw+alpha158"])
@pytest.mark.parametrize(("model", "extra"), ZOO, ids=[f"{m}{'-aux' if 'aux_horizons' in p else ''}" for m, p in ZOO])
def test_every_zoo_model_trains_and_scores_on_factor_windows(datasets, inputs, model, extra):
    ds, run, transform = datasets[inputs]
    aux = tuple(extra.get("aux_horizons", ()))
    t = np.arange(len(ds.panel.dates))
    train = ds.samples(t[ds.window - 1:100], transform, need_label=True, aux_horizons=aux)
    valid = ds.samples(t[103:110], transform, need_label=True, aux_horizons=aux)
    test = ds.samples(t[120:150], transform, need_label=False)
    x = train.windows()
    assert x.shape[1:] == (ds.window, len(ds.feature_names)) and np.isfinite(x).all()  # Alpha158's NaNs filled
    factory = run.registries.models.get(model).factory
    net = factory(**{**TINY, **extra, "seed": 0})
    info = fit_model(net, train, valid)
    assert np.isfinite(info["history"][0]["train_loss"]) and np.isfinite(info["history"][0]["valid_loss"])
    scores = net.predict(test)
    assert len(scores) == len(test) and np.isfinite(scores).all() and np.std(scores) > 0


def test_alpha158_windows_hold_nans_early_and_the_robust_transform_fills_them(datasets):
    """Alpha158 has NaNs early (60-bar factors): Qlib's RobustZScoreNorm + Fillna(0) is the robust window
    transform, fitted on the training windows with NaN ignored, missing -> 0 after scaling, clipped at 3."""
    ds, _, transform = datasets["alpha158"]
    assert np.isnan(ds.features[ds.window - 1:70]).any()  # the raw stored factors keep their NaNs
    assert np.isfinite(transform.median).all() and (transform.scale > 0).all()
    t = np.arange(ds.window - 1, 100)
    x = ds.samples(t, transform, need_label=True).windows()
    assert np.isfinite(x).all() and np.abs(x).max() <= 3.0
    raw = ds.samples(t, None, need_label=True).windows()
    np.testing.assert_array_equal(x[~np.isfinite(raw)], 0.0)  # Fillna(0) of the normalised value


def test_a_list_of_sets_is_their_features_side_by_side(datasets):
    both, run, _ = datasets["raw+alpha158"]
    alone, _, _ = datasets["alpha158"]
    raw_names = ["log_close_rel", "log_open_rel", "log_high_rel", "log_low_rel", "log_volume_rel"]
    assert both.feature_names == [*raw_names, *alone.feature_names]
    np.testing.assert_array_equal(both.features[:, :, 5:], alone.features)
    assert both.base_transform.reference.tolist()[:5] == [0, 0, 0, 0, 4]  # raw's window references kept
    assert run.features["feature_set"] == ["raw", "alpha158"]


def test_the_store_keeps_a_list_of_sets_and_keys_it_apart(tmp_path):
    """Through the feature store: the same bits as in memory; each list (and its order) has its own key."""
    from seqalpha.data import load_panel

    run = resolve_run(Windows, {"feature_set": ["alpha158", "raw"], "expressions": {"gap": "$open/Ref($close, 1)"}})
    panel = load_panel(DATA, run.registries.data_sources)
    store = FeatureStore(tmp_path)
    stored = Dataset.build(run.instance, panel, run.registries.features, store=store)
    memory = Dataset.build(run.instance, panel, run.registries.features)
    assert stored.feature_key is not None and stored.feature_names == memory.feature_names
    assert stored.feature_names[-6:] == ["log_close_rel", "log_open_rel", "log_high_rel", "log_low_rel",
                                         "log_volume_rel", "gap"]
    np.testing.assert_array_equal(np.asarray(stored.features), memory.features)
    assert stored.base_transform.reference.tolist()[-6:] == [157, 157, 157, 157, 161, -1]
    other = resolve_run(Windows, {"feature_set": ["raw", "alpha158"], "expressions": {"gap": "$open/Ref($close, 1)"}})
    again = Dataset.build(other.instance, panel, other.registries.features, store=store)
    assert again.feature_key != stored.feature_key


def test_feature_set_lists_are_checked():
    with pytest.raises(StrategyError, match=r"lists \['raw'\] twice"):
        Windows(feature_set=["raw", "raw"])
    with pytest.raises(StrategyError, match="non-empty list of names"):
        Windows(feature_set=[])
    with pytest.raises(StrategyError, match="non-empty list of names"):
        Windows(feature_set=["raw", 3])


def test_a_name_in_two_sets_is_refused_naming_it(register_plugin):
    from seqalpha import hookimpl
    from seqalpha.feature_sets import FeatureSet

    class Clash:
        @staticmethod
        @hookimpl
        def register_features(register):
            register("kmid_again", lambda panel: FeatureSet(np.zeros((*panel.close.shape, 1), np.float32), ["KMID"]))

    register_plugin(Clash())
    run = resolve_run(Windows, {"feature_set": ["alpha158", "kmid_again"]})
    from seqalpha.data import load_panel

    panel = load_panel(DATA, run.registries.data_sources)
    with pytest.raises(StrategyError, match=r"feature set 'kmid_again': \['KMID'\] already name\(s\) of feature set "
                                            "'alpha158'"):
        Dataset.build(run.instance, panel, run.registries.features)
    with pytest.raises(StrategyError, match=r"\['KMID'\] already name"):
        run_backtest(Windows, feature_set="alpha158", expressions={"KMID": "$close"}, progress=False)
