"""seqalpha predict: the backtest's decision at asof, bitwise, from the model the walk-forward would use; nothing
after asof or after a retrain's training cut is read; holdings in three forms; refusals and warnings."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import FAST_LSTM

from seqalpha import Strategy, run_backtest
from seqalpha.builtin_plugins.linear import LastStepRidge
from seqalpha.cli import main
from seqalpha.data import load_panel
from seqalpha.errors import PredictError
from seqalpha.hookspecs import hookimpl
from seqalpha.plugins import collect_registries, run_manager
from seqalpha.predict import UnscoredWarning, predict
from seqalpha.runs import list_runs

DATA = "synthetic?assets=20&days=260&seed=0"
D = "2018-11-12"  # a Monday: the last decision bar of the tests' backtests, a rebalance bar of rebalance="W"


class TinyDropout(Strategy):
    """topk_dropout (the holdings matter) with a monthly retrain."""

    data = DATA
    model = "linear"
    window = 10
    horizon = 2
    test_start = "2018-07-02"
    test_end = D
    retrain = "MS"
    rebalance = "W"
    portfolio = "topk_dropout"
    portfolio_params = {"k": 5, "n_drop": 2}


class TinyHoldLstm(TinyDropout):
    """One fit (retrain=None) of a small torch model; topk_dropout with hold=True (NaN weights: no order)."""

    model = "lstm"
    model_params = FAST_LSTM
    retrain = None
    portfolio_params = {"k": 5, "n_drop": 2, "hold": True}


class TinyWarmAux(TinyDropout):
    """A warm-started GRU with an auxiliary head (the embargo is the longest horizon), refitted monthly: predict
    must replay the chain of retrains (each from the cache) to reach the backtest's model."""

    model = "gru"
    model_params = {**FAST_LSTM, "warm_start": True, "warm_epochs": 1, "aux_horizons": [4]}
    retrain = "2MS"


class TinyBlend(TinyDropout):
    """A blend of two ridge members on different windows: predict scores with each member's own Dataset."""

    model = "blend"
    model_params = {"members": [{"model": "linear", "weight": 0.6}, {"model": "linear", "window": 4, "weight": 0.4}]}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("predict_cache")


@pytest.fixture(scope="module")
def runs(tmp_path_factory, cache_dir):
    """One backtest per strategy, written to a run folder (models cached in the module's cache folder)."""
    root = tmp_path_factory.mktemp("predict_runs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEQALPHA_CACHE_DIR", str(cache_dir))
        for cls in (TinyDropout, TinyHoldLstm, TinyWarmAux, TinyBlend):
            run_backtest(cls, out=root / cls.__name__, progress=False)
    return root


def _on(table: pd.DataFrame, column: str, date: str) -> pd.Series:
    rows = table[table["date"] == pd.Timestamp(date)]
    return pd.Series(rows[column].to_numpy(np.float64), index=rows["asset"].astype(str).to_numpy())


@pytest.mark.parametrize("cls", [TinyDropout, TinyHoldLstm, TinyWarmAux, TinyBlend])
def test_predict_at_test_end_is_the_backtest_decision_bitwise(runs, cache_dir, cls, tmp_path):
    """The contract: predict --asof d --holdings RUN_DIR gives the backtest's scores and target weights at d, bit
    for bit (a periodic retrain and a single fit; topk_dropout, with hold=True too), from the cached model."""
    run_dir = runs / cls.__name__
    scores = _on(pd.read_parquet(run_dir / "scores.parquet"), "score", D)
    weights = _on(pd.read_parquet(run_dir / "weights.parquet"), "weight", D)
    assert len(scores) > 5 and len(weights) == 5  # the backtest decided at d
    got = predict(cls, asof=D, holdings=run_dir, cache_dir=cache_dir, out=tmp_path / "p")
    targets = got.targets.set_index("asset")
    np.testing.assert_array_equal(targets["score"].reindex(scores.index).to_numpy(), scores.to_numpy())
    assert targets["score"].notna().sum() == len(scores)
    held = targets["target_weight"][targets["target_weight"].isna() | (targets["target_weight"] != 0)]
    assert sorted(held.index) == sorted(weights.index)
    np.testing.assert_array_equal(held.reindex(weights.index).to_numpy(), weights.to_numpy())  # NaN == NaN here
    assert got.record["model"]["cache_hits"] == got.record["model"]["fits"]  # the backtest's own model
    expected = {TinyDropout: "2018-11-01", TinyHoldLstm: "2018-07-02", TinyWarmAux: "2018-11-01",
                TinyBlend: "2018-11-01"}[cls]
    assert got.record["model"]["retrain_date"] == expected
    if cls is TinyWarmAux:  # the chain 2018-07-02, 09-03, 11-01, each loaded; the embargo of the longer head
        assert got.record["model"]["retrains_fitted"] == ["2018-07-02", "2018-09-03", "2018-11-01"]
        assert got.record["model"]["last_sample_date"] == "2018-10-25"  # 2018-11-01 - 4 - 1 bars


