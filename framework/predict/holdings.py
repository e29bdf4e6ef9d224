"""What the account holds going into the decision at asof: from a CSV of shares, a previous predict folder, or a
backtest's run folder.

Two views of the same holdings: ``shares`` (what orders are computed from) and ``weights``, what the portfolio
rule sees as held (the backtest passes its previous decision's target weights: a run folder and a predict folder
give exactly those, so ``topk_dropout`` and ``hold`` behave as in the backtest; a CSV gives its market weights).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import PredictError
from ..runs import schema

PREDICT_JSON = "predict.json"
POSITIONS = "positions.csv"  # a predict folder's holdings once its orders are filled (read by the next predict)


@dataclass(frozen=True)
class Holdings:
    """Shares held, the weights the portfolio rule sees as held, cash, and where they came from."""

    shares: pd.Series  # asset -> shares (float, >= 0)
    weights: pd.Series  # asset -> weight held going in, as the rule sees it (NaN: held, no order last time)
    cash: float
    source: str  # "none", "csv", "predict" or "run"
    path: str | None = None
    value: float | None = None  # the portfolio's value when the source fixes it (a run folder), else from prices


def read_holdings(source: str | Path | None, assets: pd.Index, price: pd.Series, asof: pd.Timestamp,
                  cash: float | None, init_cash: float) -> Holdings:
    """The holdings of ``source`` (None: none) valued at ``price`` (the close on asof, carried forward).
    ``cash`` (--cash) is the cash held; without holdings it defaults to the strategy's ``init_cash``."""
    if cash is not None and (not np.isfinite(cash) or cash < 0):
        raise PredictError(f"--cash must be a number >= 0, got {cash!r}")
    if source is None:
        empty = pd.Series(dtype=float)
        return Holdings(empty, empty, float(init_cash if cash is None else cash), "none")
    path = Path(source)
    if path.is_dir() and (path / PREDICT_JSON).is_file():
        return _from_predict(path, assets, price, cash)
    if path.is_dir() and (path / schema.CONFIG).is_file() and schema.table_path(path, "weights").is_file():
        return _from_run(path, assets, asof, cash)
    if path.is_dir():
        raise PredictError(f"--holdings {path}: a folder that is neither a predict folder ({PREDICT_JSON}) nor a "
                           "backtest run folder (config.json and weights.parquet)")
    if not path.is_file():
        raise PredictError(f"--holdings {path}: no such file or folder")
    shares = read_shares_csv(path, assets)
    weights = market_weights(shares, price, 0.0 if cash is None else cash)
    return Holdings(shares, weights[weights != 0], float(0.0 if cash is None else cash), "csv", str(path))


def read_shares_csv(path: Path, assets: pd.Index) -> pd.Series:
    """A CSV of ``asset,shares`` as a Series; refused with one line: missing columns, unknown assets (listed),
    an asset twice, shares that are not numbers or negative."""
    try:
        frame = pd.read_csv(path, dtype={"asset": str})
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise PredictError(f"--holdings {path}: cannot read it as CSV: {exc}") from None
    missing = [c for c in ("asset", "shares") if c not in frame.columns]
    if missing:
        raise PredictError(f"--holdings {path}: no column {missing[0]!r}; it needs columns asset,shares "
                           f"(has {list(frame.columns)})")
    frame["asset"] = frame["asset"].astype(str).str.strip()
    unknown = sorted(set(frame["asset"]) - set(map(str, assets)))
    if unknown:
        raise PredictError(f"--holdings {path}: {len(unknown)} asset(s) not in the data: {', '.join(unknown[:20])}"
                           f"{' ...' if len(unknown) > 20 else ''}")
    twice = sorted(frame["asset"][frame["asset"].duplicated()].unique())
    if twice:
        raise PredictError(f"--holdings {path}: asset(s) listed twice: {', '.join(twice[:20])}")
    shares = pd.to_numeric(frame["shares"], errors="coerce")
    bad = frame["asset"][~np.isfinite(shares.to_numpy(np.float64))]
    if len(bad):
        raise PredictError(f"--holdings {path}: shares that are not numbers for {', '.join(bad[:20])}")
    negative = frame["asset"][shares < 0]
    if len(negative):
        raise PredictError(f"--holdings {path}: negative shares for {', '.join(negative[:20])} (short positions "
                           "are not holdings predict can trade from)")
    out = pd.Series(shares.to_numpy(np.float64), index=pd.Index(frame["asset"], name=None), dtype=float)
    return out[out != 0]


def market_weights(shares: pd.Series, price: pd.Series, cash: float) -> pd.Series:
    """Each holding's share of the portfolio's value (shares x price over holdings plus cash)."""
    values = shares * price.reindex(shares.index).to_numpy(np.float64)
    total = float(values.sum()) + cash
    return values / total if total > 0 else values * 0.0


def _from_predict(path: Path, assets: pd.Index, price: pd.Series, cash: float | None) -> Holdings:
    """A previous predict folder: its positions once its orders fill, and its target weights (the rule's input)."""
    record = json.loads((path / PREDICT_JSON).read_text())
    shares = read_shares_csv(path / POSITIONS, assets) if (path / POSITIONS).is_file() else pd.Series(dtype=float)
    targets = pd.read_parquet(path / "targets.parquet")
    held = targets[targets["target_weight"].isna() | (targets["target_weight"] != 0)]
    weights = pd.Series(held["target_weight"].to_numpy(np.float64), index=pd.Index(held["asset"].astype(str)))
    unknown = sorted(set(weights.index) - set(map(str, assets)))
    if unknown:
        raise PredictError(f"--holdings {path}: {len(unknown)} asset(s) not in the data: {', '.join(unknown[:20])}")
    left = float(record.get("after", {}).get("cash", 0.0)) if cash is None else float(cash)
    return Holdings(shares, weights, left, "predict", str(path))


def _from_run(path: Path, assets: pd.Index, asof: pd.Timestamp, cash: float | None) -> Holdings:
    """A backtest run folder: the weights of its last decision before asof (the backtest's own input to the rule
    at asof) and its value at asof (init_cash compounded by its returns, or ``cash`` when given)."""
    config = json.loads((path / schema.CONFIG).read_text())
    weights_table = pd.read_parquet(schema.table_path(path, "weights"))
    rebalances = pd.read_parquet(schema.table_path(path, "rebalances"))
    before = rebalances["date"][rebalances["date"] < asof]
    if len(before):
        last = before.max()
        rows = weights_table[weights_table["date"] == last]
        weights = pd.Series(rows["weight"].to_numpy(np.float64), index=pd.Index(rows["asset"].astype(str)))
    else:
        weights = pd.Series(dtype=float)
    unknown = sorted(set(weights.index) - set(map(str, assets)))
    if unknown:
        raise PredictError(f"--holdings {path}: {len(unknown)} asset(s) not in the data: {', '.join(unknown[:20])}")
    if cash is None:
        returns = pd.read_parquet(schema.table_path(path, "returns"))
        growth = float(np.prod(1.0 + returns["strategy"][returns["date"] <= asof].to_numpy(np.float64)))
        value = float((config.get("params") or {}).get("init_cash", 1e8)) * growth
    else:
        value = float(cash)
    return Holdings(pd.Series(dtype=float), weights, 0.0, "run", str(path), value=value)
