"""Run directories: the schema (schema.py), writing (result.py), reading (reader.py), listing and comparing."""

from .compare import compare_runs, differing_params
from .listing import format_table, list_runs
from .reader import Run, load_run
from .result import BacktestResult

__all__ = ["BacktestResult", "Run", "compare_runs", "differing_params", "format_table", "list_runs", "load_run"]
