"""The per-ticker CSV folder reader: adjusted prices, skipped bad input with warnings, the union calendar."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seqalpha.builtin_plugins.ticker_csv import read_ticker_dir
from seqalpha.data import DataError

YAHOO = (
    "Date,Open,High,Low,Close,Adj Close,Volume\n"
    "2020-01-02,10,12,9,11,5.5,100\n"
    "2020-01-03,11,13,10,12,6,200\n"
    "2020-01-06,12,14,11,13,13,300\n"
)
KAGGLE = (
    "Date,Open,High,Low,Close,Volume,OpenInt\n"
    "2020-01-03,20,21,19,20.5,1000,0\n"
    "2020-01-07,21,22,20,21.5,1100,0\n"
)


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def quiet_read(folder: Path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_ticker_dir(folder, **kw)


def test_adj_close_used_and_ohl_scaled(tmp_path):
    write(tmp_path, "AAA.csv", YAHOO)
    p = read_ticker_dir(tmp_path)
    assert list(p.assets) == ["AAA"]
    assert p.fields == ("open", "high", "low", "close", "volume", "factor")
    np.testing.assert_allclose(p.close[:, 0], [5.5, 6, 13])
    np.testing.assert_allclose(p.field("open")[:, 0], [5, 5.5, 12])  # open x adj/close
    np.testing.assert_allclose(p.field("high")[:, 0], [6, 6.5, 14])
    np.testing.assert_allclose(p.field("low")[:, 0], [4.5, 5, 11])
    np.testing.assert_allclose(p.field("factor")[:, 0], [0.5, 0.5, 1.0])
    np.testing.assert_allclose(p.field("volume")[:, 0], [100, 200, 300])  # volume not adjusted


def test_union_calendar_and_kaggle_layout(tmp_path):
    write(tmp_path, "AAA.csv", YAHOO)
    write(tmp_path, "bbb.us.txt", KAGGLE)
    p = read_ticker_dir(tmp_path)
    assert list(p.assets) == ["AAA", "bbb.us"]
    assert list(p.dates) == list(pd.to_datetime(["2020-01-02", "2020-01-03", "2020-01-06", "2020-01-07"]))
    assert "openint" not in p.fields and "OpenInt" not in p.fields
    bbb = p.close[:, 1]
    assert np.isnan(bbb[0]) and np.isnan(bbb[2])
    np.testing.assert_allclose(bbb[[1, 3]], [20.5, 21.5])
    np.testing.assert_allclose(p.field("factor")[[1, 3], 1], [1.0, 1.0])  # no Adj Close: factor 1
    assert np.isnan(p.close[3, 0])  # AAA has no 2020-01-07 row


def test_empty_file_warns_and_is_skipped(tmp_path):
    write(tmp_path, "AAA.csv", YAHOO)
    write(tmp_path, "EMPTY.csv", "")
    write(tmp_path, "HEADER.csv", "Date,Open,High,Low,Close,Volume\n")
    with pytest.warns(UserWarning) as record:
        p = read_ticker_dir(tmp_path)
    messages = " ".join(str(w.message) for w in record)
    assert "EMPTY.csv is empty" in messages and "HEADER.csv is empty" in messages
    assert list(p.assets) == ["AAA"]


def test_bad_rows_warn_with_file_and_count(tmp_path):
    text = (
        "Date,Open,High,Low,Close,Volume\n"
        "2020-01-02,1,1,1,1,10\n"
        "not a date,1,1,1,1,10\n"
        "2020-01-06,1,1,1,null,10\n"
        "2020-01-07,1,1,1,-3,10\n"
        "2020-01-08,1,1,1,2,abc\n"
        "2020-01-09,1,1,1,3,10,extra,fields\n"
        "2020-01-10,1,1,1,4,10\n"
    )
    write(tmp_path, "BAD.csv", text)
    with pytest.warns(UserWarning, match=r"BAD\.csv: skipped 5 unparseable row\(s\) of 7"):
        p = read_ticker_dir(tmp_path)
    assert list(p.dates) == list(pd.to_datetime(["2020-01-02", "2020-01-10"]))
    np.testing.assert_allclose(p.close[:, 0], [1, 4])


def test_duplicate_dates_keep_last(tmp_path):
    text = "Date,Close\n2020-01-03,2\n2020-01-02,1\n2020-01-03,3\n"
    write(tmp_path, "DUP.csv", text)
    with pytest.warns(UserWarning, match=r"DUP\.csv: 1 duplicate date\(s\), first 2020-01-03"):
        p = read_ticker_dir(tmp_path)
    np.testing.assert_allclose(p.close[:, 0], [1, 3])  # sorted, last row kept


def test_no_data_raises_naming_folder(tmp_path):
    write(tmp_path, "EMPTY.csv", "")
    write(tmp_path, "JUNK.txt", "Date,Close\nx,y\n")
    with pytest.raises(DataError, match=rf"no data in '{tmp_path}'.*2 \*\.csv/\*\.txt file"):
        quiet_read(tmp_path)


def test_no_files_and_missing_folder_raise(tmp_path):
    write(tmp_path, "notes.md", "hi")
    with pytest.raises(DataError, match=r"no \*\.csv or \*\.txt files"):
        read_ticker_dir(tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        read_ticker_dir(tmp_path / "nope")


def test_file_without_close_column_is_skipped(tmp_path):
    write(tmp_path, "AAA.csv", YAHOO)
    write(tmp_path, "ODD.csv", "when,price\n2020-01-02,1\n")
    with pytest.warns(UserWarning, match=r"ODD\.csv has no Date and Close columns"):
        p = read_ticker_dir(tmp_path)
    assert list(p.assets) == ["AAA"]


def test_factor_columns_kept_and_selected(tmp_path):
    write(tmp_path, "AAA.csv", "Date,Close,Volume,momentum,label\n2020-01-02,1,5,0.1,x\n2020-01-03,2,6,0.2,y\n")
    p = read_ticker_dir(tmp_path)
    assert p.fields == ("close", "volume", "momentum")  # non-numeric 'label' dropped
    assert p.factor_names == ["momentum"]
    np.testing.assert_allclose(p.field("momentum")[:, 0], [0.1, 0.2])
    with pytest.raises(DataError, match=r"factor column\(s\) \['beta'\] not found"):
        read_ticker_dir(tmp_path, factors=["beta"])


def test_yfinance_layout_offsets_and_bookkeeping_columns(tmp_path):
    text = (
        "Date,Open,High,Low,Close,Volume,Dividends,Stock Splits\n"
        "2020-03-06 00:00:00-05:00,1,2,1,2,10,0.0,0.0\n"
        "2020-03-09 00:00:00-04:00,2,3,2,3,11,0.5,0.0\n"
    )
    write(tmp_path, "MSFT.csv", text)
    p = read_ticker_dir(tmp_path)
    assert list(p.dates) == list(pd.to_datetime(["2020-03-06", "2020-03-09"]))  # local dates across DST
    assert p.fields == ("open", "high", "low", "close", "volume")


def test_other_date_layouts(tmp_path):
    write(tmp_path, "A.csv", "Date,Close\n01/02/2020,1\n01/03/2020,2\n")
    write(tmp_path, "B.csv", "Date,Close\n20200102,3\n20200106,4\n")
    p = read_ticker_dir(tmp_path)
    assert list(p.dates) == list(pd.to_datetime(["2020-01-02", "2020-01-03", "2020-01-06"]))
    np.testing.assert_allclose(p.close[:, 1], [3, np.nan, 4])


def test_saved_index_and_text_columns_are_not_factors(tmp_path):
    write(tmp_path, "AAA.csv", "Unnamed: 0,Datetime,Close,Name\n0,2020-01-02,1,AAA\n1,2020-01-03,2,AAA\n")
    write(tmp_path, "BAD.csv", 'Date,Close\n2020-01-02,"1\n')
    with pytest.warns(UserWarning, match=r"BAD\.csv"):
        p = read_ticker_dir(tmp_path)
    assert p.fields == ("close",) and list(p.assets) == ["AAA"]


def test_two_files_for_one_ticker_is_an_error(tmp_path):
    write(tmp_path, "AAA.csv", YAHOO)
    write(tmp_path, "AAA.txt", KAGGLE)
    with pytest.raises(DataError, match=r"ticker 'AAA' has two files"):
        read_ticker_dir(tmp_path)


def test_a_day_first_file_among_month_first_ones_is_refused_by_name(tmp_path):
    """13/02/2020 is day first; 01/02/2020 in the others is month first: reading both would put rows on wrong
    days (and weekends) of the shared calendar, so the folder is refused, naming the odd file."""
    write(tmp_path, "A.csv", "Date,Close\n01/02/2020,1\n01/03/2020,2\n")
    write(tmp_path, "B.csv", "Date,Close\n2020-01-02,3\n2020-01-03,4\n")
    write(tmp_path, "C.csv", "Date,Close\n13/02/2020,3\n14/02/2020,4\n")
    with pytest.raises(DataError, match=r"C\.csv \(%d/%m/%Y\)"):
        read_ticker_dir(tmp_path)


def test_a_binary_file_is_named_and_none_of_its_bytes_printed(tmp_path):
    write(tmp_path, "A.csv", "Date,Close\n2020-01-02,1\n2020-01-03,2\n")
    (tmp_path / "B.csv").write_bytes(b"PK\x03\x04\x00\x00\xff\xfe garbage")
    with pytest.raises(DataError, match=r"B\.csv is not a text file") as err:
        read_ticker_dir(tmp_path)
    assert "PK" not in str(err.value) and "\\x" not in str(err.value)
