"""Reading a run directory back: config, metrics and tables, for the report, `seqalpha runs` and `compare`."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import RunDirError
from . import schema
from .folder import failure


@dataclass
class Run:
    """What a run directory holds, read once: config, metrics and the parquet tables present."""

    path: Path
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The run's name: its directory name."""
        return self.path.resolve().name

    def table(self, name: str) -> pd.DataFrame | None:
        """The table `name` (file stem), or None when the run has no such file."""
        return self.tables.get(name)


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from `path`; an empty dict when the file is absent."""
    if not path.exists():
        return {}
    with path.open(encoding="utf-8") as fh:
        value = json.load(fh)
    if not isinstance(value, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(value).__name__}")
    return value


def read_table(path: Path) -> pd.DataFrame | None:
    """A parquet table with its date columns as datetimes; None when the file is absent."""
    if not path.exists():
        return None
    frame = pd.read_parquet(path)
    for col in ("date", "retrain_date"):
        if col in frame.columns:
            frame[col] = pd.to_datetime(frame[col])
    return frame


def load_run(run_dir: str | Path, tables: Iterable[str] = tuple(schema.TABLES)) -> Run:
    """Read a run directory; unreadable files become `problems`, not exceptions."""
    path = Path(run_dir)
    if not path.is_dir():
        raise RunDirError(f"no run directory at {path}" + (" (it is a file)" if path.exists() else ""))
    run = Run(path=path)
    for attr in ("config", "metrics"):
        try:
            setattr(run, attr, read_json(path / getattr(schema, attr.upper())))
        except (OSError, ValueError) as exc:
            run.problems.append(f"{attr}.json could not be read: {exc}")
    failed = failure(path)
    if failed is not None:
        run.problems.append(f"This run failed: {failed.get('error')} ({failed.get('when')}). The files here are not "
                            "a finished run" + ("; it can be resumed with --resume." if failed.get("resumable") else "."))
    for name in tables:
        try:
            frame = read_table(schema.table_path(path, name))
        except Exception as exc:  # any unreadable file is reported in the page
            run.problems.append(f"{name}.parquet could not be read: {exc}")
            continue
        if frame is not None:
            run.tables[name] = frame
    return run
