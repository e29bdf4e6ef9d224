"""HTML reports: one page per run (page.py, sections.py) and a comparison page for several runs (compare_page.py)."""

from .page import build_report

__all__ = ["build_report"]
