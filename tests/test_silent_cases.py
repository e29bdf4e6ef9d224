"""Nothing silent, round two: inputs that gave a wrong result with exit 0, or a traceback, and what seqalpha does
now (docs/reliability.md lists each case with its test)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seqalpha import Panel, StrategyError, load_strategy_file, panel_from_frame, run_backtest
from seqalpha.backtest.clock import no_spread
from seqalpha.backtest.walkforward import WalkForward
from seqalpha.builtin_plugins.portfolios import long_short, topk, topk_dropout
from seqalpha.cli import main
from seqalpha.features import FeatureSet
from seqalpha.sweep import parse_seeds, sweep
from seqalpha.sweep.cluster import check_scheduler_address, dask_client
from tests.conftest import noise_frame
from tests.test_reliability import Tiny as ReliabilityTiny

ROOT = Path(__file__).resolve().parents[1]


class Small(ReliabilityTiny):
    """test_reliability's linear model on 12 assets and 200 days (a run takes well under a second), named Small
    here: the messages below name the class."""


TINY_FILE = '''
from seqalpha import Strategy


class {name}(Strategy):
    data = "synthetic?assets=12&days=200"
    model = "linear"
    window = 5
    min_train_bars = 60
    retrain = "QS"
    portfolio_params = {{"k": 3}}
'''


def one_line(capsys, code: int, *fragments: str, exit_code: int = 2) -> str:
    err = "\n".join(line for line in capsys.readouterr().err.splitlines() if not line.startswith("["))  # progress
    assert code == exit_code, err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, err
    return err


# ---- dates whose features are all NaN ------------------------------------------------------------------------

def test_dates_without_features_are_not_scored_and_not_rebalanced(tmp_path):
    """Features all NaN on bars 153..167: bar 153's windows still hold older rows, but the linear model sees only
    the last (empty) one, so every asset scores alike; from bar 157 no window holds a value at all. Before, both
    gave equal scores and top-k bought the first three columns; now no window without data is scored and no
    date whose scores have no spread is rebalanced: the positions are kept, and a warning counts those dates."""
    df = noise_frame(200, 12)
    dates = pd.DatetimeIndex(sorted(df["date"].unique()))
    gap = dates[153:168]
    df.loc[df["date"].isin(gap), "noise"] = np.nan
    panel = panel_from_frame(df, source="gappy")
    calendar = WalkForward.of(Small(), panel.dates)
    skipped = sorted(t for t in calendar.rebalance_bars if 153 <= t <= 167)
    assert skipped == [153, 158, 163]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = run_backtest(Small, data=panel, progress=False, out=tmp_path / "run")
    assert (tmp_path / "run" / "report.html").is_file()  # the report takes unscored rows in its stride
    messages = [str(w.message) for w in caught if "not rebalanced" in str(w.message)]
    assert len(messages) == 1 and messages[0].startswith("3 rebalance date(s) not rebalanced, positions kept")
    assert str(gap[0].date()) in messages[0]
    decided = set(res.rebalances["date"])
    assert not decided & set(gap) and dates[148] in decided and dates[168] in decided
    scores = res.scores.set_index("date")["score"]
    first = scores.loc[dates[153]]
    assert np.isfinite(first).all() and first.nunique() == 1  # the zero-spread case: last step empty
    assert scores.loc[dates[157]:dates[167]].isna().all()  # no value in the window: not scored
    assert np.isfinite(scores.loc[dates[168]]).all() and np.isfinite(scores.loc[dates[152]]).all()
    orders = res.portfolio.orders.records_readable
    during = orders[(orders["Timestamp"] > dates[153]) & (orders["Timestamp"] <= dates[168])]
    assert during.empty  # positions kept through the gap: no order until the first date with data
    assert np.isfinite(res.metrics["rank_ic"])  # IC skips the unscored rows


def test_no_spread_means_nothing_to_rank_but_one_asset_or_none_is_a_universe():
    assert no_spread(pd.Series([0.5, 0.5, 0.5]))
    assert no_spread(pd.Series([np.nan, np.nan]))
    assert no_spread(pd.Series([0.2, np.nan, 0.2]))
    assert not no_spread(pd.Series([0.2, np.nan, 0.3]))
    assert not no_spread(pd.Series([0.2]))  # a single scored asset
    assert not no_spread(pd.Series(dtype=float))  # nothing eligible: the rule decides (sells)


# ---- ties ----------------------------------------------------------------------------------------------------

def _weights(rule, scores: pd.Series, current: pd.Series) -> pd.Series:
    return rule(scores, current).sort_index()


@pytest.mark.parametrize("rule", [topk(3), topk_dropout(3, 1), topk_dropout(3, 1, hold=True), long_short(2)],
                         ids=["topk", "topk_dropout", "topk_dropout_hold", "long_short"])
def test_ties_are_broken_held_names_first_then_by_asset_code(rule):
    scores = pd.Series([1.0, 2.0, 2.0, 2.0, 2.0, 0.0, 0.0, 0.0], index=list("HGFEDCBA"))
    rng = np.random.default_rng(0)
    base = _weights(rule, scores, pd.Series(dtype=float))
    for _ in range(5):  # the order of the assets never matters
        shuffled = scores.iloc[rng.permutation(len(scores))]
        pd.testing.assert_series_equal(_weights(rule, shuffled, pd.Series(dtype=float)), base)
    if rule.__qualname__.startswith("long_short"):
        assert list(base.index) == ["A", "B", "D", "E"]  # by code among the tied best and the tied worst
        held = _weights(rule, scores, pd.Series({"G": 0.25, "C": -0.25}))
        assert set(held.index) == {"A", "C", "D", "G"}  # a held name wins a tie on its side
        return
    assert list(base.index) == ["D", "E", "F"]  # no holdings: by asset code
    held = _weights(rule, scores, pd.Series({"G": 1 / 3}))
    assert "G" in held.index and list(held.index[held.index != "G"]) == ["D", "E"]


def test_shuffling_the_panels_columns_gives_the_same_weights():
    """A factor of three levels: many assets tie on every date, so top-k's choice among them used to follow the
    order of the data's columns."""
    df = noise_frame(200, 12)
    df["noise"] = np.random.default_rng(3).integers(0, 3, len(df)).astype(float)
    panel = panel_from_frame(df, source="ties")
    perm = np.random.default_rng(1).permutation(len(panel.assets))
    shuffled = Panel(panel.dates, panel.assets[perm], panel.fields, panel.values[:, perm, :], name="ties")

    def weights(p: Panel) -> pd.DataFrame:
        w = run_backtest(Small, data=p, progress=False, cache=False).weights
        return w.sort_values(["date", "asset"]).reset_index(drop=True)

    a, b = weights(panel), weights(shuffled)
    assert len(a) > 50
    pd.testing.assert_frame_equal(a, b)


