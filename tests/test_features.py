"""Feature sets are point-in-time; robust normalisation is fitted on the training window only."""

from __future__ import annotations

import numpy as np
import pytest

from seqalpha import Strategy
from seqalpha.backtest import Dataset, training_dates
from seqalpha.builtin_plugins.features import classic, raw
from seqalpha.builtin_plugins.synthetic import make_synthetic_panel
from seqalpha.feature_sets import FeatureSet, WindowTransform
from seqalpha.plugins import collect_registries


def _ohlcv_panel(seed=0):
    p = make_synthetic_panel(assets=15, days=300, seed=seed)
    rng = np.random.default_rng(seed)
    close = p.close
    extra = np.stack([close * (1 + 0.01 * rng.standard_normal(close.shape)), close * 1.02, close * 0.98], axis=-1)
    p.values = np.concatenate([p.values, extra.astype(np.float32)], axis=-1)
    p.fields = p.fields + ("open", "high", "low")
    return p


@pytest.mark.parametrize("fn", [classic, raw])
def test_feature_sets_never_read_rows_after_t(fn):
    p = _ohlcv_panel()
    base = fn(p).values
    scrambled = _ohlcv_panel()
    rng = np.random.default_rng(5)
    scrambled.values[200:] = np.abs(rng.standard_normal(scrambled.values[200:].shape)).astype(np.float32) + 1
    after = fn(scrambled).values
    np.testing.assert_array_equal(np.isnan(base[:200]), np.isnan(after[:200]))
    np.testing.assert_allclose(np.nan_to_num(base[:200]), np.nan_to_num(after[:200]), rtol=1e-5, atol=1e-6)


def test_classic_has_about_twenty_documented_factors():
    fs = classic(_ohlcv_panel())
    assert 18 <= len(fs.names) <= 25 and fs.values.shape[2] == len(fs.names)
    assert {"mom_20", "vol_20", "beta_60", "volume_ratio_5_60", "dist_high_60"} <= set(fs.names)


def test_raw_is_relative_to_the_window_last_close():
    p = _ohlcv_panel()
    fs = raw(p)
    tr = WindowTransform(fs.reference)
    x = fs.values[None, 10:20, 3, :].copy()  # one window of asset 3
    out = tr(x)
    k = fs.names.index("log_close_rel")
    assert out[0, -1, k] == pytest.approx(0.0)
    assert out[0, 0, k] == pytest.approx(np.log(p.close[10, 3] / p.close[19, 3]), rel=1e-4)


class Robust(Strategy):
    feature_set = "raw"
    normalize = "robust"
    window = 10
    horizon = 1
    min_train_bars = 60


def test_robust_fit_never_reads_after_the_training_window():
    """Scrambling everything after the last training date leaves the fitted median and MAD unchanged."""
    reg = collect_registries().features
    s = Robust()
    t = 150
    train, _ = training_dates(t, s)
    a = Dataset.build(s, _ohlcv_panel(), reg).fit_transform(train)
    scrambled = _ohlcv_panel()
    scrambled.values[train.max() + 1:] *= 3.0
    b = Dataset.build(s, scrambled, reg).fit_transform(train)
    np.testing.assert_allclose(a.median, b.median)
    np.testing.assert_allclose(a.scale, b.scale)
    # a longer window does see more: the test can fail
    c = Dataset.build(s, _ohlcv_panel(), reg).fit_transform(np.arange(train.min(), train.max() + 40))
    assert not np.allclose(a.median, c.median)


def test_zscore_on_window_relative_features_is_refused():
    from seqalpha import StrategyError

    with pytest.raises(StrategyError, match="window-relative"):
        Dataset.build(Robust(normalize="zscore"), _ohlcv_panel(), collect_registries().features)


def test_strategy_can_supply_its_own_features():
    class Own(Strategy):
        window = 5
        min_train_bars = 60

        def features(self, panel):
            mom = np.full(panel.close.shape, np.nan, dtype=np.float32)
            mom[5:] = panel.close[5:] / panel.close[:-5] - 1
            return FeatureSet(mom[:, :, None], ["mom_5"])

    prep = Dataset.build(Own(), _ohlcv_panel(), collect_registries().features)
    assert prep.feature_names == ["mom_5"]


def test_rank_targets_are_uniform_centred_and_blind_to_outliers():
    """target='rank' (Qlib's CSRankNorm): per date mean 0, unit variance in the limit, ties averaged."""
    from seqalpha.features import rank_by_date, zscore_by_date

    rng = np.random.default_rng(0)
    dates = np.repeat(np.arange(3), 200)
    rng.shuffle(dates)
    values = rng.standard_normal(len(dates))
    ranks = rank_by_date(values, dates)
    for d in range(3):
        r = ranks[dates == d]
        assert abs(r.mean()) < 1e-6 and abs(r.std() - 1) < 0.01 and r.max() < np.sqrt(3)
        assert np.array_equal(np.argsort(r, kind="stable"), np.argsort(values[dates == d], kind="stable"))
    outlier = values.copy()
    outlier[np.argmax(np.where(dates == 0, values, -np.inf))] = 1e6  # a 1e6 return on date 0
    np.testing.assert_array_equal(rank_by_date(outlier, dates), ranks)  # ranks do not move
    assert not np.allclose(zscore_by_date(outlier, dates), zscore_by_date(values, dates))  # z-scores do
    np.testing.assert_allclose(rank_by_date(np.array([1.0, 2.0, 2.0, 3.0]), np.zeros(4, int)),
                               np.array([-0.375, 0, 0, 0.375]) * np.sqrt(12))  # (rank - 0.5) / n - 0.5
    assert rank_by_date(np.array([5.0]), np.array([7]))[0] == 0  # a lone sample carries no ranking


def test_strategy_target_chooses_the_training_target_and_is_validated():
    from seqalpha import StrategyError
    from seqalpha.features import rank_by_date, zscore_by_date

    reg = collect_registries().features
    for target, fn in (("zscore", zscore_by_date), ("rank", rank_by_date)):
        prep = Dataset.build(Robust(target=target), _ohlcv_panel(), reg)
        s = prep.samples(np.arange(100, 140), prep.base_transform, need_label=True)
        np.testing.assert_allclose(s.targets, fn(s.labels, s.t))
    with pytest.raises(StrategyError, match="target must be 'zscore' or 'rank'.*'ranks'"):
        Robust(target="ranks")
