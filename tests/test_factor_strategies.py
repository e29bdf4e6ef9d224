"""Expression factors in strategies: alpha158 plus a strategy's own expressions, end to end and audited; the
documented example runs; a future reference is refused in one line with exit 2; the identity carries them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from seqalpha import Strategy, run_backtest
from seqalpha.features.expr_parse import ExpressionError

ROOT = Path(__file__).resolve().parents[1]

STRATEGY = '''
from seqalpha import Strategy

class Mixed(Strategy):
    data = "synthetic?assets=10&days=160&seed=0&ohlc=1"
    feature_set = "alpha158"
    expressions = {"mom5": "$close/Ref($close, 5) - 1", "vol_rank": "CSRank(Std($close/Ref($close,1), 10))",
                   "gap": "$open/Ref($close, 1) - 1"}
    factors = ["KMID", "MA5", "RSQR10", "CORD5", "mom5", "vol_rank", "gap"]
    model = "linear"
    window = 5
    horizon = 1
    min_train_bars = 60
    retrain = None
    rebalance = "D"
'''


def _write(tmp_path, text, name="mixed.py"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_alpha158_plus_expressions_runs_and_the_identity_carries_them(tmp_path):
    from seqalpha.strategy import load_strategy_file

    cls, _ = load_strategy_file(_write(tmp_path, STRATEGY))
    result = run_backtest(cls, progress=False)
    config = result.config
    assert config["features"]["names"] == list(cls.factors)
    assert config["features"]["expressions"][0] == ["mom5", "$close/Ref($close, 5) - 1"]
    assert "universe" in config["features"]  # CSRank ranks within the universe: its digest is part of the key
    assert np.isfinite(result.scores["score"]).any()


def test_audit_passes_on_alpha158_plus_expressions(tmp_path, capsys, monkeypatch):
    from seqalpha.cli import main

    path = _write(tmp_path, STRATEGY.replace('rebalance = "D"', 'rebalance = "W"'))
    monkeypatch.chdir(tmp_path)
    code = main(["audit", str(path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert re.search(r"truncation\s+PASS", out) and re.search(r"canaries\s+PASS", out)


def test_a_future_reference_is_refused_in_one_line_with_exit_2(tmp_path):
    path = _write(tmp_path, STRATEGY.replace('"$open/Ref($close, 1) - 1"', '"Ref($close, -1)/$close - 1"'))
    out = subprocess.run([str(Path(sys.executable).parent / "seqalpha"), "run", str(path)], capture_output=True,
                         text=True, cwd=tmp_path, timeout=120)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Mixed.expressions['gap']" in lines[0] and "reads the future" in lines[0]
    assert "Traceback" not in out.stderr


def test_a_bad_expression_is_refused_before_any_data_loads():
    class Bad(Strategy):
        data = "no-such-source:anything"
        expressions = {"x": "Mean($close, -3)"}

    with pytest.raises(ExpressionError, match=r"Bad.expressions\['x'\].*reads the future"):
        Bad()


def test_the_documented_example_runs():
    text = (ROOT / "docs" / "factors.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "docs/factors.md", "exec"), namespace)
    cls = namespace["MyFactors"]
    result = run_backtest(cls, progress=False, window=5, horizon=1, min_train_bars=60, retrain=None,
                          factors=["KMID", "ROC5", "mom20", "gap", "vol_rank"])
    assert result.config["features"]["names"] == ["KMID", "ROC5", "mom20", "gap", "vol_rank"]


def test_a_sequence_model_reads_alpha158_windows():
    """The recurrent models take `alpha158` windows as they take `raw` ones: every factor (VWAP0 left out: no vwap
    in the data) over 10 bars, normalised on the training windows (robust), into a tiny LSTM."""

    class Seq(Strategy):
        data = "synthetic?assets=10&days=160&seed=0&ohlc=1"
        feature_set = "alpha158"
        normalize = "robust"
        model = "lstm"
        model_params = {"hidden_size": 4, "epochs": 1, "patience": 1, "batch_size": 256}
        window = 10
        horizon = 1
        min_train_bars = 80
        retrain = None
        rebalance = "W"
        cache = False

    result = run_backtest(Seq, progress=False)
    names = result.config["features"]["names"]
    assert len(names) == 157 and "VWAP0" not in names and {"KMID", "CORD60", "VSUMD60"} <= set(names)
    assert len(result.training) >= 1 and np.isfinite(result.scores["score"]).any()
