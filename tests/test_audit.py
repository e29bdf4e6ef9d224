"""seqalpha audit: a clean strategy passes; each kind of leak in a user's own pipeline is caught and named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from framework.audit import run_audit
from framework.cli import main

BASE = '''
import numpy as np
import pandas as pd

from framework import Strategy
from framework.feature_sets import FeatureSet


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


def test_a_clean_strategy_passes_every_check_and_json_says_so(tmp_path, capsys):
    code = main(["audit", str(strategy_file(tmp_path)), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["passed"], out
    assert [c["check"] for c in out["checks"]] == ["truncation", "scores", "embargo", "canaries"]
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
    from framework.backtest import dataset
    from framework.features import labels

    def lagless(price, horizon, mask, benchmark_price=None):
        earlier = np.vstack([np.full((1, price.shape[1]), np.nan), price[:-1]])  # the bug: label from P[t], not P[t+1]
        return labels.excess_labels(earlier, horizon, mask, benchmark_price)

    monkeypatch.setattr(dataset, "excess_labels", lagless)
    from framework import load_strategy_file

    cls, _ = load_strategy_file(strategy_file(tmp_path))
    results = {c.name: c for c in run_audit(cls, overrides={"horizon": 1})}
    assert not results["canaries"].passed
    assert "reads ahead" in results["canaries"].detail


def test_a_broken_embargo_is_caught(tmp_path, monkeypatch):
    from framework import load_strategy_file
    from framework.backtest import walkforward

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
