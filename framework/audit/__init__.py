"""`seqalpha audit`: look-ahead checks of a user's own strategy on the user's own data (checks.py)."""

from .checks import Check
from .runner import format_checks, run_audit

__all__ = ["Check", "format_checks", "run_audit"]