def test_holdings_decide_topk_dropout(runs, cache_dir):
    """Without the run's holdings topk_dropout starts from nothing and buys the top k: another decision (so the
    contract test above fails if the holdings are not read as the backtest's)."""
    run_dir = runs / "TinyDropout"
    weights = _on(pd.read_parquet(run_dir / "weights.parquet"), "weight", D)
    fresh = predict(TinyDropout, asof=D, cache_dir=cache_dir).targets
    top = set(fresh.nsmallest(5, "rank")["asset"])
    assert set(fresh["asset"][fresh["target_weight"] != 0]) == top
    assert top != set(weights.index)


def test_second_predict_loads_the_model_from_the_cache(tmp_path):
    first = predict(TinyDropout, cache_dir=tmp_path / "cache", out=tmp_path / "a")
    second = predict(TinyDropout, cache_dir=tmp_path / "cache", out=tmp_path / "b")
    assert first.record["model"]["fits"] == 1 and first.record["model"]["cache_hits"] == 0
    assert second.record["model"]["cache_hits"] == second.record["model"]["fits"] == 1  # nothing fitted
    assert second.record["model"]["keys"] == first.record["model"]["keys"]
    assert (tmp_path / "a" / "targets.parquet").read_bytes() == (tmp_path / "b" / "targets.parquet").read_bytes()


def test_default_asof_is_the_data_last_bar_and_refit_says_so(cache_dir):
    dates = load_panel(DATA, collect_registries(run_manager()).data_sources).dates
    got = predict(TinyDropout, cache_dir=cache_dir)
    assert got.record["asof"] == str(dates[-1].date())  # the bar the backtest can never decide on
    assert got.record["model"]["retrain_date"] == "2018-12-03"  # the first bar of December: the schedule's
    assert got.record["model"]["last_sample_date"] == str(dates[dates.get_loc("2018-12-03") - 3].date())
    refit = predict(TinyDropout, cache_dir=cache_dir, refit=True)
    assert refit.record["model"]["refit"] is True and "--refit" in refit.record["model"]["how"]
    assert refit.record["model"]["last_sample_date"] == str(dates[-1 - 3].date())  # asof - h - 1


# ---- timing: nothing after asof, nothing after the retrain's training cut -----------------------------------


class Spy(LastStepRidge):
    """The linear model, recording what each fit saw: the panel's length and the last sample date."""

    seen: list = []

    def fit(self, train, valid, log=None):
        dates = np.concatenate([train.t, valid.t if valid is not None else []])
        Spy.seen.append({"T": train.features.shape[0], "last": int(dates.max())})
        return super().fit(train, valid, log)


class SpyPlugin:
    @staticmethod
    @hookimpl
    def register_models(register):
        register("spy", Spy)


class SpyStrategy(TinyDropout):
    model = "spy"
    cache = False


def _panel():
    return load_panel(DATA, collect_registries(run_manager()).data_sources)


