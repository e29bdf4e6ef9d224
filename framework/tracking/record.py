"""A finished run as MLflow sees it: flattened parameters, metrics (seqalpha's names and Qlib's recorder names),
the per-date IC as metric series, and tags. Plain Python: nothing here imports mlflow."""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# MLflow's limits (mlflow.utils.validation: MAX_PARAM_VAL_LENGTH, MAX_TAG_VAL_LENGTH, MAX_ENTITY_KEY_LENGTH),
# copied so that building a record needs no mlflow import.
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000
MAX_KEY = 250

#: Qlib's recorder name -> the seqalpha metric it equals (docs/metrics.md, "Where Qlib differs"). IC figures are the
#: same definitions as Qlib's SigAnaRecord; the excess-return figures are the ``qlib_*`` ones computed Qlib's way
#: (238 bars a year, summed returns, net of costs: PortAnaRecord's ``excess_return_with_cost``).
QLIB_NAMES: dict[str, str] = {
    "IC": "ic",
    "ICIR": "icir",
    "Rank IC": "rank_ic",
    "Rank ICIR": "rank_icir",
    "1day.excess_return_with_cost.annualized_return": "qlib_excess_annual_return",
    "1day.excess_return_with_cost.information_ratio": "qlib_information_ratio",
    "1day.excess_return_with_cost.max_drawdown": "qlib_excess_max_drawdown",
}

#: ic.parquet column -> the metric series of its per-date values (step = the date's index, timestamp = the date)
IC_SERIES = {"ic": "ic_by_date", "rank_ic": "rank_ic_by_date"}

_KEY_BAD = re.compile(r"[^A-Za-z0-9_\-. :/]")  # MLflow accepts these characters in parameter and metric names


@dataclass
class RunRecord:
    """One run as MLflow entities: params (text), metrics (numbers), series (key -> [(step, ms, value)]), tags."""

    name: str
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    series: dict[str, list[tuple[int, int, float]]] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    run_dir: Path | None = None
    start_ms: int | None = None
    end_ms: int | None = None


def key(name: str) -> str:
    """A name MLflow accepts: its other characters replaced by '_', cut to MLflow's key length."""
    return _KEY_BAD.sub("_", str(name))[:MAX_KEY]


def text(value: Any, limit: int = MAX_PARAM_VALUE) -> str:
    """A parameter or tag value: strings as they are, other values as JSON, cut to ``limit`` characters."""
    out = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=repr)
    return out if len(out) <= limit else out[:limit - 3] + "..."


