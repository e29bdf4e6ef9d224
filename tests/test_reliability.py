"""No silent wrong answers: each input that used to give a wrong result with exit 0 is refused or handled
(docs/reliability.md lists every case and the test that shows it)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from seqalpha import (
    DataError,
    Strategy,
    StrategyError,
    hookimpl,
    load_strategy_file,
    panel_from_frame,
    run_backtest,
)
from seqalpha.cli import main
from seqalpha.errors import RunLockError
from tests.conftest import noise_frame


class Tiny(Strategy):
    data = "synthetic?assets=12&days=200"
    model = "linear"
    window = 5
    min_train_bars = 60
    retrain = "QS"
    portfolio_params = {"k": 3}


# ---- strategy attributes and parameter values ----------------------------------------------------------------

def test_a_misspelt_class_attribute_is_refused_with_the_fix(tmp_path):
    path = tmp_path / "typo.py"
    path.write_text("from seqalpha import Strategy\n\nclass Typo(Strategy):\n    rebalence = 'MS'\n")
    with pytest.raises(StrategyError, match="'rebalence' is not a strategy parameter. Did you mean 'rebalance'"):
        load_strategy_file(path)
    with pytest.raises(StrategyError, match="Did you mean 'window'"):
        type("Typo2", (Strategy,), {"windw": 40})


def test_custom_parameters_far_from_builtins_or_declared_are_kept_and_shown(tmp_path, capsys):
    path = tmp_path / "custom.py"
    path.write_text("from tests.test_reliability import Tiny\n\nclass Custom(Tiny):\n    lookback_days = 7\n"
                    "    custom_params = ('fee',)\n    fee = 3\n")
    assert main(["run", str(path), "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "custom parameters: lookback_days=7, fee=3" in out
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["custom_params"] == {"lookback_days": 7, "fee": 3}


@pytest.mark.parametrize(("override", "message"), [
    ({"fees": -0.5}, "fees must be a number in \\[0.0, 1.0\\)"),
    ({"fees": "cheap"}, "fees must be a number"),
    ({"slippage": 2.0}, "slippage must be a number"),
    ({"init_cash": 0}, "init_cash must be a number in \\(0.0"),
    ({"limit_threshold": 9.5}, "limit_threshold must be a number"),
    ({"min_cost": -1}, "min_cost must be a number"),
    ({"window": True}, "window must be a positive int"),
    ({"min_train_bars": -1}, "min_train_bars must be an int >= 0"),
    ({"rebalance": "fortnightly"}, "rebalance must be a schedule"),
    ({"retrain": "sometimes"}, "retrain must be a schedule"),
    ({"model_params": "hidden_size=8"}, "model_params must be a dict"),
    ({"factors": "signal"}, "factors must be None or a list"),
])
def test_values_that_cannot_be_right_are_refused_before_any_data(override, message):
    with pytest.raises(StrategyError, match=message):
        Tiny(**override)


@pytest.mark.parametrize(("params", "message"), [
    ({"epochs": 0}, "epochs must be an int >= 1"),
    ({"lr": "fast"}, "lr must be a number > 0"),
    ({"batch_size": 0.5}, "batch_size must be an int"),
])
def test_model_values_are_refused_before_any_data(params, message, monkeypatch):
    from seqalpha.data import uri

    def no_data(*a, **k):
        raise AssertionError("data was loaded before the model parameters were checked")

    monkeypatch.setattr(uri, "load_panel", no_data)
    with pytest.raises(StrategyError, match=message):
        run_backtest(Tiny, progress=False, model="lstm", model_params=params)


# ---- dates ------------------------------------------------------------------------------------------------

def _long(dates) -> pd.DataFrame:
    return pd.DataFrame({"date": dates, "asset": "A", "close": [10.0, 11.0]})


def test_integer_yyyymmdd_dates_are_dates_not_nanoseconds():
    p = panel_from_frame(_long([20180102, 20180103]), "ints.parquet")
    assert list(p.dates) == list(pd.to_datetime(["2018-01-02", "2018-01-03"]))
    with pytest.raises(DataError, match="ints.parquet: column 'date' holds numbers that are not YYYYMMDD"):
        panel_from_frame(_long([1514851200000000000, 1514937600000000000]), "ints.parquet")


def test_timezone_aware_dates_keep_their_local_calendar_date(tmp_path):
    stamps = pd.to_datetime(["2020-01-02", "2020-01-03"]).tz_localize("Asia/Shanghai")
    path = tmp_path / "tz.parquet"
    _long(stamps).to_parquet(path)
    p = panel_from_frame(pd.read_parquet(path), str(path))
    assert list(p.dates) == list(pd.to_datetime(["2020-01-02", "2020-01-03"]))  # not the day before at 16:00
    p = panel_from_frame(_long(["2020-01-02T00:00:00+08:00", "2020-01-03T00:00:00+08:00"]), "tz.csv")
    assert [d.weekday() for d in p.dates] == [3, 4]
    with pytest.raises(DataError, match="tz.csv: column 'date' mixes UTC offsets"):
        panel_from_frame(_long(["2020-01-02T00:00:00+08:00", "2020-01-03T00:00:00+00:00"]), "tz.csv")


# ---- values beyond what a backtest can use ----------------------------------------------------------------

def test_prices_and_factors_that_cannot_be_represented_name_their_cell():
    df = noise_frame(n_dates=20, n_assets=3)
    df.loc[7, "close"] *= 1e300
    with pytest.raises(DataError, match=r"field 'close' holds a price outside .* at date 2020-01-03 asset 'A01'"):
        panel_from_frame(df, "big.csv")
    df = noise_frame(n_dates=20, n_assets=3)
    df.loc[4, "noise"] = 1e39
    with pytest.raises(DataError, match=r"field 'noise' holds a value too large for a model input"):
        panel_from_frame(df, "big.csv")


def test_prices_keep_float64_digits():
    df = noise_frame(n_dates=20, n_assets=3)
    df["close"] = 1234567.891
    assert panel_from_frame(df, "t").close[0, 0] == 1234567.891


def test_an_all_nan_factor_is_refused_by_name():
    df = noise_frame(n_dates=200, n_assets=12)
    df["empty"] = np.nan
    with pytest.raises(DataError, match=r"feature\(s\) \['empty'\] have no value on any date"):
        run_backtest(Tiny, data=panel_from_frame(df, "t"), progress=False)


# ---- weights ----------------------------------------------------------------------------------------------

class Weights(Tiny):
    portfolio = "topk"
    custom_params = ("mode",)  # close to "model": declared, so it is not taken for a typo
    mode = "sum50"

    def target_weights(self, scores, current, rule):
        w = rule(scores, current)
        if self.mode == "sum50":
            return w * 50
        if self.mode == "inf":
            return w.replace(w.iloc[0], np.inf)
        return pd.concat([w, pd.Series(np.nan, index=scores.index.difference(w.index)[:1])])  # "nan": no order


def test_weights_the_engine_cannot_trade_are_refused_and_nan_means_no_order():
    with pytest.raises(StrategyError, match="long positions; they must add up to at most 1"):
        run_backtest(Weights, progress=False)
    with pytest.raises(StrategyError, match="contain infinity"):
        run_backtest(Weights, progress=False, mode="inf")
    res = run_backtest(Weights, progress=False, mode="nan")
    nan_names = res.weights[res.weights["weight"].isna()]
    assert len(nan_names) > 0  # recorded as "no order"
    orders = res.portfolio.orders.records_readable
    for date, asset in zip(nan_names["date"], nan_names["asset"]):
        nxt = res.returns["date"][res.returns["date"] > date].iloc[0]
        assert not ((orders["Timestamp"] == nxt) & (orders["Column"] == asset)).any()


# ---- the model cache ----------------------------------------------------------------------------------------

def test_a_tampered_cache_entry_is_refitted(tmp_path, monkeypatch):
    from seqalpha import safe_codec
    from seqalpha.model import cache_entry

    monkeypatch.setenv("SEQALPHA_CACHE_DIR", str(tmp_path / "cache"))
    first = run_backtest(Tiny, progress=False)
    entries = list((tmp_path / "cache").rglob("*.model"))
    assert entries
    for path in entries:  # flip the sign of every coefficient, keep the file loadable (its header unchanged)
        data = path.read_bytes()
        header_end = data.index(b"\n", len(cache_entry.MAGIC)) + 1
        payload = safe_codec.decode(data[header_end:])
        payload["state"]["coef"] = -payload["state"]["coef"]
        path.write_bytes(data[:header_end] + safe_codec.encode(payload))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = run_backtest(Tiny, progress=False)
    assert again.metrics["n_cache_hits"] == 0 and any("digest" in str(w.message) for w in caught)
    assert again.metrics["ic"] == first.metrics["ic"]


def test_an_unwritable_cache_warns_and_the_run_goes_on(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("SEQALPHA_CACHE_DIR", str(blocker / "cache"))
    with pytest.warns(RuntimeWarning, match="cannot be written: running without it"):
        res = run_backtest(Tiny, progress=False)
    assert res.metrics["n_cache_hits"] == 0 and np.isfinite(res.metrics["sharpe"])


def test_an_out_folder_that_is_a_file_fails_before_data(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StrategyError, match="cannot be written"):
        run_backtest(Tiny, progress=False, out=blocker / "run")


# ---- run folders nothing can clobber ------------------------------------------------------------------------

def test_a_second_run_into_a_folder_in_use_is_refused_naming_the_process(tmp_path):
    import subprocess
    import sys

    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "run").mkdir()
        (tmp_path / "run" / ".lock").write_text(json.dumps({"pid": sleeper.pid, "host": __import__("socket").gethostname(),
                                                            "since": "earlier"}))
        with pytest.raises(RunLockError, match=f"in use by process {sleeper.pid}"):
            run_backtest(Tiny, progress=False, out=tmp_path / "run")
    finally:
        sleeper.kill()
        sleeper.wait()
    res = run_backtest(Tiny, progress=False, out=tmp_path / "run")  # the lock of a process that is gone
    assert np.isfinite(res.metrics["sharpe"]) and not (tmp_path / "run" / ".lock").exists()


class Stop:
    @staticmethod
    @hookimpl
    def model_trained(strategy, date, model, n_train, n_valid, seconds):
        if date.month >= 7:
            raise RuntimeError("stopped for the test")


def test_a_checkpoint_is_never_dropped_silently_and_a_failed_run_says_so(tmp_path, capsys):
    from seqalpha.report import build_report
    from seqalpha.runs import list_runs

    out = tmp_path / "run"
    run_backtest(Tiny, progress=False, out=out)  # a finished run: metrics.json
    with pytest.raises(RuntimeError, match="stopped for the test"):
        run_backtest(Tiny, progress=False, out=out, plugins=[Stop], force=True)  # replacing it is deliberate
    assert not (out / "metrics.json").exists()  # the old run's metrics no longer pose as this one's
    failed = json.loads((out / "failed.json").read_text())
    assert "stopped for the test" in failed["error"] and failed["resumable"]
    listed = list_runs(tmp_path)
    assert listed["status"].iloc[0].startswith("failed: RuntimeError: stopped for the test")
    assert "This run failed" in build_report(out).read_text()
    with pytest.raises(StrategyError, match="holds the checkpoint of an unfinished run: continue it with --resume"):
        run_backtest(Tiny, progress=False, out=out)
    assert (out / "checkpoint").is_dir()
    res = run_backtest(Tiny, progress=False, out=out, resume=True)
    assert res.config["resumed_at"] is not None and not (out / "failed.json").exists()
    with pytest.raises(RuntimeError):
        run_backtest(Tiny, progress=False, out=out, plugins=[Stop], force=True)
    assert run_backtest(Tiny, progress=False, out=out, force=True).config["resumed_at"] is None
