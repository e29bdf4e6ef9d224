"""Market data: the Panel (dates x assets x fields) and data URIs resolved through the registered sources."""

from .panel import PRICE_FIELDS, DataError, Panel, panel_from_frame
from .uri import load_panel, parse_uri

__all__ = ["PRICE_FIELDS", "DataError", "Panel", "load_panel", "panel_from_frame", "parse_uri"]
