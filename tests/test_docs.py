"""The product documents itself: the docs name every metric, and nothing cites a document outside the repo."""

from __future__ import annotations

import re
from pathlib import Path

from seqalpha.metrics import CATALOGUE

ROOT = Path(__file__).resolve().parents[1]


def test_metrics_doc_lists_every_metric_of_the_catalogue():
    text = (ROOT / "docs" / "metrics.md").read_text()
    missing = [m.name for m in CATALOGUE if f"`{m.name}`" not in text]
    assert not missing, f"docs/metrics.md does not list {missing}"


def test_nothing_cites_a_document_outside_the_repo():
    """Code and docs point to docs/design.md, never to ../shared/DESIGN.md."""
    offenders = []
    for path in [*ROOT.glob("framework/**/*.py"), *ROOT.glob("plugins/*.py"), *ROOT.glob("docs/*.md"),
                 ROOT / "README.md", *ROOT.glob("strategies/*.py")]:
        if re.search(r"(?<![\w/])DESIGN\.md|shared/DESIGN", path.read_text()):
            offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, offenders
