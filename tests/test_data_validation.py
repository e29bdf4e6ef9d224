"""Bad input gets a clear error naming the problem; the long-format sources read what they should."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seqalpha import DataError, panel_from_frame
from seqalpha.data import load_panel, parse_uri
from seqalpha.plugins import collect_registries
from tests.conftest import noise_frame


def good() -> pd.DataFrame:
    return noise_frame(n_dates=10, n_assets=3)


def test_missing_required_column():
    with pytest.raises(DataError, match=r"missing required column\(s\) \['close'\]"):
        panel_from_frame(good().drop(columns="close"), "t.csv")


def test_duplicate_rows_named():
    df = pd.concat([good(), good().iloc[[4]]])
    with pytest.raises(DataError, match=r"duplicate \(date, asset\) rows, first date 2020-01-02 asset 'A01'"):
        panel_from_frame(df, "t.csv")


def test_unparseable_date_named():
    df = good().astype({"date": object})
    df.loc[5, "date"] = "not a date"
    with pytest.raises(DataError, match=r"column 'date' has 1 unparseable value\(s\), first 'not a date' at row 5"):
        panel_from_frame(df, "t.csv")


def test_non_numeric_factor_named():
    df = good().astype({"noise": object})
    df.loc[7, "noise"] = "abc"
    with pytest.raises(DataError, match=r"column 'noise' is not numeric: value 'abc' at date 2020-01-03 asset 'A01'"):
        panel_from_frame(df, "t.csv")


def test_infinity_named():
    df = good()
    df.loc[3, "noise"] = np.inf
    with pytest.raises(DataError, match=r"column 'noise' has 1 infinite value\(s\), first at date 2020-01-02 asset 'A00'"):
        panel_from_frame(df, "t.csv")


def test_non_positive_price_named():
    df = good()
    df.loc[2, "close"] = 0.0
    with pytest.raises(DataError, match=r"non-positive price 0.0 at date 2020-01-01 asset 'A02'"):
        panel_from_frame(df, "t.csv")


def test_empty_table_is_empty_universe():
    with pytest.raises(DataError, match="empty"):
        panel_from_frame(good().iloc[:0], "t.csv")


def test_unknown_factor_listed():
    with pytest.raises(DataError, match=r"factor column\(s\) \['nope'\] not found"):
        panel_from_frame(good(), "t.csv", factors=["nope"])


def test_panel_shape_and_missing_is_nan():
    df = good().iloc[1:]  # A01 is missing on the first date... (row 0 is A00)
    p = panel_from_frame(df, "t")
    assert p.values.shape == (10, 3, 2) and p.values.dtype == np.float64  # prices keep their digits
    assert np.isnan(p.close[0, 0]) and p.fields == ("close", "noise")
    assert p.factor_names == ["noise"]


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_long_format_sources_roundtrip(tmp_path, fmt):
    df = good()
    path = tmp_path / f"table.{fmt}"
    df.to_parquet(path) if fmt == "parquet" else df.to_csv(path, index=False)
    panel = load_panel(f"{fmt}:{path}", collect_registries().data_sources)
    assert panel.shape == (10, 3, 2)
    np.testing.assert_allclose(panel.close[:, 0], df[df.asset == "A00"]["close"].to_numpy(), rtol=1e-6)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_panel(f"csv:{tmp_path / 'nope.csv'}", collect_registries().data_sources)


def test_parse_uri():
    assert parse_uri("qlib:/d/x?universe=csi300&benchmark=SH000300") == (
        "qlib", "/d/x", {"universe": "csi300", "benchmark": "SH000300"})
    assert parse_uri("synthetic?assets=5") == ("synthetic", "", {"assets": "5"})
    assert parse_uri("synthetic") == ("synthetic", "", {})


def test_synthetic_is_deterministic_and_documented():
    reg = collect_registries().data_sources
    a = load_panel("synthetic?assets=10&days=120&seed=4", reg)
    b = load_panel("synthetic?assets=10&days=120&seed=4", reg)
    np.testing.assert_array_equal(a.values, b.values)
    listed = a.listed()
    assert not listed[0].all() or not listed[-1].all()  # some assets list late or delist early
    with pytest.raises(DataError, match="unknown option"):
        load_panel("synthetic?asets=10", reg)


def test_synthetic_planted_signal_needs_memory():
    """The signal factor 20 bars back predicts returns; today's value does not."""
    from seqalpha.builtin_plugins.synthetic import make_synthetic_panel

    p = make_synthetic_panel(assets=200, days=300, seed=1, lag=20, strength=0.5)
    z, c = p.field("signal").astype(float), p.close.astype(float)
    r = c[1:] / c[:-1] - 1  # r[t] is the return into bar t+1

    def ic(x, y):
        out = [np.corrcoef(a[m], b[m])[0, 1] for a, b in zip(x, y) if (m := np.isfinite(a) & np.isfinite(b)).sum() > 10]
        return float(np.mean(out))

    assert ic(z[40:-1 - 19], r[40 + 19:]) > 0.3  # z[t-19] drives r into t+1 i.e. z[s-lag] -> r[s]
    assert abs(ic(z[40:-1], r[40:])) < 0.05
