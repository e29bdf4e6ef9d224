"""seqalpha predict: tomorrow's targets and orders, decided exactly as the backtest would decide at asof.

calendar.py chooses the bar and the retrain whose model decides; holdings.py reads what is held; orders.py turns
targets into orders; decide.py runs it on the resolved run; write.py and page.py write the folder; command.py is
the command line.
"""

from __future__ import annotations

from .decide import Prediction, UnscoredWarning, predict

run_predict = predict  # seqalpha.run_predict, beside seqalpha.run_backtest

__all__ = ["Prediction", "UnscoredWarning", "predict", "run_predict"]
