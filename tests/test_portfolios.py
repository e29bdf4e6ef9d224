"""Portfolio rules: topk, topk_dropout (Qlib semantics), long_short."""

from __future__ import annotations

import pandas as pd
import pytest

from seqalpha.builtin_plugins.portfolios import long_short, topk, topk_dropout


def scores(n=10):
    return pd.Series({f"A{i}": float(i) for i in range(n)})


def test_topk_equal_weight_on_best():
    w = topk(k=3)(scores(), pd.Series(dtype=float))
    assert sorted(w.index) == ["A7", "A8", "A9"] and w.sum() == pytest.approx(1.0)


def test_topk_dropout_replaces_at_most_n_drop():
    rule = topk_dropout(k=4, n_drop=1)
    held = pd.Series(0.25, index=["A0", "A1", "A8", "A9"])
    w = rule(scores(), held)
    assert len(w) == 4 and "A0" not in w.index and {"A1", "A8", "A9"} <= set(w.index) and "A7" in w.index
    assert w.sum() == pytest.approx(1.0)


def test_topk_dropout_from_empty_fills_k():
    w = topk_dropout(k=3, n_drop=1)(scores(), pd.Series(dtype=float))
    assert sorted(w.index) == ["A7", "A8", "A9"]


def test_topk_dropout_sells_names_that_left_the_universe():
    held = pd.Series(0.5, index=["GONE", "A9"])
    w = topk_dropout(k=2, n_drop=1)(scores(), held)
    assert "GONE" not in w.index and len(w) == 2


def test_long_short_is_dollar_neutral():
    w = long_short(k=2)(scores(), pd.Series(dtype=float))
    assert w.sum() == pytest.approx(0.0) and w.abs().sum() == pytest.approx(1.0)
    assert set(w[w > 0].index) == {"A8", "A9"} and set(w[w < 0].index) == {"A0", "A1"}


def test_bad_k():
    with pytest.raises(ValueError, match="k must be a positive integer"):
        topk(k=0)
