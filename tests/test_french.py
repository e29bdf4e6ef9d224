"""The monthly French industry source: a written sample file, and the real folder when present."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from seqalpha import DataError
from seqalpha.builtin_plugins.french import read_french

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "ff49_monthly"

SAMPLE = """Header text line

  Average Value Weighted Returns -- Monthly
,Agric,Food ,Soda
192607,   2.00,   1.00, -99.99
192608,  -1.00,   2.00, -99.99
192609,   1.00,   0.00,   5.00

  Average Equal Weighted Returns -- Monthly
,Agric,Food ,Soda
192607,   9.00,   9.00, 9.00
"""

FACTORS = """x
,Mkt-RF,SMB,HML,RF
192607,    2.96,   -2.38,   -2.73,    0.22
192608,    2.64,   -1.47,    4.14,    0.25
192609,    0.36,   -1.39,    0.12,    0.23
"""


def test_first_block_read_with_missing_and_rf(tmp_path):
    (tmp_path / "49_Industry_Portfolios.CSV").write_text(SAMPLE)
    (tmp_path / "F-F_Research_Data_Factors.CSV").write_text(FACTORS)
    p = read_french(tmp_path)
    assert list(p.assets) == ["Agric", "Food", "Soda"] and len(p.dates) == 3
    ret = p.field("ret")
    np.testing.assert_allclose(ret[:, 0], [0.02, -0.01, 0.01], rtol=1e-6)
    assert np.isnan(p.close[:2, 2]).all() and np.isfinite(p.close[2, 2])  # Soda starts late
    np.testing.assert_allclose(p.field("ret_rf")[0, 0], 0.02 - 0.0022, rtol=1e-5)
    np.testing.assert_allclose(p.close[1, 0] / p.close[0, 0] - 1, -0.01, rtol=1e-5)


def test_missing_file_named(tmp_path):
    with pytest.raises(DataError, match="no 49_Industry_Portfolios.CSV"):
        read_french(tmp_path)


@pytest.mark.realdata
@pytest.mark.skipif(not REAL.is_dir(), reason="../shared/data/ff49_monthly is absent")
def test_real_ff49():
    p = read_french(REAL)
    assert p.shape[1] == 49 and p.dates[0].year == 1926 and p.dates[-1].year == 2021
    assert np.isfinite(p.close[-1]).all()


@pytest.mark.parametrize(("damage", "message"), [
    (lambda s: s.replace("192608,  -1.00,   2.00, -99.99", "192608,  N/A,   2.00, -99.99"),
     r"cell\(s\) that are not numbers, first 'N/A' for 'Agric' in 1926-08"),
    (lambda s: s.replace("192608,  -1.00,   2.00, -99.99", "192608,  -1.00,   2.00"),
     r"line 6 \(month 192608\) has 3 fields where the header has 4"),
    (lambda s: s[: s.index("192609") + 16], r"line 7 \(month 192609\) has 3 fields"),  # cut mid-row
])
def test_damaged_cells_and_rows_are_named_not_read_as_missing(tmp_path, damage, message):
    (tmp_path / "49_Industry_Portfolios.CSV").write_text(damage(SAMPLE))
    with pytest.raises(DataError, match=message):
        read_french(tmp_path)