def test_predict_reads_nothing_after_asof_nor_after_the_training_cut():
    """The model sees a panel that ends at asof, and trains on samples up to the retrain bar - h - 1 (the bars
    after the cut, whose labels are known at asof, are left out); --refit goes up to asof - h - 1."""
    dates = _panel().dates
    Spy.seen.clear()
    predict(SpyStrategy, asof="2018-11-21", plugins=[SpyPlugin])
    r, asof = dates.get_loc(pd.Timestamp("2018-11-01")), dates.get_loc(pd.Timestamp("2018-11-21"))
    assert Spy.seen == [{"T": asof + 1, "last": r - 2 - 1}]
    predict(SpyStrategy, asof="2018-11-21", plugins=[SpyPlugin], refit=True)
    assert Spy.seen[-1] == {"T": asof + 1, "last": asof - 2 - 1}


def _planted(panel, after: int, seed: int = 1):
    """The panel with every price after bar ``after`` replaced: a return that a model reading them would chase."""
    values = panel.values.copy()
    rng = np.random.default_rng(seed)
    jump = np.exp(rng.normal(0, 0.05, size=(len(panel.dates) - after - 1, values.shape[1])).cumsum(axis=0))
    for f, name in enumerate(panel.fields):
        if name in ("open", "high", "low", "close", "vwap"):
            values[after + 1:, :, f] = values[after + 1:, :, f] * jump
    return type(panel)(dates=panel.dates, assets=panel.assets, fields=panel.fields, values=values, name=panel.name,
                       universe=panel.universe, benchmark=panel.benchmark, meta=dict(panel.meta))


