"""seqalpha audit: a clean strategy passes; each kind of leak in a user's own pipeline is caught and named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seqalpha.audit import run_audit
from seqalpha.cli import main

BASE = '''
import numpy as np
import pandas as pd

from seqalpha import Strategy
from seqalpha.feature_sets import FeatureSet


class Audited(Strategy):
    data = "synthetic?assets=16&days=300&seed=3"
    model = "lstm"
    model_params = {"hidden_size": 4, "epochs": 1, "patience": 1, "batch_size": 256}
    window = 8
    horizon = 2
    retrain = "QS"
    min_train_bars = 100
    portfolio_params = {"k": 4}
'''

LEAKS = {
    "centred_window": ('''
    def features(self, panel):
        signal = pd.DataFrame(panel.field("signal")).rolling(5, center=True, min_periods=1).mean().to_numpy()
        return FeatureSet(signal[:, :, None].astype(np.float32), ["smooth_signal"])
''', "feature 'smooth_signal' at"),
    "whole_sample_zscore": ('''
    def features(self, panel):
        x = panel.field("signal")
        z = (x - np.nanmean(x)) / np.nanstd(x)
        return FeatureSet(z[:, :, None].astype(np.float32), ["z_all"])
''', "feature 'z_all' at"),
    "survivors_universe": ('''
    def universe(self, panel):
        listed = panel.listed()
        return listed & listed[-1][None, :]  # only names still listed on the last date
''', "universe() at"),
}


def strategy_file(tmp_path: Path, body: str = "") -> Path:
    path = tmp_path / "audited.py"
    path.write_text(BASE + body)
    return path


@pytest.mark.slow
def test_a_clean_strategy_passes_every_check_and_json_says_so(tmp_path, capsys):
    """Weekly rebalances leave the skill check too few decision bars: it warns, and the audit still exits 0."""
    code = main(["audit", str(strategy_file(tmp_path)), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["passed"], out
    assert [c["check"] for c in out["checks"]] == ["data", "truncation", "scores", "embargo", "target_weights",
                                                   "skill", "canaries"]
    states = {c["check"]: c["state"] for c in out["checks"]}
    assert states == {"data": "pass", "truncation": "pass", "scores": "pass", "embargo": "pass",
                      "target_weights": "pass", "skill": "warn", "canaries": "pass"}, out
    assert out["state"] == "warn"
    skill = next(c for c in out["checks"] if c["check"] == "skill")
    assert "the check needs 120" in skill["detail"] and "rebalance='W'" in skill["detail"], skill
    canary = next(c for c in out["checks"] if c["check"] == "canaries")["data"]
    assert abs(canary["tomorrow"]) < 0.1 and canary["label"] > 0.9


@pytest.mark.parametrize("leak", sorted(LEAKS))
def test_a_leaking_feature_or_universe_is_named(tmp_path, capsys, leak):
    body, named = LEAKS[leak]
    code = main(["audit", str(strategy_file(tmp_path, body))])
    out = capsys.readouterr().out
    assert code == 1, out
    line = next(line for line in out.splitlines() if line.startswith("truncation"))
    assert "FAIL" in line and named in line, out


def test_the_canaries_catch_a_pipeline_that_trades_on_the_signal_bar(tmp_path, monkeypatch):
    """A label computed from the signal bar's own price (the execution lag dropped) lets tomorrow's return
    predict it: the canary check fails."""
    from seqalpha.backtest import dataset
    from seqalpha.features import labels

    def lagless(price, horizon, mask, benchmark_price=None):
        earlier = np.vstack([np.full((1, price.shape[1]), np.nan), price[:-1]])  # the bug: label from P[t], not P[t+1]
        return labels.excess_labels(earlier, horizon, mask, benchmark_price)

    monkeypatch.setattr(dataset, "excess_labels", lagless)
    from seqalpha import load_strategy_file

    cls, _ = load_strategy_file(strategy_file(tmp_path))
    results = {c.name: c for c in run_audit(cls, overrides={"horizon": 1})}
    assert not results["canaries"].passed
    assert "reads ahead" in results["canaries"].detail


def test_a_broken_embargo_is_caught(tmp_path, monkeypatch):
    from seqalpha import load_strategy_file
    from seqalpha.backtest import walkforward

    real = walkforward.training_dates

    def leaky(t, strategy, horizon=None):
        train, valid = real(t, strategy, horizon)
        return np.r_[train, np.arange(train.max() + 1, t - 1)] if len(train) else train, valid

    monkeypatch.setattr(walkforward, "training_dates", leaky)
    cls, _ = load_strategy_file(strategy_file(tmp_path))
    results = {c.name: c for c in run_audit(cls, overrides={"valid_fraction": 0.0})}
    assert not results["embargo"].passed and "labels need 3" in results["embargo"].detail


def test_usage_errors_exit_2(tmp_path, capsys):
    assert main(["audit", str(tmp_path / "missing.py")]) == 2
    assert main(["audit", str(strategy_file(tmp_path)), "--set", "windw=3"]) == 2


# ---- target_weights ---------------------------------------------------------------------------------------

CLOSURE_LEAK = '''
from seqalpha.backtest.walkforward import WalkForward
from seqalpha.builtin_plugins.synthetic import make_synthetic_panel

PANEL = make_synthetic_panel(assets=16, days=300, seed=3)  # the strategy's data, loaded when the file is imported
CLOSE = PANEL.close.astype(np.float64)


class Leaky(Audited):
    rebalance = "D"

    def universe(self, panel):
        self._dates, self._k = panel.dates, 0
        return panel.eligible()

    def target_weights(self, scores, current, rule):
        t = sorted(WalkForward.of(self, self._dates).rebalance_bars)[self._k]  # today, from its own calendar
        self._k += 1
        held = pd.Series(CLOSE[t + 2] / CLOSE[t + 1] - 1, index=PANEL.assets).reindex(scores.index)
        return pd.Series(0.25, index=held.dropna().nlargest(4).index)  # the best over the bar it holds them
'''


@pytest.mark.slow
def test_target_weights_reading_tomorrow_through_a_closure_fails_the_skill_check(tmp_path, capsys):
    """The leak bypasses the panel seqalpha hands over, so truncation cannot see it; its weights' rank IC against
    the returns they earn far exceeds the scores'. The old audit passed it (exit 0)."""
    code = main(["audit", str(strategy_file(tmp_path, CLOSURE_LEAK))])
    out = capsys.readouterr().out
    assert code == 1, out
    line = next(line for line in out.splitlines() if line.startswith("skill"))
    assert "FAIL" in line and "target_weights uses information the scores do not carry" in line, out
    assert line.count("(weight IC") == 5, line  # the 5 worst dates, named
    assert "PASS" in next(line for line in out.splitlines() if line.startswith("target_weights")), out
    assert "audit FAILED" in out


