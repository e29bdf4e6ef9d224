"""seqalpha tune: an Optuna search over a strategy's parameters, scored on a selection span that ends before the
test period (docs/design.md, "Choosing settings: tune and the timing contract")."""

from .objective import TrialRecord
from .runner import TuneResult, tune
from .space import Dist, parse_space

__all__ = ["Dist", "TrialRecord", "TuneResult", "parse_space", "tune"]
