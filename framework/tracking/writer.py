"""The MLflow side: one Tracker per command, holding one MlflowClient for its store. Only the client process logs
(a sweep's or a search's children are logged here as their folders come back, never by the Dask workers), so a
shared SQLite store has one writer. A store that cannot be reached or written is warned about once
(TrackingWarning); the run goes on and writes its folder, and nothing more is sent to that store."""

from __future__ import annotations

import contextlib
import socket
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import record as rec
from .settings import redact, secrets_of, sqlite_path

PRECHECK_SECONDS = 3.0  # a server that does not answer a TCP connection by then is taken as down


class TrackingWarning(UserWarning):
    """MLflow tracking failed; the run itself is unaffected."""


class Tracker:
    """Logs runs, and parent runs with children, to the MLflow store at ``uri`` (``experiment``: default the
    strategy's class name). Every public method returns None instead of raising once the store has failed."""

    def __init__(self, uri: str, experiment: str | None = None, precheck_seconds: float = PRECHECK_SECONDS):
        self.uri = uri
        self.experiment = experiment
        self.precheck_seconds = precheck_seconds
        self.failure: str | None = None  # the first failure's message; set once, warned once
        self._client = None
        self._experiments: dict[str, str] = {}
        self.last_parent: str | None = None  # the run id of the latest parent run (start_study)

    def __repr__(self) -> str:
        return f"Tracker({self.shown_uri!r})"

    @property
    def shown_uri(self) -> str:
        """The URI as printed and recorded: its password redacted."""
        return redact(self.uri)

    # ---- failures ---------------------------------------------------------------------------------
    def _guard(self, what: str, fn, *args, **kwargs):
        if self.failure is not None:
            return None
        try:
            with warnings.catch_warnings():  # MLflow's and SQLAlchemy's own deprecation notes are not the run's
                warnings.simplefilter("ignore")
                return fn(*args, **kwargs)
        except Exception as exc:  # tracking must never fail a run
            self._fail(what, exc)
            return None

    def _fail(self, what: str, exc: BaseException) -> None:
        message = f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:300]
        for secret in secrets_of(self.uri):
            message = message.replace(secret, "***")
        self.failure = message
        warnings.warn(f"MLflow tracking to {self.shown_uri} failed while {what} ({message}); runs and their folders "
                      "are unaffected, and nothing more is sent to this store", TrackingWarning, stacklevel=4)

    # ---- the store --------------------------------------------------------------------------------
    def _precheck(self) -> None:
        """Fail fast, before MLflow's own retries (minutes by default): an HTTP server must accept a TCP connection
        within ``precheck_seconds``; an SQLite file's folder must be writable (it is made if missing)."""
        parts = urlsplit(self.uri)
        if parts.scheme in ("http", "https"):
            port = parts.port or (443 if parts.scheme == "https" else 80)
            try:
                socket.create_connection((parts.hostname or "localhost", port), timeout=self.precheck_seconds).close()
            except OSError as exc:
                raise ConnectionError(f"no tracking server answers at {parts.hostname}:{port} "
                                      f"({exc.strerror or exc})") from None
        path = sqlite_path(self.uri)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            probe = path.parent / f".seqalpha-probe-{id(self):x}"
            probe.write_bytes(b"")
            probe.unlink()
            if path.exists() and not _writable(path):
                raise PermissionError(f"{path} is not writable")

    def client(self):
        """The MlflowClient of this store (mlflow imported here, on first use)."""
        if self._client is None:
            self._precheck()
            from mlflow.tracking import MlflowClient

            self._client = MlflowClient(tracking_uri=self.uri)
        return self._client

    def experiment_id(self, name: str) -> str:
        """The id of experiment ``name``, made if missing (an SQLite store's artifacts go beside its file, in
        mlartifacts/, not in the current folder) or restored if deleted."""
        if name not in self._experiments:
            client = self.client()
            found = client.get_experiment_by_name(name)
            if found is None:
                path = sqlite_path(self.uri)
                location = None if path is None else (path.parent / "mlartifacts" / rec.key(name)).as_uri()
                self._experiments[name] = client.create_experiment(name, artifact_location=location)
            else:
                if found.lifecycle_stage == "deleted":
                    client.restore_experiment(found.experiment_id)
                self._experiments[name] = found.experiment_id
        return self._experiments[name]

    # ---- runs ---------------------------------------------------------------------------------------
    def log_record(self, record: rec.RunRecord, experiment: str | None = None, parent: str | None = None,
                   status: str = "FINISHED", tags: dict[str, Any] | None = None) -> str | None:
        """Log one run (a child of run id ``parent`` when given); its run id, or None when tracking failed."""
        return self._guard(f"logging run {record.name!r}", self._log, record, experiment, parent, status, tags)

    def log_result(self, result, name: str | None = None, start_ms: int | None = None, **kw) -> str | None:
        """Log a BacktestResult: parameters, metrics, the per-date IC, tags, and its run folder when written."""
        made = self._guard("reading the run", rec.from_result, result, name=name, start_ms=start_ms)
        return None if made is None else self.log_record(made, **kw)

    def log_folder(self, run_dir: str | Path, name: str | None = None, **kw) -> str | None:
        """Log a finished run folder (config.json, metrics.json, ic.parquet, every file as an artifact)."""
        made = self._guard(f"reading {run_dir}", rec.from_folder, run_dir, name=name)
        return None if made is None else self.log_record(made, **kw)

    def _log(self, record: rec.RunRecord, experiment: str | None, parent: str | None, status: str,
             tags: dict[str, Any] | None) -> str:
        client = self.client()
        name = experiment or self.experiment or record.tags.get("seqalpha.strategy") or "seqalpha"
        all_tags = {**record.tags, **{k: rec.text(v, rec.MAX_TAG_VALUE) for k, v in (tags or {}).items()
                                         if v is not None}}
        if parent is not None:
            all_tags["mlflow.parentRunId"] = parent
        run = client.create_run(self.experiment_id(name), start_time=record.start_ms, tags=all_tags,
                                run_name=record.name)
        run_id = run.info.run_id
        try:
            self._batch(run_id, record)
            if record.run_dir is not None and Path(record.run_dir).is_dir():
                for file in rec.artifact_files(Path(record.run_dir)):
                    sub = file.parent.relative_to(record.run_dir).as_posix()
                    client.log_artifact(run_id, str(file), artifact_path=None if sub == "." else sub)
        except Exception:
            with contextlib.suppress(Exception):
                client.set_terminated(run_id, "FAILED")
            raise
        client.set_terminated(run_id, status, end_time=record.end_ms)
        return run_id

    def _batch(self, run_id: str, record: rec.RunRecord) -> None:
        """Parameters and metrics in batches within MLflow's limits (100 parameters, 1000 metrics a call)."""
        from mlflow.entities import Metric, Param

        client = self.client()
        when = record.end_ms or rec._now_ms()
        params = [Param(k, v) for k, v in record.params.items()]
        metrics = [Metric(k, v, when, 0) for k, v in record.metrics.items()]
        metrics += [Metric(k, v, ms, step) for k, points in record.series.items() for step, ms, v in points]
        for k in range(0, len(params), 100):
            client.log_batch(run_id, params=params[k:k + 100])
        for k in range(0, len(metrics), 1000):
            client.log_batch(run_id, metrics=metrics[k:k + 1000])

    # ---- parents (a sweep, a search) ----------------------------------------------------------------
    def start_study(self, name: str, experiment: str, params: dict[str, Any] | None = None,
                    tags: dict[str, Any] | None = None) -> Study:
        """A parent run named ``name``, left running until ``Study.finish``; children are logged into it."""
        def start() -> str:
            client = self.client()
            run = client.create_run(self.experiment_id(experiment), run_name=name,
                                    tags={k: rec.text(v, rec.MAX_TAG_VALUE) for k, v in (tags or {}).items()
                                          if v is not None})
            if params:
                from mlflow.entities import Param

                flat = [Param(k, v) for k, v in rec.flatten(params).items()]
                for k in range(0, len(flat), 100):
                    client.log_batch(run.info.run_id, params=flat[k:k + 100])
            self.last_parent = run.info.run_id
            return run.info.run_id

        return Study(self, self._guard(f"starting the parent run {name!r}", start), experiment)


