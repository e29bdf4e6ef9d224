"""Property tests of the timing contract (docs/design.md, "Timing") over random panels, windows, horizons,
schedules and listing gaps: labels, embargo, execution bar, truncation invariance."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from seqalpha import Panel, Strategy
from seqalpha.backtest import Dataset, training_dates
from seqalpha.engine import simulate
from seqalpha.features import excess_labels
from seqalpha.plugins import collect_registries
from seqalpha.schedule import schedule_bars

SETTINGS = settings(max_examples=30, deadline=None)


def random_panel(seed: int, T: int, N: int, gap_rate: float) -> Panel:
    """Prices with late listings, early delistings and holes; one noise factor."""
    rng = np.random.default_rng(seed)
    close = 20 * np.exp(np.cumsum(rng.standard_normal((T, N)) * 0.02, axis=0))
    close[rng.random((T, N)) < gap_rate] = np.nan
    for i in range(N):
        if rng.random() < 0.3:
            close[: rng.integers(1, T // 2), i] = np.nan
        if rng.random() < 0.3:
            close[rng.integers(T // 2, T):, i] = np.nan
    close[:, 0] = 20.0 * (1 + np.arange(T) * 0.001)  # one name always listed
    factor = rng.standard_normal((T, N))
    values = np.stack([close, np.where(np.isfinite(close), factor, np.nan)], axis=-1)
    return Panel(pd.bdate_range("2020-01-01", periods=T), [f"A{i}" for i in range(N)], ("close", "f"), values)


@SETTINGS
@given(seed=st.integers(0, 10**6), h=st.integers(1, 6), gaps=st.floats(0, 0.2))
def test_label_is_the_return_from_the_next_execution_price_minus_the_mean(seed, h, gaps):
    p = random_panel(seed, 40, 6, gaps).close
    mask = np.isfinite(p)
    got = excess_labels(p, h, mask)
    for t in range(40):
        raw = p[t + 1 + h] / p[t + 1] - 1 if t + 1 + h < 40 else np.full(6, np.nan)
        raw = np.where(mask[t], raw, np.nan)
        want = raw - np.nanmean(raw) if np.isfinite(raw).any() else raw
        np.testing.assert_allclose(got[t], want, rtol=1e-9, equal_nan=True)


@SETTINGS
@given(L=st.integers(1, 30), h=st.integers(1, 10), t=st.integers(0, 400), vf=st.floats(0, 0.5),
       tw=st.one_of(st.none(), st.integers(1, 300)))
def test_a_retrain_at_t_trains_only_on_labels_known_at_t(L, h, t, vf, tw):
    class S(Strategy):
        window, horizon, valid_fraction, train_window = L, h, vf, tw

    train, valid = training_dates(t, S())
    for dates in (train, valid):
        if len(dates):
            assert dates.max() <= t - h - 1 and dates.min() >= L - 1
    if len(train) and len(valid):
        assert train.max() + h + 1 < valid.min()


@SETTINGS
@given(seed=st.integers(0, 10**6), every=st.integers(1, 7))
def test_orders_fill_only_on_the_bar_after_a_decision_or_a_delisting(seed, every):
    panel = random_panel(seed, 50, 5, 0.05)
    rng = np.random.default_rng(seed)
    decisions = {t: rng.dirichlet(np.ones(5)) * 0.9 for t in range(0, 48, every)}
    sim = simulate(panel.dates, panel.assets, panel.close, panel.close, panel.tradable(), decisions, start=1,
                   delist_after=1)
    listed = np.isfinite(panel.close)
    from seqalpha.engine import exits_without_price

    exits = exits_without_price(listed, 1)
    for rec in sim.portfolio.orders.values:
        bar = int(rec["idx"]) + 1
        assert (bar - 1) in decisions or exits[bar, rec["col"]], (bar, rec["col"])


@SETTINGS
@given(seed=st.integers(0, 10**6), L=st.integers(2, 12), h=st.integers(1, 5), gaps=st.floats(0, 0.15),
       normalize=st.sampled_from(["zscore", "rank", None]), cut=st.integers(20, 55))
def test_what_is_known_at_t_does_not_change_when_later_rows_are_removed(seed, L, h, gaps, normalize, cut):
    panel = random_panel(seed, 60, 6, gaps)

    class S(Strategy):
        window, horizon = L, h
        factors = ["f"]

    S.normalize = normalize
    features = collect_registries().features
    full = Dataset.build(S(), panel, features)
    part = Dataset.build(S(), panel.slice_dates(end=panel.dates[cut]), features)
    np.testing.assert_array_equal(full.features[:cut + 1], part.features)
    np.testing.assert_array_equal(full.universe[:cut + 1], part.universe)
    np.testing.assert_array_equal(full.sampleable[:cut + 1], part.sampleable)
    known = cut - h - 1
    np.testing.assert_array_equal(full.labels[:known + 1], part.labels[:known + 1])


@SETTINGS
@given(n=st.integers(5, 300), k=st.integers(1, 300),
       rule=st.sampled_from(["D", "W", "MS", "QS", "YS", "2QS", 1, 3, 10]))
def test_a_schedule_is_known_on_its_own_bar(n, k, rule):
    dates = pd.bdate_range("2019-12-20", periods=n)
    k = min(k, n)
    full = schedule_bars(dates, rule)
    np.testing.assert_array_equal(schedule_bars(dates[:k], rule), full[full < k])
