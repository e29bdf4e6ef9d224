"""The qlib: data source: exact values, spans, the point-in-time universe, the benchmark, errors."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seqalpha.builtin_plugins.qlib_data import load_qlib, read_qlib, register_data_sources
from seqalpha.data import DataError

REAL = Path(__file__).resolve().parents[2] / "shared/data/cn_csi300_qlib"

DAYS = pd.bdate_range("2020-01-01", periods=10)  # 2020-01-01 .. 2020-01-14


def write_bin(folder: Path, field: str, start: int, values) -> None:
    """One Qlib .day.bin: the start index then the values, little-endian float32."""
    folder.mkdir(parents=True, exist_ok=True)
    np.asarray([start, *values], dtype="<f4").tofile(folder / f"{field}.day.bin")


def series(code_base: float, start: int, n: int) -> list[float]:
    """Recognisable values: base + calendar index (so any misplacement shows)."""
    return [code_base + start + k for k in range(n)]


@pytest.fixture
def qlib_dir(tmp_path: Path) -> Path:
    """A tiny Qlib folder: AAA full history, BBB two spells, CCC lists late, DDD no data, SH000300 benchmark."""
    root = tmp_path / "qlib"
    (root / "calendars").mkdir(parents=True)
    (root / "calendars" / "day.txt").write_text("\n".join(d.strftime("%Y-%m-%d") for d in DAYS) + "\n")
    inst = root / "instruments"
    inst.mkdir()
    (inst / "csi300.txt").write_text(
        "AAA\t2020-01-01\t2020-01-14\n"
        "BBB\t2020-01-02\t2020-01-03\n"
        "BBB\t2020-01-08\t2020-01-09\n"
        "CCC\t2020-01-09\t2020-01-14\n"
        "DDD\t2020-01-01\t2020-01-14\n"
    )
    (inst / "all.txt").write_text(
        "AAA\t2020-01-01\t2020-01-14\nBBB\t2020-01-01\t2020-01-14\nCCC\t2020-01-06\t2020-01-14\n"
        "SH000300\t2020-01-01\t2020-01-14\n"
    )
    feats = root / "features"
    for code, base, start, n in [("aaa", 100, 0, 10), ("bbb", 200, 0, 10), ("ccc", 300, 3, 7)]:
        for k, field in enumerate(("open", "high", "low", "close", "volume", "factor")):
            write_bin(feats / code, field, start, series(base + k * 1000, start, n))
    write_bin(feats / "sh000300", "close", 0, series(4000, 0, 10))
    return root


def load(root: Path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_qlib(root, **kw)


def test_assets_fields_and_exact_values(qlib_dir):
    p = load(qlib_dir, universe="csi300")
    assert list(p.assets) == ["AAA", "BBB", "CCC"]
    assert p.fields == ("open", "high", "low", "close", "volume")  # factor kept out by default
    assert list(p.dates) == list(DAYS)
    assert p.values.dtype == np.float64  # read as float32, kept exactly in float64
    np.testing.assert_array_equal(p.close[:, 0], np.arange(10) + 3100)
    np.testing.assert_array_equal(p.field("open")[:, 1], np.arange(10) + 200)
    np.testing.assert_array_equal(p.field("volume")[3:, 2], np.arange(3, 10) + 4300)


def test_nan_outside_series_span(qlib_dir):
    p = load(qlib_dir, universe="csi300")
    assert np.isnan(p.values[:3, 2, :]).all()  # CCC's series starts at calendar index 3
    assert np.isfinite(p.values[3:, 2, :]).all()


def test_universe_mask_is_point_in_time_and_history_stays(qlib_dir):
    p = load(qlib_dir, universe="csi300")
    expected_bbb = [False, True, True, False, False, True, True, False, False, False]
    assert p.universe[:, 1].tolist() == expected_bbb  # two spells, ends inclusive
    assert p.universe[:, 2].tolist() == [False] * 6 + [True] * 4  # CCC joins 2020-01-09
    assert p.universe[:, 0].all()
    # data outside the spells is kept for windows; only the mask restricts
    assert np.isfinite(p.close[:, 1]).all()
    assert np.isfinite(p.close[3:6, 2]).all()
    assert p.eligible()[:, 2].tolist() == [False] * 6 + [True] * 4


def test_benchmark_is_separate(qlib_dir):
    p = load(qlib_dir, universe="all", benchmark="SH000300")
    assert "SH000300" not in p.assets
    assert list(p.assets) == ["AAA", "BBB", "CCC"]
    assert isinstance(p.benchmark, pd.Series)
    assert p.benchmark.index.equals(p.dates)
    np.testing.assert_array_equal(p.benchmark.to_numpy(), np.arange(10) + 4000)


def test_without_benchmark_option_the_index_code_is_an_asset_of_all(qlib_dir):
    p = load(qlib_dir, universe="all")
    assert "SH000300" in p.assets and p.benchmark is None


def test_missing_feature_folder_warns_once_with_count(qlib_dir):
    with pytest.warns(UserWarning, match=r"1 of 4 'csi300' codes have no feature folder.*DDD") as record:
        read_qlib(qlib_dir, universe="csi300")
    assert len([w for w in record if "feature folder" in str(w.message)]) == 1


def test_fields_start_end_and_uri_options(qlib_dir):
    options = {"universe": "csi300", "fields": "close,factor", "start": "2020-01-03", "end": "2020-01-09",
               "benchmark": "SH000300"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = load_qlib(str(qlib_dir), options)
    assert p.fields == ("close", "factor")
    assert list(p.dates) == list(DAYS[2:7])
    np.testing.assert_array_equal(p.close[:, 0], np.arange(2, 7) + 3100)
    np.testing.assert_array_equal(p.field("factor")[:, 0], np.arange(2, 7) + 5100)
    assert np.isnan(p.close[0, 2]) and p.close[1, 2] == 3303
    assert p.universe[:, 1].tolist() == [True, False, False, True, True]
    np.testing.assert_array_equal(p.benchmark.to_numpy(), np.arange(2, 7) + 4000)


def test_window_drops_codes_never_members_in_it(qlib_dir):
    p = load(qlib_dir, universe="csi300", end="2020-01-07")
    assert list(p.assets) == ["AAA", "BBB"]  # CCC joins on 2020-01-09


def test_registers_the_qlib_scheme():
    seen = {}
    register_data_sources(register=lambda name, loader: seen.setdefault(name, loader))
    assert seen == {"qlib": load_qlib}


def test_unknown_option_is_named(qlib_dir):
    with pytest.raises(DataError, match=r"unknown option.*'univrse'.*Did you mean 'universe'"):
        load_qlib(str(qlib_dir), {"univrse": "csi300"})


def test_missing_calendar_file(qlib_dir):
    (qlib_dir / "calendars" / "day.txt").unlink()
    with pytest.raises(DataError, match=r"calendar file .*day\.txt.* is missing"):
        read_qlib(qlib_dir)


def test_missing_folder(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_qlib(tmp_path / "nope")


def test_unknown_universe_lists_available(qlib_dir):
    with pytest.raises(DataError, match=r"unknown universe 'csi500'.*available: \['all', 'csi300'\]"):
        read_qlib(qlib_dir, universe="csi500")


def test_start_index_out_of_range_names_file(qlib_dir):
    write_bin(qlib_dir / "features" / "bbb", "close", 42, [1.0, 2.0])
    with pytest.raises(DataError, match=r"bbb/close\.day\.bin has start index 42\.0, out of range"):
        load(qlib_dir, universe="csi300")


def test_series_past_calendar_end_names_file(qlib_dir):
    write_bin(qlib_dir / "features" / "ccc", "open", 8, [1.0, 2.0, 3.0])
    with pytest.raises(DataError, match=r"ccc/open\.day\.bin runs 1 day\(s\) past the calendar's end"):
        load(qlib_dir, universe="csi300")


def test_unknown_field_and_missing_benchmark(qlib_dir):
    with pytest.raises(DataError, match=r"field\(s\) \['vwap'\] not found"):
        load(qlib_dir, universe="csi300", fields=["close", "vwap"])
    with pytest.raises(DataError, match=r"benchmark 'SH000905' has no close series"):
        load(qlib_dir, universe="csi300", benchmark="SH000905")


def test_bad_instruments_line_names_file_and_line(qlib_dir):
    (qlib_dir / "instruments" / "csi300.txt").write_text("AAA\t2020-01-01\t2020-01-14\nBBB\t2020-01-02\n")
    with pytest.raises(DataError, match=r"csi300\.txt line 2"):
        load(qlib_dir, universe="csi300")


def test_empty_date_window(qlib_dir):
    with pytest.raises(DataError, match="no trading day between"):
        load(qlib_dir, start="2021-01-01")


# --- the real CSI 300 folder beside the project (skipped when absent) ---------------------------------

@pytest.fixture(scope="module")
def csi300():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 38 delisted members have no data: warned, expected
        return read_qlib(REAL, universe="csi300", benchmark="SH000300")


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.skipif(not REAL.is_dir(), reason="../shared/data/cn_csi300_qlib not present")
def test_real_shape_and_benchmark(csi300):
    T, N, F = csi300.shape
    assert T == 3966 and F == 5
    assert 740 <= N <= 752 and "SH000300" not in csi300.assets
    assert csi300.dates[0] == pd.Timestamp("2010-01-04")
    assert csi300.benchmark is not None and csi300.benchmark.notna().all()
    assert 2000 < csi300.benchmark.iloc[-1] < 10000


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.skipif(not REAL.is_dir(), reason="../shared/data/cn_csi300_qlib not present")
def test_real_members_per_date(csi300):
    members = (csi300.universe & csi300.listed()).sum(axis=1)[csi300.dates >= "2015-01-01"]
    # 255-300 on most days; the membership file itself lists only ~245 names from
    # 2021-12 to 2022-06 (243 with data), so the floor is 240.
    assert members.min() >= 240 and members.max() <= 300
    assert np.median(members) >= 255


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.skipif(not REAL.is_dir(), reason="../shared/data/cn_csi300_qlib not present")
def test_real_all_universe_matches_readme():
    p = read_qlib(REAL)  # universe 'all', no benchmark: 753 instruments incl. two indices
    assert p.shape == (3966, 753, 5)
    assert p.universe.any(axis=0).all()


def test_a_cut_or_short_file_is_named_not_read_as_a_delisting(qlib_dir):
    """A close.day.bin cut in half, or 2 bytes short, is an error naming the file (it used to make the asset
    vanish part-way, or drop a value, silently)."""
    path = qlib_dir / "features" / "aaa" / "close.day.bin"
    whole = path.read_bytes()
    path.write_bytes(whole[: 4 * (len(whole) // 8)])
    with pytest.raises(DataError, match=r"aaa/close\.day\.bin holds \d+ days .* its siblings hold 10 days"):
        load(qlib_dir, universe="csi300")
    path.write_bytes(whole[:-2])
    with pytest.raises(DataError, match=r"aaa/close\.day\.bin is \d+ bytes, not a whole number of float32"):
        load(qlib_dir, universe="csi300")
