"""Charts as plain plotly.js JSON: the few figure calls the report makes, without plotly's Python object model.

plotly's ``graph_objects`` validate and copy every property through a tree of Python objects (about 1 s of the
1.3 s a small run's report took). plotly.js reads the same specification as plain JSON, so the report builds it
directly: ``Figure`` keeps ``data`` (a list of trace dicts) and ``layout`` (a dict), and ``scatter``/``bar``/
``histogram`` make traces. The page still draws with plotly.js, inlined once (page.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def _plain(value: Any) -> Any:
    """Arrays, Series and indexes as JSON-ready lists (dates as ISO text, NaN as null); dicts and lists deeply."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, pd.Series | pd.Index | np.ndarray):
        arr = value.to_numpy() if not isinstance(value, np.ndarray) else value
        if np.issubdtype(arr.dtype, np.datetime64):
            text = np.datetime_as_string(arr.astype("datetime64[us]"), unit="auto")
            return [None if t == "NaT" else t for t in text.tolist()]
        if np.issubdtype(arr.dtype, np.floating):
            return [None if not np.isfinite(v) else v for v in arr.astype(np.float64).tolist()]
        return [_plain(v) for v in arr.tolist()]
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


_COMPOUND = ("marker", "line", "title", "font", "hoverlabel", "textfont")


def _trace(kind: str, **props: Any) -> dict:
    """A trace dict; plotly's magic underscores (``marker_color``, ``line_shape``) become nested keys."""
    out: dict[str, Any] = {"type": kind}
    for k, v in props.items():
        head, _, tail = k.partition("_")
        if tail and head in _COMPOUND:
            out.setdefault(head, {})[tail] = _plain(v)
        else:
            _merge(out, {k: v})
    return out


def scatter(**props: Any) -> dict:
    """A plotly.js scatter trace (lines and/or markers)."""
    return _trace("scatter", **props)


def bar(**props: Any) -> dict:
    """A plotly.js bar trace."""
    return _trace("bar", **props)


def box(**props: Any) -> dict:
    """A plotly.js box trace."""
    return _trace("box", **props)


def histogram(**props: Any) -> dict:
    """A plotly.js histogram trace."""
    return _trace("histogram", **props)


def _merge(into: dict, new: dict) -> None:
    """Deep-merge ``new`` into ``into`` (nested dicts merge; other values replace), as plotly's update does."""
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = _plain(v)


def _axis_props(props: dict[str, Any]) -> dict[str, Any]:
    """plotly's magic underscore for axis titles: ``title_text="epoch"`` is ``title={"text": "epoch"}``."""
    out: dict[str, Any] = {}
    for k, v in props.items():
        if k.startswith("title_"):
            out.setdefault("title", {})[k[len("title_"):]] = v
        else:
            out[k] = v
    return out


class Figure:
    """A chart as ``{"data": [...], "layout": {...}}`` with plotly's figure calls the report uses."""

    def __init__(self, data: list[dict] | dict | None = None) -> None:
        self.data: list[dict] = [data] if isinstance(data, dict) else list(data or [])
        self.layout: dict[str, Any] = {}
        self._cols = 1

    @property
    def height(self) -> int | None:
        return self.layout.get("height")

    def add_trace(self, trace: dict, row: int | None = None, col: int | None = None) -> Figure:
        if col is not None and col > 1:
            trace = {**trace, "xaxis": f"x{col}", "yaxis": f"y{col}"}
        self.data.append(trace)
        return self

    def update_layout(self, **props: Any) -> Figure:
        _merge(self.layout, props)
        return self

    def _axes(self, letter: str, col: int | None) -> list[str]:
        cols = [col] if col is not None else range(1, self._cols + 1)
        return [f"{letter}axis" if c == 1 else f"{letter}axis{c}" for c in cols]

    def update_xaxes(self, row: int | None = None, col: int | None = None, **props: Any) -> Figure:
        for name in self._axes("x", col):
            _merge(self.layout.setdefault(name, {}), _axis_props(props))
        return self

    def update_yaxes(self, row: int | None = None, col: int | None = None, **props: Any) -> Figure:
        for name in self._axes("y", col):
            _merge(self.layout.setdefault(name, {}), _axis_props(props))
        return self

    def add_vline(self, x: float, line: dict | None = None) -> Figure:
        """A vertical line across the whole plot at ``x``."""
        shape = {"type": "line", "xref": "x", "x0": _plain(x), "x1": _plain(x), "yref": "y domain", "y0": 0, "y1": 1,
                 "line": _plain(line or {})}
        self.layout.setdefault("shapes", []).append(shape)
        return self

    def to_plotly_json(self) -> dict:
        return {"data": self.data, "layout": self.layout}


def make_subplots(rows: int = 1, cols: int = 2, subplot_titles: tuple[str, ...] = (),
                  horizontal_spacing: float = 0.2 / 2, column_widths: list[float] | None = None) -> Figure:
    """One row of ``cols`` side-by-side plots (the only grid the report uses), titled like plotly's."""
    if rows != 1:
        raise ValueError("make_subplots: the report only lays out one row")
    widths = np.asarray(column_widths if column_widths is not None else [1.0] * cols, dtype=np.float64)
    widths = widths / widths.sum() * (1.0 - horizontal_spacing * (cols - 1))
    fig = Figure()
    fig._cols = cols
    left = 0.0
    annotations = []
    for c in range(1, cols + 1):
        right = left + float(widths[c - 1])
        suffix = "" if c == 1 else str(c)
        fig.layout[f"xaxis{suffix}"] = {"anchor": f"y{suffix}", "domain": [left, right]}
        fig.layout[f"yaxis{suffix}"] = {"anchor": f"x{suffix}", "domain": [0.0, 1.0]}
        if c <= len(subplot_titles):
            annotations.append({"text": subplot_titles[c - 1], "x": (left + right) / 2, "xref": "paper",
                                "xanchor": "center", "y": 1.0, "yref": "paper", "yanchor": "bottom",
                                "showarrow": False, "font": {"size": 16}})
        left = right + horizontal_spacing
    if annotations:
        fig.layout["annotations"] = annotations
    return fig