class OwnClock:
    """A strategy mixin whose target_weights knows today's bar from its own calendar (seqalpha hands it only the
    scores and the current weights) and keeps the panel universe() was handed."""

    def universe(self, panel):
        self._panel, self._bars, self._k = panel, None, 0
        return panel.eligible()

    def today(self) -> int:
        from seqalpha.backtest.walkforward import WalkForward

        if self._bars is None:
            self._bars = sorted(WalkForward.of(self, self._panel.dates).rebalance_bars)
        self._k += 1
        return self._bars[self._k - 1]


def _tiny(**params):
    from seqalpha import Strategy

    base = {"model": "lstm", "model_params": {"hidden_size": 4, "epochs": 1, "patience": 1, "batch_size": 256},
            "window": 8, "horizon": 2, "retrain": "QS", "min_train_bars": 100, "portfolio_params": {"k": 4},
            **params}
    return type("Tiny", (Strategy,), base)


class VolScaled(OwnClock, _tiny(rebalance="D")):
    """The top 4 by score, weighted by the inverse of each name's volatility over the 20 bars up to today."""

    def target_weights(self, scores, current, rule):
        t = self.today()
        close = pd.DataFrame(self._panel.close[t - 20:t + 1], columns=self._panel.assets, dtype=np.float64)
        inverse = 1.0 / np.log(close).diff().std()  # rows t - 20 .. t only
        top = inverse.reindex(rule(scores, current).index).fillna(0.0)
        return top / top.sum() if top.sum() > 0 else top


class PanelLeak(OwnClock, _tiny(rebalance="W")):
    """Keeps the panel universe() was handed and buys the 4 names that do best over the bar it holds them."""

    def target_weights(self, scores, current, rule):
        t, close = self.today(), self._panel.close.astype(np.float64)
        ahead = pd.Series(close[t + 2] / close[t + 1] - 1, index=self._panel.assets).reindex(scores.index)
        return pd.Series(0.25, index=ahead.dropna().nlargest(4).index)