class Study:
    """A parent run (a sweep, a search) and the children logged into it. With no tracker, or once tracking has
    failed, every method does nothing and returns None, so callers need no branch."""

    def __init__(self, tracker: Tracker | None, run_id: str | None, experiment: str | None):
        self.tracker = tracker
        self.run_id = run_id
        self.experiment = experiment

    @property
    def active(self) -> bool:
        return self.tracker is not None and self.run_id is not None and self.tracker.failure is None

    def log_run(self, run_dir: str | Path, name: str | None = None, tags: dict[str, Any] | None = None,
                parent: str | None = None) -> str | None:
        """A finished run folder as a child (of ``parent``, a child's run id, for a grandchild; default this
        study). Its MLflow run id."""
        if not self.active:
            return None
        return self.tracker.log_folder(run_dir, name=name, experiment=self.experiment, parent=parent or self.run_id,
                                       tags=tags)

    def log_trial(self, name: str, params: dict[str, Any], metrics: dict[str, float] | None = None,
                  status: str = "FINISHED", tags: dict[str, Any] | None = None,
                  run_dir: str | Path | None = None) -> str | None:
        """A child with ``params`` (flattened) and ``metrics`` (numbers; None and non-finite values left out),
        e.g. one trial of a search and its objective values; ``status`` FINISHED or FAILED; ``run_dir`` a folder
        to attach as its artifacts. Its MLflow run id."""
        if not self.active:
            return None
        scalars = {rec.key(k): float(v) for k, v in (metrics or {}).items() if rec._number(v) is not None}
        made = rec.RunRecord(name=name, params=rec.flatten(params), metrics=scalars,
                             run_dir=None if run_dir is None else Path(run_dir), start_ms=rec._now_ms())
        made.end_ms = made.start_ms
        return self.tracker.log_record(made, experiment=self.experiment, parent=self.run_id, status=status,
                                       tags=tags)

    def log_metrics(self, metrics: dict[str, float], step: int = 0) -> None:
        """Numbers on the parent run itself (e.g. the best objective so far, step = the trial's number)."""
        if not self.active:
            return

        def log() -> None:
            from mlflow.entities import Metric

            now = rec._now_ms()
            batch = [Metric(rec.key(k), float(v), now, step) for k, v in metrics.items() if rec._number(v) is not None]
            for k in range(0, len(batch), 1000):
                self.tracker.client().log_batch(self.run_id, metrics=batch[k:k + 1000])

        self.tracker._guard("logging the parent's metrics", log)

    def log_artifacts(self, paths: Iterable[str | Path]) -> None:
        """Files (those that exist) attached to the parent run, e.g. a sweep's results.parquet and summary.md."""
        if not self.active:
            return

        def log() -> None:
            for path in paths:
                if Path(path).is_file():
                    self.tracker.client().log_artifact(self.run_id, str(path))

        self.tracker._guard("attaching the parent's files", log)

    def finish(self, status: str = "FINISHED") -> None:
        if self.active:
            self.tracker._guard("closing the parent run", lambda: self.tracker.client().set_terminated(self.run_id,
                                                                                                       status))


@contextlib.contextmanager
def study(tracker: Tracker | None, name: str, experiment: str, params: dict[str, Any] | None = None,
          tags: dict[str, Any] | None = None) -> Iterator[Study]:
    """A parent run for the block: FINISHED when it ends, FAILED on an error, KILLED on Ctrl-C. With
    ``tracker=None`` (no tracking asked for) a Study that does nothing."""
    if tracker is None:
        yield Study(None, None, experiment)
        return
    parent = tracker.start_study(name, experiment, params, tags)
    try:
        yield parent
    except KeyboardInterrupt:
        parent.finish("KILLED")
        raise
    except BaseException:
        parent.finish("FAILED")
        raise
    parent.finish("FINISHED")


def _writable(path: Path) -> bool:
    import os

    return os.access(path, os.W_OK)