def flatten(params: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested dicts as ``a.b`` keys (an empty dict stays one ``{}`` value); values as ``text``."""
    flat: dict[str, str] = {}
    for name, value in params.items():
        full = f"{prefix}{name}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{full}."))
        else:
            flat[key(full)] = text(value)
    return flat


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None


def metric_entities(metrics: dict[str, Any], end_ms: int) -> tuple[dict[str, float], dict[str, list]]:
    """metrics.json as MLflow metrics: numbers under their own names (nested dicts as ``a.b``), lists of numbers
    as series (step = position), then each Qlib recorder name with its source's value."""
    scalars: dict[str, float] = {}
    series: dict[str, list[tuple[int, int, float]]] = {}

    def add(name: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                add(f"{name}.{k}", v)
        elif isinstance(value, (list, tuple)):
            points = [(k, end_ms, _number(v)) for k, v in enumerate(value)]
            points = [p for p in points if p[2] is not None]
            if points:
                series[key(name)] = points
        elif _number(value) is not None:
            scalars[key(name)] = _number(value)

    for name, value in metrics.items():
        add(name, value)
    for qlib, ours in QLIB_NAMES.items():
        if ours in scalars:
            scalars[qlib] = scalars[ours]
    return scalars, series


def ic_series(ic) -> dict[str, list[tuple[int, int, float]]]:
    """The per-date IC and rank IC (ic.parquet) as series: step = the date's index, timestamp = the date (ms)."""
    out: dict[str, list[tuple[int, int, float]]] = {}
    if ic is None or len(ic) == 0:
        return out
    ic = ic.sort_values("date").reset_index(drop=True)
    ms = [int(d.value // 1_000_000) for d in ic["date"]]
    for column, name in IC_SERIES.items():
        if column in ic:
            out[name] = [(k, ms[k], float(v)) for k, v in enumerate(ic[column]) if math.isfinite(v)]
    return out


def tags_of(config: dict, run_dir: Path | None) -> dict[str, str]:
    """seqalpha.* tags: strategy file and class, data URI and digest, code versions, identity, the run folder."""
    code = config.get("code") or {}
    tags = {
        "seqalpha.strategy": config.get("strategy"),
        "seqalpha.strategy_file": config.get("strategy_file"),
        "seqalpha.data": config.get("data"),
        "seqalpha.data_digest": config.get("data_digest"),
        "seqalpha.code.strategy": code.get("strategy"),
        "seqalpha.code.model": code.get("model"),
        "seqalpha.version": (config.get("versions") or {}).get("seqalpha"),
        "seqalpha.identity": config.get("identity"),
        "seqalpha.run_dir": None if run_dir is None else str(run_dir),
        "mlflow.source.name": config.get("strategy_file"),
        "mlflow.source.type": "LOCAL",
    }
    return {k: text(v, MAX_TAG_VALUE) for k, v in tags.items() if v is not None}


def params_of(config: dict) -> dict[str, str]:
    """The run's strategy parameters, flattened; ``data`` is the data the run read (``--data`` included)."""
    params = dict(config.get("params") or {})
    if config.get("data") is not None:
        params["data"] = config["data"]
    return flatten(params)


def build(config: dict, metrics: dict, ic=None, run_dir: Path | None = None, name: str | None = None,
          start_ms: int | None = None, end_ms: int | None = None) -> RunRecord:
    """The record of one finished run from its config.json, metrics.json and ic table."""
    end_ms = end_ms if end_ms is not None else _now_ms()
    if start_ms is None:
        total = (metrics.get("seconds") or {}).get("total")
        start_ms = end_ms - int(1000 * total) if isinstance(total, (int, float)) else end_ms
    scalars, series = metric_entities(metrics, end_ms)
    series.update(ic_series(ic))
    return RunRecord(name=name or (run_dir.name if run_dir is not None else str(config.get("strategy", "run"))),
                     params=params_of(config), metrics=scalars, series=series, tags=tags_of(config, run_dir),
                     run_dir=run_dir, start_ms=start_ms, end_ms=end_ms)


def from_result(result, name: str | None = None, start_ms: int | None = None) -> RunRecord:
    """The record of a BacktestResult (its run folder, when it was written, is the artifacts)."""
    return build(result.config, result.metrics, result.ic, result.run_dir, name=name, start_ms=start_ms)


def from_folder(run_dir: str | Path, name: str | None = None) -> RunRecord:
    """The record of a finished run folder (config.json, metrics.json, ic.parquet)."""
    import pandas as pd

    from ..runs import schema

    run_dir = Path(run_dir).absolute()
    config = json.loads((run_dir / schema.CONFIG).read_text())
    metrics_path = run_dir / schema.METRICS
    metrics = json.loads(metrics_path.read_text())
    ic_path = schema.table_path(run_dir, "ic")
    ic = pd.read_parquet(ic_path) if ic_path.is_file() else None
    return build(config, metrics, ic, run_dir, name=name, end_ms=int(metrics_path.stat().st_mtime * 1000))


def artifact_files(run_dir: Path) -> list[Path]:
    """The files of a run folder to upload: everything but hidden files (the lock) and an unfinished checkpoint."""
    return sorted(p for p in run_dir.rglob("*") if p.is_file()
                  and not any(part.startswith(".") or part == "checkpoint" for part in p.relative_to(run_dir).parts))


def _now_ms() -> int:
    return int(time.time() * 1000)