@pytest.fixture(scope="module")
def tiny_panel():
    from seqalpha.data import load_panel
    from seqalpha.plugins import collect_registries

    return load_panel("synthetic?assets=16&days=300&seed=3", collect_registries().data_sources)


def target_weight_checks(cls, panel, **overrides) -> dict:
    """The audit's two target_weights checks alone (one run of the strategy's own model, fitted once)."""
    from seqalpha.audit import weights
    from seqalpha.backtest.run import portfolio_rule
    from seqalpha.plugins import collect_registries

    registries = collect_registries()
    decisions = weights.skill_run(cls, overrides, panel, [])
    checks = [weights.truncation(cls, panel, registries.features, decisions, lambda s: portfolio_rule(s, registries)),
              weights.skill(cls(**overrides), panel, decisions)]
    return {c.name: c for c in checks}


def test_target_weights_reading_the_panel_it_was_handed_fails_truncation(tiny_panel):
    found = target_weight_checks(PanelLeak, tiny_panel)
    assert found["target_weights"].state == "fail", found["target_weights"].detail
    assert "when every value after" in found["target_weights"].detail
    assert found["skill"].state == "warn"  # weekly: too few decision bars to judge skill


def test_target_weights_scaled_by_trailing_volatility_pass(tiny_panel):
    found = target_weight_checks(VolScaled, tiny_panel)
    assert found["target_weights"].state == "pass", found["target_weights"].detail
    assert found["skill"].state == "pass", found["skill"].detail
    assert found["skill"].data["n_dates"] >= 120


BUILT_IN_FAST = {"model_params": {"hidden_size": 4, "epochs": 1, "patience": 1, "batch_size": 256}, "window": 10,
                 "min_train_bars": 60, "rebalance": "D", "portfolio_params": {"k": 5}}


@pytest.mark.slow
@pytest.mark.parametrize("name, extra", [
    ("lstm_topk", {}),
    ("gru_topk_dropout", {"portfolio_params": {"k": 5, "n_drop": 1, "hold": True}}),  # NaN: no order
    ("linear_long_short", {"model_params": {}}),
])
def test_the_built_in_strategies_pass_the_target_weights_checks(name, extra):
    from seqalpha import load_strategy_file
    from seqalpha.data import load_panel
    from seqalpha.plugins import collect_registries

    cls, _ = load_strategy_file(Path(__file__).parent.parent / "strategies" / f"{name}.py")
    panel = load_panel("synthetic?assets=20&days=260&seed=1", collect_registries().data_sources)
    found = target_weight_checks(cls, panel, **{**BUILT_IN_FAST, **extra})
    assert found["target_weights"].state == "pass", found["target_weights"].detail
    assert found["skill"].state == "pass", found["skill"].detail
    assert found["skill"].data["n_dates"] >= 120


# ---- three states -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("states, code, verdict", [
    (["pass", "pass"], 0, "audit passed in"),
    (["pass", "warn"], 0, "audit passed with 1 warning(s)"),
    (["warn", "fail"], 1, "audit FAILED"),
])
def test_a_warning_exits_0_and_a_failure_1(tmp_path, capsys, monkeypatch, states, code, verdict):
    from seqalpha.audit import Check, runner

    fake = [Check(f"c{k}", s, f"detail {k}") for k, s in enumerate(states)]
    monkeypatch.setattr(runner, "run_audit", lambda *a, **k: fake)
    assert main(["audit", str(strategy_file(tmp_path))]) == code
    out = capsys.readouterr().out
    assert verdict in out and all(f"{s.upper():<6}" in out for s in states), out
    assert main(["audit", str(strategy_file(tmp_path)), "--json"]) == code
    out = json.loads(capsys.readouterr().out)
    assert [c["state"] for c in out["checks"]] == states
    assert out["state"] == ("fail" if "fail" in states else "warn" if "warn" in states else "pass")
    assert out["passed"] == (code == 0)


def test_a_check_state_is_pass_warn_or_fail():
    from seqalpha.audit import Check

    assert Check("x", True, "").state == "pass" and Check("x", False, "").state == "fail"  # the old bool form
    assert Check("x", np.float64(0.2) > 0.5, "").state == "fail"  # numpy's bool too
    assert Check("x", "warn", "").passed and not Check("x", "fail", "").passed
    with pytest.raises(ValueError, match="state must be one of"):
        Check("x", "ok", "")
