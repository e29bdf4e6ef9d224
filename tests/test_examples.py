"""The README's plugin example runs, loaded with --plugins-dir."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from seqalpha.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_plugins_dir_example_model_runs(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["run", str(ROOT / "strategies" / "lstm_topk.py"), "--plugins-dir", str(ROOT / "examples" / "plugins"),
                 "--set", "model=tiny_conv", "--set", "data='synthetic?assets=12&days=220'", "--set", "min_train_bars=80",
                 "--set", "window=10", "--set", "model_params={'epochs': 2, 'channels': 4}",
                 "--set", "portfolio_params={'k': 3}", "--out", str(out), "--quiet"])
    assert code == 0, capsys.readouterr().err
    assert json.loads((out / "config.json").read_text())["params"]["model"] == "tiny_conv"
    metrics = json.loads((out / "metrics.json").read_text())
    training = pd.read_parquet(out / "training.parquet")
    assert metrics["n_model_fits"] == metrics["n_retrains"] >= 1
    # epochs=2 and no early stop before the second epoch: two rows per retrain, counted 1 and 2
    assert len(training) == 2 * metrics["n_retrains"]
    assert all(sorted(epochs) == [1, 2] for _, epochs in training.groupby("retrain_date")["epoch"])
    assert training["train_loss"].notna().all()  # the network really trained
    scores = pd.read_parquet(out / "scores.parquet")
    assert len(scores) > 0 and scores["score"].std() > 0
    flow = pd.read_parquet(out / "gradient_flow.parquet")
    assert set(flow["model"]) == {"tiny_conv"} and flow["lag"].max() == 9  # a window of 10 bars
    assert "tiny_conv" in (out / "report.html").read_text(encoding="utf-8")
