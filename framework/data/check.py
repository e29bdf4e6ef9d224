"""``seqalpha data check URI``: scan a data source and print its findings (counts by kind, then a table), as JSON
with ``--json``, and with ``--out DIR`` an offline HTML page with a price chart around every finding.

Exit 0 when there is no error-level finding (warnings are printed), 1 when there is one; a bad URI is a
DataError (one line and exit 2, printed by the command line)."""

from __future__ import annotations

import json
from pathlib import Path

from .panel import Panel
from .quality import QualityReport, scan

#: Columns of the printed table: header, width.
COLUMNS = (("level", 7), ("kind", 14), ("asset", 10), ("date", 10), ("field", 10), ("value", 12))


def _fmt(v: object) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def format_findings(report: QualityReport, uri: str, shape: tuple[int, ...]) -> str:
    """The text the command prints: a head line, counts by kind and level, then one row per finding."""
    counts = ", ".join(f"{n} {k}" for k, n in report.counts.items()) or "none"
    errors = len(report.errors)
    lines = [f"data check {uri}: {shape[0]} dates x {shape[1]} assets, prices adjusted: {report.adjusted}, "
             f"scan {report.seconds:.2f} s",
             f"{len(report.findings)} finding(s): {counts}; {errors} error(s), "
             f"{len(report.findings) - errors} warning(s)"]
    if report.findings:
        lines.append("  ".join(h.ljust(w) for h, w in COLUMNS) + "  neighbours / detail")
        for f in report.findings:
            cells = (f.level, f.kind, f.asset, f.date, f.field, _fmt(f.value))
            detail = ", ".join(f"{k} {_fmt(v)}" for k, v in f.detail.items())
            lines.append("  ".join(str(c).ljust(w) for c, (_, w) in zip(cells, COLUMNS)) + "  " + detail)
    return "\n".join(lines)


def check_main(uri: str, as_json: bool = False, out: str | None = None, plugins_dir: str | None = None) -> int:
    """Load ``uri`` (with the plugins of ``plugins_dir``), scan it, print, write the page; the exit code."""
    from ..plugins import PluginFiles, collect_registries, run_manager
    from .uri import load_panel

    registries = collect_registries(run_manager(*PluginFiles.read(plugins_dir).load()))
    panel: Panel = load_panel(uri, registries.data_sources)
    report = scan(panel)
    page = None
    if out:
        from ..report.quality_page import write_quality_page

        page = write_quality_page(Path(out), panel, report, uri)
    if as_json:
        print(json.dumps({"uri": uri, "shape": list(panel.close.shape), **report.as_json(None),
                          **({"page": str(page)} if page else {})}, default=str))
    else:
        print(format_findings(report, uri, panel.close.shape))
        if page:
            print(f"data-quality page: {page}")
    return 1 if report.errors else 0