# ---- target_weights that is not a weight per asset -----------------------------------------------------------

class Forgetful(Small):
    custom_params = ("returns",)
    returns = "none"

    def target_weights(self, scores, current, rule):
        w = rule(scores, current)
        if self.returns == "none":
            w = w * 1  # ... and the `return` is forgotten
            return None
        if self.returns == "list":
            return list(w)
        if self.returns == "frame":
            return w.to_frame()
        if self.returns == "text":
            return w.astype(object).where(w.index != w.index[0], "a lot")
        if self.returns == "bool":
            return w > 0
        return w


@pytest.mark.parametrize(("returns", "message"), [
    ("none", "returned NoneType (a forgotten `return`?)"),
    ("list", "returned list; it must return a pandas Series"),
    ("frame", "returned DataFrame"),
    ("text", "returned a value that is not a weight: 'a lot'"),
    ("bool", "returned a value that is not a weight: True"),
])
def test_target_weights_that_are_not_a_weight_per_asset_are_refused_naming_the_date(returns, message):
    with pytest.raises(StrategyError, match=r"target_weights on \d{4}-\d\d-\d\d ") as err:
        run_backtest(Forgetful, progress=False, returns=returns)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_nan_weights_still_mean_no_order():
    res = run_backtest(Small, progress=False, portfolio="topk_dropout",
                       portfolio_params={"k": 3, "n_drop": 1, "hold": True})
    assert res.weights["weight"].isna().any() and np.isfinite(res.metrics["sharpe"])


