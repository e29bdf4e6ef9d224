"""The search's files: trials.parquet (one row per trial, from the study), best.py (the chosen strategy) and
summary.md."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..util import atomic_write_bytes, atomic_write_text

TRIALS = "trials.parquet"
BEST = "best.py"
SUMMARY = "summary.md"


def trials_table(study: Any, space_keys: list[str], metric: str, seeds: list[int], skip: set[int]) -> pd.DataFrame:
    """One row per finished or interrupted trial: number, parameters, each seed's and the mean objective, status,
    error, wall seconds and the run folders."""
    from optuna.trial import TrialState

    rows = []
    for t in study.get_trials(deepcopy=False):
        if t.state in (TrialState.RUNNING, TrialState.WAITING):
            continue
        per_seed = {int(k): v for k, v in json.loads(t.user_attrs.get("per_seed", "{}")).items()}
        status = ("interrupted" if t.number in skip else
                  "ok" if t.state == TrialState.COMPLETE else t.user_attrs.get("status", "failed"))
        row: dict[str, Any] = {"number": t.number}
        row.update({k: _cell(t.params.get(k)) for k in space_keys})
        row.update({f"{metric} seed={s}": per_seed.get(s, np.nan) for s in seeds})
        row[f"{metric} mean"] = t.value if t.state == TrialState.COMPLETE else np.nan
        row.update(status=status, error=t.user_attrs.get("error"), wall_seconds=t.user_attrs.get("wall_seconds"),
                   run_dir=t.user_attrs.get("run_dir"))
        rows.append(row)
    return pd.DataFrame(rows)


def _cell(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_trials(out: Path, table: pd.DataFrame) -> None:
    atomic_write_bytes(out / TRIALS, table.to_parquet(index=False))


def best_file(original: Path, class_name: str, values: dict[str, Any], docstring: str) -> str:
    """best.py: a subclass of the original strategy (loaded from its file) with ``values`` as class attributes."""
    lines = [f'"""{docstring}"""', "", "from seqalpha import load_strategy_file", "",
             f"{class_name}, _ = load_strategy_file({str(original)!r}, {class_name!r})", "", "",
             f"class {class_name}Tuned({class_name}):"]
    lines += [f"    {key} = {_literal(value)}" for key, value in values.items()] or ["    pass"]
    return "\n".join(lines) + "\n"


def _literal(value: Any) -> str:
    """A Python literal of a parameter value (numpy scalars as plain numbers)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        inner = ", ".join(_literal(v) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner}{',' if len(value) == 1 else ''})"
    return repr(value)


def best_docstring(strategy: str, space: list[str], selection: str, last_bar: str, metric: str, direction: str,
                   seeds: list[int], trials: int, best_number: int, best_value: float, data: str,
                   plugins_dir: str | None) -> str:
    """best.py's docstring: what was searched, on which span and metric, how many trials, what won."""
    lines = [f"{strategy} with the settings `seqalpha tune` chose ({dt.date.today().isoformat()}).", "",
             "Search space:", *[f"    {s}" for s in space], "",
             f"Selection span: {selection} (decisions; the data was cut after {last_bar}, before the test period).",
             f"Metric: {metric} ({direction}), the mean over seeds {', '.join(map(str, seeds))}.",
             f"Trials: {trials}; the best, trial {best_number}, scored {best_value:.6g}.", f"Data: {data}."]
    if plugins_dir:
        lines.append(f"Run it with --plugins-dir {plugins_dir}, as the search was.")
    lines += ["", "The test period was not read: judge this strategy there once, with `seqalpha run`."]
    return "\n".join(lines)


def write_best(out: Path, text: str) -> None:
    atomic_write_text(out / BEST, text)


def summary_text(strategy: str, space: list[str], selection: str, last_bar: str, test_start: str, metric: str,
                 direction: str, seeds: list[int], table: pd.DataFrame, best: dict | None, wall: float,
                 best_written: bool) -> str:
    """summary.md: the search's settings, the best trial, and the ten best trials."""
    from ..sweep.summary import markdown_table

    n_ok = int((table["status"] == "ok").sum()) if len(table) else 0
    text = [f"# Tune: {strategy}", "",
            f"- space: {'; '.join(space)}",
            f"- selection span: {selection} (data cut after {last_bar}; the test period starts {test_start})",
            f"- metric: {metric} ({direction}), mean over seeds {', '.join(map(str, seeds))}",
            f"- trials: {len(table)} ({n_ok} ok, {len(table) - n_ok} failed or interrupted); "
            f"wall time this session {wall:.1f} s", ""]
    if best is None:
        text += ["**No trial finished.**" + (f" The first error: {table['error'].dropna().iloc[0]}"
                                               if len(table) and table["error"].notna().any() else ""), ""]
    else:
        values = ", ".join(f"{k}={v!r}" for k, v in best["params"].items())
        text += [f"## Best: trial {best['number']}, {metric} {best['value']:.4f}", "", values, "",
                 "best.py holds this strategy." if best_written else
                 "best.py was not written: the strategy was not loaded from a file.", ""]
    if len(table):
        ascending = direction == "minimize"
        top = table.sort_values(f"{metric} mean", ascending=ascending, na_position="last").head(10)
        text += [f"## The {len(top)} best trials", "", markdown_table(top.drop(columns=["run_dir"], errors="ignore"))]
    return "\n".join(text)


def write_summary(out: Path, text: str) -> None:
    atomic_write_text(out / SUMMARY, text)
