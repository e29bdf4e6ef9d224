"""Data URIs (``scheme:location?key=value``) resolved through the registered data sources."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, unquote

from ..registry import Registry
from .panel import DataError, Panel


def parse_uri(uri: str) -> tuple[str, str, dict[str, str]]:
    """'qlib:/d?universe=csi300' -> ('qlib', '/d', {'universe': 'csi300'}); 'synthetic' -> ('synthetic', '', {})."""
    head, _, query = uri.partition("?")
    scheme, _, location = head.partition(":")
    return scheme.strip(), location, dict(parse_qsl(query, keep_blank_values=True))


def load_panel(uri: str, sources: Registry) -> Panel:
    """Read the panel a URI names; ``panel.meta["uri"]`` remembers the URI (run configs record it).

    ``?`` starts the options, so a path that holds a ``?`` is written with ``%3F`` in its place."""
    scheme, location, options = parse_uri(uri)
    head = uri.split(":", 1)[1] if ":" in uri else ""
    if "?" in head and Path(head).expanduser().exists() and not Path(location).expanduser().exists():
        raise DataError(f"data {uri!r}: '?' starts the URI's options, but {head!r} is a path; write its '?' as "
                        f"'%3F': {scheme}:{head.replace('?', '%3F')}")
    location = unquote(location)
    loader = sources.get(scheme).factory
    panel = loader(location, options)
    panel.meta["uri"] = uri
    return panel
