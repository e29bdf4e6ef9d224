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
    scheme, location, options = parse_uri(uri)
    loader = sources.get(scheme).factory
    return loader(location, options)
