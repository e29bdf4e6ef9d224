"""Every factor operator against pyqlib 0.9.7's own values (tests/fixtures/qlib_ops, written by
benchmarks/make_qlib_operator_reference.py), and the parser's refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seqalpha.builtin_plugins.qlib_data import read_qlib
from seqalpha.features.expr_engine import compile_expressions, evaluate
from seqalpha.features.expr_parse import ExpressionError, parse

FIXTURE = Path(__file__).parent / "fixtures" / "qlib_ops"


@pytest.fixture(scope="module")
def computed():
    panel = read_qlib(FIXTURE, fields=["open", "high", "low", "close", "volume", "x"])
    expected = pd.read_csv(FIXTURE / "expected.csv", parse_dates=["date"])
    names = [c for c in expected.columns if c not in ("asset", "date")]
    fs = evaluate({n: n for n in names}, panel)
    t = panel.dates.get_indexer(expected["date"])
    i = panel.assets.get_indexer(expected["asset"])
    return fs, expected, names, t, i


def test_every_operator_is_in_the_reference():
    from seqalpha.features.expr_ops import CROSS_SECTIONAL, SIGNATURES

    text = " ".join(pd.read_csv(FIXTURE / "expected.csv", nrows=1).columns)
    symbols = {"Add": "+", "Sub": "-", "Mul": "*", "Div": "/", "Gt": ">", "Ge": ">=", "Lt": "<", "Le": "<=",
               "Eq": "==", "Ne": "!=", "And": "&", "Or": "|"}
    missing = [op for op in SIGNATURES if op not in CROSS_SECTIONAL | {"Neg", "Not"}
               and f"{op}(" not in text and symbols.get(op, "@@") not in text]
    assert not missing, f"operators without a pyqlib reference: {missing}"


def test_operators_match_pyqlib(computed):
    fs, expected, names, t, i = computed
    problems = []
    for k, name in enumerate(names):
        ours = fs.values[t, i, k].astype(np.float64)
        theirs = expected[name].to_numpy(np.float64)
        theirs = np.where(np.isfinite(theirs), theirs, np.nan)  # seqalpha stores +-inf as missing
        nan_diff = int((np.isnan(ours) != np.isnan(theirs)).sum())
        both = ~np.isnan(ours) & ~np.isnan(theirs)
        bad = int((np.abs(ours[both] - theirs[both]) > np.maximum(1e-4 * np.abs(theirs[both]), 1e-6)).sum())
        if nan_diff or bad:
            problems.append(f"{name}: {nan_diff} NaN cell(s) differ, {bad} value(s) beyond 1e-4")
    assert not problems, "\n".join(problems)


def test_cross_sectional_operators_rank_within_the_universe():
    panel = read_qlib(FIXTURE)
    universe = panel.listed().copy()
    universe[:, 0] = False  # the first asset is outside the universe: NaN, and not in anyone's rank
    fs = evaluate({"r": "CSRank($close)", "z": "CSZScore($close)", "d": "CSDemean($close)"}, panel, universe)
    close = np.where(universe, panel.close, np.nan)
    t = 100
    row = close[t][np.isfinite(close[t])]
    assert np.isnan(fs.values[t, 0]).all()
    got = fs.values[t, universe[t]]
    assert got[:, 0] == pytest.approx(pd.Series(row).rank(pct=True).to_numpy(), rel=1e-6)
    assert got[:, 1] == pytest.approx((row - row.mean()) / row.std(ddof=1), rel=1e-5)
    assert got[:, 2] == pytest.approx(row - row.mean(), rel=1e-5)


@pytest.mark.parametrize("text, needle", [
    ("Ref($close, -1)", "reads the future"),
    ("Mean($close, -5)", "reads the future"),
    ("Corr($close, $volume, -3)", "reads the future"),
    ("Meen($close, 5)", "Did you mean 'Mean'"),
    ("Mean(close, 5)", "Did you mean $close"),
    ("Mean($close)", "takes 2 argument"),
    ("Mean($close, 2.5)", "whole number"),
    ("Quantile($close, 5, 1.5)", "[0, 1]"),
    ("__import__('os')", "unknown operator"),
    ("$close.__class__", "not an expression"),
    ("1 < $close < 2", "chained"),
    ("Skew($close, 2)", "at least 3"),
])
def test_bad_expressions_are_refused_naming_the_factor(text, needle):
    with pytest.raises(ExpressionError) as err:
        parse(text, "f1", "MyStrategy.expressions")
    message = str(err.value)
    assert needle in message and "MyStrategy.expressions['f1']" in message and "\n" not in message


def test_unknown_field_is_refused_with_did_you_mean():
    panel = read_qlib(FIXTURE)
    with pytest.raises(ExpressionError, match=r"no field \$clse.*Did you mean 'close'"):
        evaluate({"a": "$clse / $open"}, panel)


def test_shared_subexpressions_are_computed_once(monkeypatch):
    from seqalpha.features import expr_engine

    calls = []
    real = expr_engine.apply
    monkeypatch.setattr(expr_engine, "apply", lambda op, args, ctx: calls.append(op) or real(op, args, ctx))
    panel = read_qlib(FIXTURE)
    evaluate({"a": "Mean($close, 5)/$close", "b": "Mean($close, 5) - Std($close, 5)", "c": "Std($close, 5)"}, panel,
             threads=1)
    blocks = 1  # 4 assets: one block
    assert calls.count("Mean") == blocks and calls.count("Std") == blocks


def test_a_preallocated_output_is_written_and_returned():
    panel = read_qlib(FIXTURE)
    program = compile_expressions({"a": "Mean($close, 5)", "b": "$close"})
    out = np.full((len(panel.dates), len(panel.assets), 2), 7, dtype=np.float32)
    fs = evaluate(program, panel, out=out)
    assert fs.values is out and np.isnan(out[0, 1, 0])  # SH600001 lists on day 30: nothing before
    assert out[50, 0, 1] == np.float32(panel.close[50, 0])