def test_data_after_asof_changes_nothing_predict_writes(tmp_path, cache_dir):
    panel = _panel()
    asof = panel.dates.get_loc(pd.Timestamp(D))
    planted = _planted(panel, asof)
    assert not np.array_equal(planted.close, panel.close)
    predict(TinyDropout, asof=D, data=panel, out=tmp_path / "a", cache_dir=cache_dir)
    predict(TinyDropout, asof=D, data=planted, out=tmp_path / "b", cache_dir=cache_dir)
    for name in ("targets.parquet", "targets.csv", "orders.csv", "positions.csv", "predict.html"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    a, b = (json.loads((tmp_path / x / "predict.json").read_text()) for x in "ab")
    for rec in (a, b):
        rec.pop("seconds"), rec.pop("data_last_bar")
    assert a == b


def test_labels_after_the_training_cut_change_no_model(cache_dir):
    """Prices after the retrain bar make labels of samples the backtest could not train on at that retrain: the
    schedule's model (its cache key) ignores them; --refit, which may use them, does not (the check can fail)."""
    panel = _panel()
    r = panel.dates.get_loc(pd.Timestamp("2018-11-01"))
    planted = _planted(panel, r)
    keys = [predict(TinyDropout, asof=D, data=p, cache_dir=cache_dir).record["model"]["keys"]
            for p in (panel, planted)]
    assert keys[0] == keys[1]
    refits = [predict(TinyDropout, asof=D, data=p, cache_dir=cache_dir, refit=True).record["model"]["keys"]
              for p in (panel, planted)]
    assert refits[0] != refits[1]


# ---- holdings -------------------------------------------------------------------------------------------------


def test_holdings_csv_and_a_previous_predict_folder(tmp_path, cache_dir):
    csv = tmp_path / "held.csv"
    csv.write_text("asset,shares\nS0001,1000\nS0002,500\n")
    got = predict(TinyDropout, asof=D, holdings=csv, cash=50_000.0, cache_dir=cache_dir, out=tmp_path / "a")
    t = got.targets.set_index("asset")
    assert t.loc["S0001", "current_weight"] > 0 and t.loc["S0002", "current_weight"] > 0
    assert got.record["holdings"]["source"] == "csv"
    orders = pd.read_csv(tmp_path / "a" / "orders.csv")
    assert set(orders.columns) >= {"asset", "side", "shares", "price", "est_cost", "note"}
    assert (orders["shares"] == orders["shares"].round()).all()
    nxt = predict(TinyDropout, asof="2018-11-19", holdings=tmp_path / "a", cache_dir=cache_dir)
    assert nxt.record["holdings"]["source"] == "predict"
    before = got.targets.set_index("asset")["target_weight"]
    cur = nxt.targets.set_index("asset")["current_weight"]
    assert set(cur[cur > 0].index) == set(before[before > 0].index)


@pytest.mark.parametrize("text, message", [
    ("asset,shares\nS0001,10\nNOPE,5\nZZZ,1\n", r"2 asset\(s\) not in the data: NOPE, ZZZ"),
    ("asset,shares\nS0001,-10\n", "negative shares for S0001"),
    ("asset,qty\nS0001,10\n", "no column 'shares'"),
])
def test_bad_holdings_are_refused_in_one_line(tmp_path, text, message):
    csv = tmp_path / "held.csv"
    csv.write_text(text)
    with pytest.raises(PredictError, match=message):
        predict(TinyDropout, asof=D, holdings=csv, cache_dir=tmp_path)


def test_asof_outside_what_can_be_decided_is_refused(tmp_path):
    with pytest.raises(PredictError, match="after the data's last bar 2018-12-28"):
        predict(TinyDropout, asof="2019-01-02", cache_dir=tmp_path)
    with pytest.raises(PredictError, match="no model can be trained for asof 2018-01-05"):
        predict(TinyDropout, asof="2018-01-05", cache_dir=tmp_path)


class EveryName(TinyDropout):
    def universe(self, panel):
        return np.ones(panel.close.shape, dtype=bool)


def test_names_without_data_on_asof_are_warned_not_scored(cache_dir):
    panel = _panel()
    values = panel.values.copy()
    asof = panel.dates.get_loc(pd.Timestamp(D))
    values[asof - 15:, 3, :] = np.nan  # S0003 has no data in its window on asof
    gone = type(panel)(dates=panel.dates, assets=panel.assets, fields=panel.fields, values=values, name=panel.name,
                       universe=panel.universe, benchmark=panel.benchmark, meta=dict(panel.meta))
    with pytest.warns(UnscoredWarning, match="S0003"):
        got = predict(EveryName, asof=D, data=gone, cache_dir=cache_dir)
    assert "S0003" in got.record["unscored"]
    normal = predict(EveryName, asof=D, cache_dir=cache_dir).record["unscored"]
    assert "S0003" not in normal and set(got.record["unscored"]) - set(normal) == {"S0003"}
    assert not set(got.record["unscored"]) & set(got.targets["asset"][got.targets["score"].notna()])


# ---- files, listing, the command line ----------------------------------------------------------------------


def test_predict_folders_are_not_backtest_runs(tmp_path, cache_dir):
    predict(TinyDropout, asof=D, cache_dir=cache_dir, out=tmp_path / "runs" / "p")
    assert list_runs(tmp_path / "runs").empty
    page = (tmp_path / "runs" / "p" / "predict.html").read_text()
    assert "<script src" not in page and "plotly" in page  # plotly.js inlined: opens offline


def test_command_line(tmp_path, monkeypatch, capsys, cache_dir):
    monkeypatch.setenv("SEQALPHA_CACHE_DIR", str(cache_dir))
    file = tmp_path / "tiny.py"
    file.write_text("from seqalpha import Strategy\n\n\nclass TinyDropout(Strategy):\n" + "".join(
        f"    {k} = {v!r}\n" for k, v in TinyDropout.__dict__.items() if not k.startswith("_")))
    assert main(["predict", str(file), "--asof", D, "--out", str(tmp_path / "p"), "-q"]) == 0
    assert "predict folder" in capsys.readouterr().out
    for name in ("targets.parquet", "targets.csv", "orders.csv", "predict.json", "predict.html"):
        assert (tmp_path / "p" / name).is_file()
    bad = tmp_path / "bad.csv"
    bad.write_text("asset,shares\nS0001,-1\n")
    assert main(["predict", str(file), "--holdings", str(bad), "--out", str(tmp_path / "q")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "negative shares" in err