def test_a_forgotten_return_is_one_line_from_the_command_line(tmp_path, capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    path = tmp_path / "forgetful.py"
    path.write_text("from tests.test_silent_cases import Forgetful\n\n\nclass ForgetfulCli(Forgetful):\n    pass\n")
    one_line(capsys, main(["run", str(path), "--out", str(tmp_path / "r"), "-q"]), "a forgotten `return`",
             "target_weights on 20")


# ---- strategy files ------------------------------------------------------------------------------------------

def test_a_file_with_two_strategies_is_refused_naming_them(tmp_path, capsys):
    path = tmp_path / "two.py"
    path.write_text(TINY_FILE.format(name="First") + TINY_FILE.format(name="Second").replace("from seqalpha import "
                                                                                          "Strategy", ""))
    with pytest.raises(StrategyError, match=r"defines 2 strategies \(First, Second\): choose one with --strategy"):
        load_strategy_file(path)
    assert load_strategy_file(path, "First")[0].__name__ == "First"
    for command in (["run", str(path), "--out", str(tmp_path / "r")],
                    ["sweep", str(path), "--seeds", "0", "--out", str(tmp_path / "s")],
                    ["audit", str(path)]):
        one_line(capsys, main(command), "First, Second", "--strategy NAME")
    assert not (tmp_path / "r").exists() and not (tmp_path / "s").exists()
    assert main(["run", str(path), "--strategy", "Second", "--out", str(tmp_path / "r"), "-q"]) == 0
    assert json.loads((tmp_path / "r" / "config.json").read_text())["strategy"] == "Second"


def test_a_base_and_its_subclass_or_an_imported_strategy_are_one_strategy(tmp_path):
    family = tmp_path / "family.py"
    family.write_text(TINY_FILE.format(name="Base") + "\n\nclass Child(Base):\n    window = 6\n")
    assert load_strategy_file(family)[0].__name__ == "Child"
    assert load_strategy_file(family, "Base")[0].__name__ == "Base"
    imported = tmp_path / "imported.py"
    imported.write_text(f"import sys\nsys.path.insert(0, {str(tmp_path)!r})\nfrom family import Base, Child\n\n\n"
                        "class Mine(Child):\n    window = 7\n")
    assert load_strategy_file(imported)[0].__name__ == "Mine"
    for name in ("csi300_alstm.py", "lstm_topk.py"):  # the shipped strategies, one of which imports another
        assert load_strategy_file(ROOT / "strategies" / name)[0].__module__.startswith("seqalpha_strategy_")


@pytest.mark.parametrize(("text", "fragments"), [
    ("from seqalpha import Strategy\n\nclass Broken(Strategy)\n    window = 5\n",
     ["syntax error at line 3, column 23: expected ':'"]),
    ("import numpy as np\nimport no_such_module_for_seqalpha\n", ["cannot import module 'no_such_module_for_seqalpha'"]),
    ("from seqalpha import NoSuchThing\n", ["cannot import", "NoSuchThing"]),
])
def test_a_syntax_or_import_error_in_a_strategy_file_is_one_line(tmp_path, capsys, text, fragments):
    path = tmp_path / "broken.py"
    path.write_text(text)
    with pytest.raises(StrategyError):
        load_strategy_file(path)
    one_line(capsys, main(["run", str(path), "--out", str(tmp_path / "r")]), str(path), *fragments)


# ---- run folders ---------------------------------------------------------------------------------------------

def test_a_finished_run_folder_is_not_replaced_without_force(tmp_path, capsys):
    out = tmp_path / "run"
    first = run_backtest(Small, progress=False, out=out)
    with pytest.raises(StrategyError, match=r"holds a finished run \(Small, made .*\): choose another --out, or "
                                            r"replace it with --force"):
        run_backtest(Small, progress=False, out=out, window=6)
    assert json.loads((out / "metrics.json").read_text())["sharpe"] == pytest.approx(first.metrics["sharpe"])
    other = tmp_path / "other.py"
    other.write_text(TINY_FILE.format(name="Other"))
    one_line(capsys, main(["run", str(other), "--out", str(out), "-q"]), "holds a finished run (Small", "--force")
    assert json.loads((out / "config.json").read_text())["strategy"] == "Small"
    assert main(["run", str(other), "--out", str(out), "-q", "--force"]) == 0
    assert json.loads((out / "config.json").read_text())["strategy"] == "Other"
    assert run_backtest(Small, progress=False, out=out, force=True).config["strategy"] == "Small"


# ---- the last tracebacks -------------------------------------------------------------------------------------

class Shaped(Small):
    custom_params = ("shape",)
    shape = "short"

    def features(self, panel):
        values = panel.field("signal")[:, :, None].astype(np.float32)
        if self.shape == "short":
            return FeatureSet(values[:-1], ["signal"])
        if self.shape == "names":
            return FeatureSet(values, ["signal", "extra"])
        return values  # an array, not a FeatureSet


@pytest.mark.parametrize(("shape", "message"), [
    ("short", r"Shaped.features\(\) returned values of the wrong shape: expected \(200, 12, 1\) \(dates, assets, "
              r"features\) for data .*, got \(199, 12, 1\)"),
    ("names", r"values of shape \(200, 12, 1\) do not match 2 name\(s\) \['signal', 'extra'\]: expected "
              r"\(dates, assets, 2\)"),
    ("array", r"Shaped.features\(\) returned ndarray, expected a FeatureSet"),
])
def test_features_of_the_wrong_shape_name_expected_and_got(shape, message, tmp_path, capsys, monkeypatch):
    with pytest.raises(StrategyError if shape != "names" else ValueError, match=message):
        run_backtest(Shaped, progress=False, shape=shape)
    monkeypatch.syspath_prepend(str(ROOT))
    path = tmp_path / "shaped.py"
    path.write_text("from tests.test_silent_cases import Shaped\n\n\nclass ShapedCli(Shaped):\n    pass\n")
    one_line(capsys, main(["run", str(path), "--out", str(tmp_path / "r"), "--set", f"shape={shape!r}"]),
             "shape")


def test_negative_seeds_are_refused_before_any_data(tmp_path, capsys):
    with pytest.raises(StrategyError, match="seed must be an int >= 0, got -1"):
        Small(seed=-1)
    with pytest.raises(StrategyError, match=r"seeds must be None or a non-empty list of ints >= 0, got \[0, -2\]"):
        Small(seeds=[0, -2])
    with pytest.raises(StrategyError, match="--seeds must be integers >= 0"):
        parse_seeds("-1,0")
    path = tmp_path / "nodata.py"
    path.write_text(TINY_FILE.format(name="NoData").replace("synthetic?assets=12&days=200",
                                                             f"parquet:{tmp_path / 'missing.parquet'}"))
    one_line(capsys, main(["sweep", str(path), "--seeds=-1,0", "--out", str(tmp_path / "s")]), "--seeds must be")
    one_line(capsys, main(["sweep", str(path), "--grid", "seed=[0, -3]", "--out", str(tmp_path / "s")]),
             "seed must be an int >= 0, got -3")
    one_line(capsys, main(["run", str(path), "--set", "seed=-1", "--out", str(tmp_path / "r")]),
             "seed must be an int >= 0")
    assert not (tmp_path / "s").exists() and not (tmp_path / "r").exists()


@pytest.mark.parametrize("address", ["tcp//10.0.0.5:8786", "localhost", "http://host:8786", "tcp://host:99999",
                                     "tcp://host:port", "tcp://two words:8786", ""])
def test_a_malformed_scheduler_address_is_one_line_before_connecting(address, tmp_path, capsys):
    with pytest.raises(StrategyError, match="is not a Dask scheduler address: write tcp://HOST:PORT"):
        check_scheduler_address(address)
    with pytest.raises(StrategyError, match="not a Dask scheduler address"), dask_client(None, address):
        pass
    path = tmp_path / "s.py"
    path.write_text(TINY_FILE.format(name="Sched"))
    one_line(capsys, main(["sweep", str(path), "--seeds", "0", "--scheduler", address, "--out", str(tmp_path / "s")]),
             "not a Dask scheduler address")
    assert not (tmp_path / "s").exists()


def test_well_formed_scheduler_addresses_pass_the_check():
    for address in ("tcp://10.0.0.5:8786", "tls://scheduler.example.org:8786", "localhost:8786", "tcp://[::1]:8786",
                    "ucx://node-3"):
        assert check_scheduler_address(address) == address


def pick_best(scores: pd.Series) -> pd.Series:
    return scores.nlargest(3)


def pick_worst(scores: pd.Series) -> pd.Series:
    return scores.nsmallest(3)


class Picky(Small):
    custom_params = ("pick",)
    pick = None

    def target_weights(self, scores, current, rule):
        if self.pick is None:
            return rule(scores, current)
        chosen = self.pick(scores.dropna())
        return pd.Series(1.0 / len(chosen), index=chosen.index)


def test_a_grid_of_functions_runs_from_python(tmp_path):
    res = sweep(Picky, grid={"pick": [pick_best, pick_worst, lambda s: s.nlargest(2)]}, out=tmp_path / "sweep")
    table = res.table
    assert list(table["status"]) == ["ok", "ok", "ok"], table["error"].tolist()
    names = table["run_dir"].tolist()
    module = pick_best.__module__
    assert names[:2] == [f"pick={module}.pick_best", f"pick={module}.pick_worst"]
    assert "lambda" in names[2] and len(set(names)) == 3
    assert table["pick"].tolist()[:2] == [f"{module}.pick_best", f"{module}.pick_worst"]
    assert table.loc[0, "sharpe"] != table.loc[1, "sharpe"]  # each run used its own function
    assert (tmp_path / "sweep" / "summary.md").is_file()


def mse(pred, target, dates):
    return ((pred - target) ** 2).mean()


def mae(pred, target, dates):
    return (pred - target).abs().mean()


def test_a_grid_of_model_params_holding_a_loss_function_runs_from_python(tmp_path):
    fast = {"hidden_size": 4, "epochs": 1, "patience": 1, "batch_size": 256}
    res = sweep(Small, grid={"model_params": [{**fast, "loss": mse}, {**fast, "loss": mae}]},
                overrides={"model": "lstm", "retrain": None}, out=tmp_path / "sweep")
    table = res.table
    assert list(table["status"]) == ["ok", "ok"], table["error"].tolist()
    assert table["run_dir"].str.contains(f"{mse.__module__}.mse").iloc[0]
    assert table["run_dir"].str.contains(f"{mae.__module__}.mae").iloc[1]
    assert f'"loss":"{mae.__module__}.mae"' in table["model_params"].iloc[1]


def test_a_sweep_whose_runs_all_fail_writes_its_summary_and_exits_1(tmp_path, capsys):
    path = tmp_path / "tiny.py"
    path.write_text(TINY_FILE.format(name="TinyFail"))
    out = tmp_path / "all"
    code = main(["sweep", str(path), "--seeds", "0,1", "--set", "window=500", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "Traceback" not in err
    assert "seqalpha: all 2 runs failed; the first error: seed=0: DataError: the panel has 200 dates" in err
    for name in ("results.parquet", "summary.md", "report.html"):
        assert (out / name).is_file(), name
    summary = (out / "summary.md").read_text()
    assert summary.startswith("# Sweep: 2 runs, 2 failed") and "All 2 runs failed" in summary
    assert "2 failed" in (out / "report.html").read_text()
    assert (pd.read_parquet(out / "results.parquet")["status"] == "failed").all()


def test_a_sweep_exits_0_only_when_every_run_succeeded(tmp_path, capsys):
    path = tmp_path / "tiny.py"
    path.write_text(TINY_FILE.format(name="TinyHalf"))
    code = main(["sweep", str(path), "--grid", "window=[5, 500]", "--out", str(tmp_path / "half")])
    err = capsys.readouterr().err
    assert code == 1 and "seqalpha: 1 of 2 runs failed; the first error: window=500: DataError" in err, err
    assert (tmp_path / "half" / "summary.md").read_text().startswith("# Sweep: 2 runs, 1 failed")
    assert main(["sweep", str(path), "--grid", "window=[5]", "--out", str(tmp_path / "ok")]) == 0
