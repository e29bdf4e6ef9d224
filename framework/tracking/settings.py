"""Which MLflow store a command tracks to: ``--track [URI]``, else ``$SEQALPHA_TRACKING_URI``, else none.

Read once, on the client, into the command's options (never into os.environ, never into the ResolvedRun: tracking
changes no number, so it is neither identity nor part of config.json). A URI's password is redacted wherever
seqalpha prints or records it.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from ..errors import SeqalphaError

if TYPE_CHECKING:
    import argparse

    from .writer import Tracker

ENV_VAR = "SEQALPHA_TRACKING_URI"
DEFAULT_URI = "sqlite:///runs/mlflow.db"  # MLflow's file store is deprecated: an SQLite file under runs/
BARE = ""  # what a bare ``--track`` leaves in the options
INSTALL = "pip install 'seqalpha[mlflow]'"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


class TrackingError(SeqalphaError, ValueError):
    """Tracking was asked for and cannot be set up: MLflow is not installed, or the URI is not one."""


def add_track_argument(parser: argparse.ArgumentParser) -> None:
    """The ``--track [URI]`` option of ``run``, ``sweep`` and ``tune``."""
    parser.add_argument("--track", nargs="?", const=BARE, default=None, metavar="URI",
                        help=f"log the run(s) to MLflow at URI (default ${ENV_VAR}, else {DEFAULT_URI}); "
                             f"needs {INSTALL}")


def tracking_uri(track: str | None, environ: Mapping[str, str] | None = None, cwd: str | Path | None = None) -> str | None:
    """The store to track to, or None for no tracking: ``track`` (a URI; ``""`` for a bare ``--track``), else
    ``$SEQALPHA_TRACKING_URI``, else none; a bare ``--track`` without the variable gives DEFAULT_URI. An SQLite
    path is made absolute against ``cwd`` (default: the current folder), once, here."""
    env = (os.environ if environ is None else environ).get(ENV_VAR, "").strip()
    if track is None and not env:
        return None
    uri = (track or "").strip() or env or DEFAULT_URI
    if uri != "databricks" and not _SCHEME.match(uri):
        source = f"${ENV_VAR}" if not (track or "").strip() else "--track"
        raise TrackingError(f"{source} {redact(uri)!r} is not a tracking URI (e.g. {DEFAULT_URI}, "
                            "http://HOST:5000); put --track after the strategy file, or write --track=URI")
    return absolute_sqlite(uri, cwd)


def absolute_sqlite(uri: str, cwd: str | Path | None = None) -> str:
    """``sqlite:///runs/x.db`` (relative) -> ``sqlite:////abs/runs/x.db``; other URIs unchanged."""
    if not uri.startswith("sqlite:///"):
        return uri
    path, sep, query = uri[len("sqlite:///"):].partition("?")
    if not path or path == ":memory:" or path.startswith("/"):
        return uri
    return f"sqlite:///{(Path(cwd or os.getcwd()) / path).resolve()}{sep}{query}"


def sqlite_path(uri: str) -> Path | None:
    """The database file of an ``sqlite:///`` URI (absolute by then), else None."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri[len("sqlite:///"):].partition("?")[0]
    return Path(path) if path and path != ":memory:" else None


def redact(uri: str) -> str:
    """``uri`` with its password (and any token-like query value) replaced by ``***``: safe to print or record."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return "<unparsable tracking URI>"
    if not secrets_of(uri) and "@" not in parts.netloc:
        return uri  # nothing to hide (and urlunsplit would turn sqlite://// into sqlite://)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in userinfo else f"***@{host}"
    query = re.sub(r"(?i)\b(password|passwd|pwd|token|secret|key)=[^&]*", r"\1=***", parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def secrets_of(uri: str) -> list[str]:
    """The secret strings of ``uri`` (password, token-like query values), to scrub from error messages."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return [uri]
    found = [parts.password] if parts.password else ([parts.username] if parts.username else [])  # user alone: a token
    found += re.findall(r"(?i)\b(?:password|passwd|pwd|token|secret|key)=([^&]+)", parts.query)
    return [s for s in found if s]


def mlflow_installed() -> bool:
    """Whether ``mlflow`` (mlflow-skinny is enough) can be imported, without importing it (it is slow)."""
    return importlib.util.find_spec("mlflow") is not None


def open_tracker(track: str | None, environ: Mapping[str, str] | None = None,
                 experiment: str | None = None) -> Tracker | None:
    """The Tracker a command's ``--track`` (and ``$SEQALPHA_TRACKING_URI``) ask for, None when neither does;
    TrackingError (one line naming the pip command) when MLflow is not installed. Nothing is contacted yet."""
    uri = tracking_uri(track, environ)
    if uri is None:
        return None
    if not mlflow_installed():
        raise TrackingError(f"tracking to {redact(uri)} needs MLflow, which is not installed: {INSTALL}")
    from .writer import Tracker

    return Tracker(uri, experiment=experiment)
