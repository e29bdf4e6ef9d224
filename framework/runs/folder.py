"""Run folders nothing can clobber: one run at a time per folder, unfinished work never deleted silently,
and a failed run marked as failed (docs/reliability.md)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from ..canonical import dumps
from ..errors import RunLockError
from ..strategy import StrategyError
from ..util import atomic_write_bytes
from . import schema

LOCK = ".lock"
FAILED = "failed.json"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


@contextlib.contextmanager
def claim(folder: str | Path) -> Iterator[Path]:
    """Hold ``folder/.lock`` (host and pid) while a run writes there. Another live process's lock is refused with
    its pid; a lock left by a process that is gone (this host) is taken over."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK
    mine = {"pid": os.getpid(), "host": socket.gethostname(), "since": dt.datetime.now().isoformat(timespec="seconds")}
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            other = _read(path)
            pid, host = other.get("pid"), other.get("host")
            if isinstance(pid, int) and (host != mine["host"] or _alive(pid)) and pid != mine["pid"]:
                raise RunLockError(f"run directory {folder} is in use by process {pid} on {host} (since "
                                    f"{other.get('since')}): wait for it to finish, or choose another --out") from None
            with contextlib.suppress(FileNotFoundError):
                path.unlink()  # a stale lock of a process that is gone: take it over
            continue
        with os.fdopen(fd, "w") as fh:
            json.dump(mine, fh)
        break
    else:
        raise RunLockError(f"run directory {folder}: could not take its lock ({path})")
    try:
        yield folder
    finally:
        if _read(path).get("pid") == mine["pid"]:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def start(folder: str | Path, resume: bool, force: bool) -> None:
    """Before a run writes into ``folder``: refuse to replace a finished run (metrics.json) or drop an unfinished
    run's checkpoint unless told to (``force``; ``resume`` continues a checkpoint), and unmark the folder as
    finished or failed (its old metrics.json would otherwise stand beside new files), and drop an earlier run's
    data_quality.json (the report would show it for this run)."""
    check_start(folder, resume, force)
    for name in (schema.METRICS, FAILED, schema.DATA_QUALITY):
        with contextlib.suppress(FileNotFoundError):
            (Path(folder) / name).unlink()


def check_start(folder: str | Path, resume: bool, force: bool) -> None:
    """The refusals of ``start`` alone, changing nothing: callers check before expensive work (the --workers
    fan-out checks before fitting on the cluster)."""
    folder = Path(folder)
    if not resume and not force and (folder / schema.METRICS).is_file():
        config = _read(folder / schema.CONFIG)
        what = f" ({config.get('strategy')}, made {config.get('created')})" if config.get("strategy") else ""
        raise StrategyError(f"run directory {folder} holds a finished run{what}: choose another --out, or replace "
                            "it with --force (force=True from Python)")
    checkpoint = folder / schema.CHECKPOINT
    if not resume and not force and checkpoint.is_dir() and any(checkpoint.iterdir()):
        raise StrategyError(f"run directory {folder} holds the checkpoint of an unfinished run: continue it with "
                            "--resume, or discard it with --force")


def mark_failed(folder: str | Path, error: BaseException, strategy=None) -> None:
    """Write failed.json (the error, when, and which strategy), so `seqalpha runs` and `report` say the run
    failed rather than show an older run's files as if they were this one's."""
    text = "interrupted (Ctrl-C)" if isinstance(error, KeyboardInterrupt) else f"{type(error).__name__}: {error}"
    record = {"error": text, "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
              "resumable": (Path(folder) / schema.CHECKPOINT).is_dir(),
              "strategy": type(strategy).__name__ if strategy is not None else None,
              "params": strategy.params() if strategy is not None else None}
    with contextlib.suppress(OSError):
        atomic_write_bytes(Path(folder) / FAILED, dumps(record).encode())


def failure(folder: str | Path) -> dict | None:
    """The failed.json of a run directory, or None."""
    path = Path(folder) / FAILED
    return _read(path) or None if path.is_file() else None
