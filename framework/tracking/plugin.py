"""The tracking observer: a plugin object on a run's hooks that logs the run when it finishes."""

from __future__ import annotations

import time
from typing import Any

from ..hookspecs import hookimpl
from .writer import Tracker


class TrackingPlugin:
    """Registered for one run (``run_backtest(plugins=[TrackingPlugin("sqlite:///runs/mlflow.db")])``): on
    ``backtest_finished`` it logs the run's parameters, metrics, per-date IC, tags and run folder to MLflow. It only
    observes: it changes no number and no file, and a failing store is one TrackingWarning."""

    def __init__(self, tracker: Tracker | str, name: str | None = None, tags: dict[str, Any] | None = None):
        self.tracker = tracker if isinstance(tracker, Tracker) else Tracker(tracker)
        self.name = name
        self.tags = tags
        self.run_id: str | None = None  # the MLflow run id once logged
        self._started_ms: int | None = None

    def __repr__(self) -> str:
        return f"TrackingPlugin({self.tracker.shown_uri!r})"

    @hookimpl
    def backtest_started(self, strategy, panel) -> None:
        self._started_ms = int(time.time() * 1000)

    @hookimpl
    def backtest_finished(self, strategy, result) -> None:
        self.run_id = self.tracker.log_result(result, name=self.name, start_ms=self._started_ms, tags=self.tags)
