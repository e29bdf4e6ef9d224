"""The run report: one self-contained HTML page built only from a run directory's files.

plotly.js is inlined once, so the page opens offline.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

from ..runs import schema
from ..runs.reader import Run, load_run
from ..util import atomic_write_text
from .html import esc, html_page
from .sections import SECTIONS


def render_section(build: Callable[[Run], str], run: Run) -> str:
    """A section's html; a section that fails shows the error instead of failing the whole report."""
    try:
        return build(run)
    except Exception as exc:  # one malformed file must not cost the rest of the report
        warnings.warn(f"report section {build.__name__} failed: {exc!r}", stacklevel=2)
        return f'<p class="sa-error">This section could not be drawn: {esc(type(exc).__name__)}: {esc(exc)}</p>'


def report_header(run: Run) -> str:
    """The page header: strategy, model, data and test span."""
    cfg = run.config
    params = cfg.get("params") or {}
    span = " to ".join(map(str, cfg.get("span") or [])) or "?"
    sub = f"model {params.get('model', '?')} · data {cfg.get('data', '?')} · test {span} · run {run.name}"
    problems = "".join(f'<p class="sa-error">{esc(p)}</p>' for p in run.problems)
    return f"<h1>{esc(cfg.get('strategy', 'seqalpha run'))}</h1><div class=\"sub\">{esc(sub)}</div>{problems}"


def build_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the run's report (default run_dir/report.html) and return its path."""
    run = load_run(run_dir)
    sections = [(sid, title, render_section(build, run)) for sid, title, build in SECTIONS]
    title = f"{run.config.get('strategy', 'seqalpha')} · {run.name}"
    path = Path(out) if out is not None else run.path / schema.REPORT
    atomic_write_text(path, html_page(title, report_header(run), sections))
    return path
