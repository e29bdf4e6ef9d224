"""Metrics: how they are computed (compute.py) and the one catalogue of names and conventions (catalogue.py)."""

from .catalogue import BY_NAME, CATALOGUE, HEADLINE, LISTED, TERMINAL, Metric, convention_of, fmt_of
from .compute import (
    ic_by_date,
    ic_standard_errors,
    ic_summary,
    max_drawdown,
    mean_standard_error,
    performance,
    periods_per_year,
    qlib_conventions,
    seed_metrics,
    turnover,
)

__all__ = ["BY_NAME", "CATALOGUE", "HEADLINE", "LISTED", "TERMINAL", "Metric", "convention_of", "fmt_of",
           "ic_by_date", "ic_standard_errors", "ic_summary", "max_drawdown", "mean_standard_error", "performance", "periods_per_year", "qlib_conventions", "seed_metrics",
           "turnover"]
