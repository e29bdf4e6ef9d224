"""Data URIs (``scheme:location?key=value``) resolved through the registered data sources."""

from __future__ import annotations

from urllib.parse import parse_qsl

from ..registry import Registry
from .panel import Panel


def parse_uri(uri: str) -> tuple[str, str, dict[str, str]]:
    """'qlib:/d?universe=csi300' -> ('qlib', '/d', {'universe': 'csi300'}); 'synthetic' -> ('synthetic', '', {})."""
    head, _, query = uri.partition("?")
    scheme, _, location = head.partition(":")
    return scheme.strip(), location, dict(parse_qsl(query, keep_blank_values=True))


def load_panel(uri: str, sources: Registry) -> Panel:
    """Read the panel a URI names; ``panel.meta["uri"]`` remembers the URI (run configs record it)."""
    scheme, location, options = parse_uri(uri)
    loader = sources.get(scheme).factory
    panel = loader(location, options)
    panel.meta["uri"] = uri
    return panel
