"""The README's plugin example runs, loaded with --plugins-dir."""

from __future__ import annotations

import json
from pathlib import Path

from framework.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_plugins_dir_example_model_runs(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["run", str(ROOT / "strategies" / "lstm_topk.py"), "--plugins-dir", str(ROOT / "examples" / "plugins"),
                 "--set", "model=tcn", "--set", "data='synthetic?assets=12&days=220'", "--set", "min_train_bars=80",
                 "--set", "window=10", "--set", "model_params={'epochs': 2, 'channels': 4}",
                 "--set", "portfolio_params={'k': 3}", "--out", str(out), "--quiet"])
    assert code == 0, capsys.readouterr().err
    assert json.loads((out / "config.json").read_text())["params"]["model"] == "tcn"
    assert (out / "report.html").exists()
