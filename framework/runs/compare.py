"""`seqalpha compare`: metrics of several runs side by side, the parameters that differ, and the overlay page."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..canonical import dumps
from ..metrics import CATALOGUE
from ..util import atomic_write_text
from .listing import cell_text, mostly_numeric
from .reader import Run, load_run


def run_names(paths: Sequence[Path]) -> list[str]:
    """Short distinct names for runs: the directory name, with parents added until they differ."""
    parts = [p.resolve().parts for p in paths]
    for depth in range(1, max(len(p) for p in parts) + 1):
        names = ["/".join(p[-depth:]) for p in parts]
        if len(set(names)) == len(names):
            return names
    return [f"{n}#{i}" for i, n in enumerate(names)]


def flat_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """metrics.json flattened: nested dicts (the per-phase seconds) become 'seconds.total' etc."""
    flat: dict[str, Any] = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            flat.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            flat[key] = value
    return flat


def metric_order(names: Iterable[str]) -> list[str]:
    """Known metrics in the report's order, then the others as first seen, per-phase seconds last."""
    names = list(dict.fromkeys(names))
    known = [m.name for m in CATALOGUE if m.name in names]
    seconds = [m for m in names if m.startswith("seconds.")]
    return known + [m for m in names if m not in known and m not in seconds] + seconds


def compare_runs(run_dirs: Iterable[str | Path], out_html: str | Path | None = None) -> pd.DataFrame:
    """Metrics side by side (rows = metrics, columns = run names); optionally an HTML page overlaying the runs."""
    runs = [load_run(d, tables=("returns", "ic")) for d in run_dirs]
    if not runs:
        raise ValueError("compare_runs needs at least one run directory")
    names = run_names([r.path for r in runs])
    table = pd.DataFrame({n: pd.Series(flat_metrics(r.metrics), dtype=object) for n, r in zip(names, runs)})
    table = table.reindex(metric_order(m for r in runs for m in flat_metrics(r.metrics)))
    table = table.apply(lambda col: col.astype(float) if mostly_numeric(col) else col)
    table.index.name = "metric"
    if out_html is not None:
        from ..report.compare_page import comparison_html

        atomic_write_text(out_html, comparison_html(runs, names, table))
    return table


def differing_params(runs: Sequence[Run], names: Sequence[str]) -> pd.DataFrame:
    """The strategy parameters (and data, span) whose values are not the same in every run.

    Values are compared as JSON text, so a parameter that is None (or equal) in every run is not listed."""
    def flat(run: Run) -> dict[str, str]:
        cfg = run.config
        values = {"strategy": cfg.get("strategy"), "data": cfg.get("data"), "span": cfg.get("span"),
                  "seed": cfg.get("seed"), **(cfg.get("params") or {})}
        return {k: dumps(v, indent=None) for k, v in values.items()}

    flats = [flat(r) for r in runs]
    keys = list(dict.fromkeys(k for f in flats for k in f))
    differ = [k for k in keys if len({f.get(k, "<absent>") for f in flats}) > 1]
    shown = {n: [cell_text(json.loads(f[k])) if k in f else "-" for k in differ] for n, f in zip(names, flats)}
    return pd.DataFrame(shown, index=pd.Index(differ, name="parameter"), dtype=object)
