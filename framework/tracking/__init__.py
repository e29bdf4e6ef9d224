"""MLflow tracking: an observer that copies each finished run (parameters, metrics, the per-date IC, the run folder)
to an MLflow tracking store. It changes no number and no file of the run; only the client process writes to the
store (docs/design.md, "Tracking").

Light on purpose: ``mlflow`` is imported only when something is logged, so the command line starts as fast
with tracking off. The pieces: ``settings`` (which URI, read once on the client), ``record`` (a run as MLflow
parameters, metrics and tags, no mlflow needed), ``writer`` (the MLflow client, failures warned once), ``plugin``
(the observer hooks of one run).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .settings import DEFAULT_URI, ENV_VAR, TrackingError, open_tracker, redact, tracking_uri

if TYPE_CHECKING:
    from .plugin import TrackingPlugin
    from .record import QLIB_NAMES
    from .writer import Study, Tracker, TrackingWarning, study

_LAZY = {"TrackingPlugin": "plugin", "QLIB_NAMES": "record", "Study": "writer", "Tracker": "writer",
         "TrackingWarning": "writer", "study": "writer"}

__all__ = ["DEFAULT_URI", "ENV_VAR", "QLIB_NAMES", "Study", "Tracker", "TrackingError", "TrackingPlugin",
           "TrackingWarning", "open_tracker", "redact", "study", "tracking_uri"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
