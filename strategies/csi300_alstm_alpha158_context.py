"""A candidate for the CSI 300 selection (issue 23): strategies/csi300_alstm_alpha158.py with market context.

Every stock's 20-bar window also carries the date's market features (docs/factors.md, "Market context"), computed
from rows <= t: the CSI 300 index's (SH000300, the strategy's benchmark) log return and volatility over 5, 20 and 60
bars, and the universe's breadth (share of members up) and dispersion (cross-sectional std of returns) over the same
lookbacks: 12 channels beside the 20 factors. They are the same for every stock on a date; the robust normalisation
scales them over time, fitted on each retrain's training windows. Everything else is csi300_alstm_alpha158's, so the
two candidates' validation figures say what the context is worth.
"""

from pathlib import Path

from seqalpha import load_strategy_file

Csi300AlstmAlpha158, _ = load_strategy_file(Path(__file__).with_name("csi300_alstm_alpha158.py"))


class Csi300AlstmAlpha158Context(Csi300AlstmAlpha158):
    market_context = {"lookbacks": [5, 20, 60]}
