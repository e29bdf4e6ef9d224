"""Built-in portfolio rules: ``topk``, ``topk_dropout`` (Qlib's TopkDropout) and ``long_short``.

A rule is ``rule(scores, current) -> weights``: ``scores`` is a Series over the
assets scored today (the eligible universe; NaN: not scored), ``current`` the weights
held going in (index = assets held). The result is a Series of target weights (absent = 0).
Every rule ranks by ``ranked``: score first; equal scores put the names held first, then
go by asset code, so the result never depends on the order of the data's columns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from seqalpha.hookspecs import hookimpl


def ranked(scores: pd.Series, held=(), ascending: bool = False) -> pd.Series:
    """``scores`` without NaN, best first (worst first with ``ascending``); ties: names in ``held`` first, then by
    asset code. The documented tie rule of every built-in rule (docs/design.md, "Portfolio rules")."""
    scores = scores.dropna()
    values = scores.to_numpy(np.float64)
    held_first = ~scores.index.isin(list(held))  # False (held) sorts first
    codes = np.asarray(scores.index.astype(str), dtype=str)
    return scores.iloc[np.lexsort((codes, held_first, values if ascending else -values))]  # last key is primary


def _held(current: pd.Series, side: int = 1) -> pd.Index:
    """Names held going in on one side (+1 long, -1 short); NaN (held, no order last time) counts on both."""
    return current.index[(current * side > 0) | current.isna()]


def _check_k(name: str, k: int) -> int:
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"portfolio {name!r}: k must be a positive integer, got {k!r}")
    return k


def topk(k: int = 10):
    """Equal weight on the k highest scores."""
    _check_k("topk", k)

    def rule(scores: pd.Series, current: pd.Series) -> pd.Series:
        best = ranked(scores, _held(current)).index[:k]
        return pd.Series(1.0 / len(best), index=best) if len(best) else pd.Series(dtype=float)

    return rule


def topk_dropout(k: int = 50, n_drop: int = 5, hold: bool = False):
    """Hold k names; each rebalance replace at most n_drop of the worst-scored held ones (Qlib's TopkDropout).

    Held names without a score today (left the universe) are sold on top of n_drop. With ``hold=False`` every
    name held is set back to 1/k at each rebalance; with ``hold=True`` (Qlib's semantics) the names kept get
    no order (NaN: their positions drift) and only the names bought are set to 1/k.
    """
    _check_k("topk_dropout", k)
    if not isinstance(n_drop, int) or n_drop < 0:
        raise ValueError(f"portfolio 'topk_dropout': n_drop must be an int >= 0, got {n_drop!r}")

    def rule(scores: pd.Series, current: pd.Series) -> pd.Series:
        scores = scores.dropna()
        holding = _held(current)  # NaN: held, no order last time
        held = [a for a in holding if a in scores.index]
        last = ranked(scores.loc[held])
        others = ranked(scores.drop(index=held))
        today = others.iloc[: max(n_drop + k - len(last), 0)]
        comb = ranked(pd.concat([last, today]), held)  # ties: held first, so a tie never sells a held name
        worst = set(comb.index[-n_drop:]) if n_drop > 0 else set()
        sell = [a for a in last.index if a in worst]
        n_buy = len(sell) + k - len(last)
        buy = list(today.index[: max(n_buy, 0)])
        kept = [a for a in last.index if a not in set(sell)]
        if hold:
            return pd.concat([pd.Series(float("nan"), index=kept), pd.Series(1.0 / k, index=buy)])
        keep = kept + buy
        return pd.Series(1.0 / len(keep), index=keep) if keep else pd.Series(dtype=float)

    return rule


def long_short(k: int = 10, gross: float = 1.0):
    """Long the k best, short the k worst, dollar neutral: +gross/2 and -gross/2 spread equally."""
    _check_k("long_short", k)

    def rule(scores: pd.Series, current: pd.Series) -> pd.Series:
        n = min(k, int(scores.notna().sum()) // 2)
        if n == 0:
            return pd.Series(dtype=float)
        longs = ranked(scores, _held(current, 1)).index[:n]
        shorts = ranked(scores.drop(index=longs), _held(current, -1), ascending=True).index[:n]
        return pd.concat([pd.Series(gross / 2 / n, index=longs), pd.Series(-gross / 2 / n, index=shorts)])

    return rule


@hookimpl
def register_portfolios(register):
    register("topk", topk)
    register("topk_dropout", topk_dropout)
    register("long_short", long_short)
