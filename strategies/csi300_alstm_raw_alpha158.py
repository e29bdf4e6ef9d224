"""A candidate for the CSI 300 selection (issue 23): the ALSTM of strategies/csi300_alstm_aux.py reading its 60-bar
``raw`` windows (Alpha360-like: open, high, low, close over today's close, volume over today's volume) and, in the
same windows, Qlib's 20 Alpha158 factors of strategies/csi300_alstm_alpha158.py: ``feature_set = ["raw",
"alpha158"]``, 25 features a bar.

Everything else is csi300_alstm_aux's: robust normalisation fitted on each retrain's training windows (per bar and
feature, clipped at 3, missing -> 0), the rank label, the network, the training budget, the walk-forward, the
portfolio and the costs. Against csi300_alstm_aux it adds the factors; against csi300_alstm_alpha158 it adds the raw
series and the longer window.
"""

from pathlib import Path

from seqalpha import load_strategy_file

Csi300AlstmAux, _ = load_strategy_file(Path(__file__).with_name("csi300_alstm_aux.py"))
_, _alpha158 = load_strategy_file(Path(__file__).with_name("csi300_alstm_alpha158.py"))
RAW = ["log_close_rel", "log_open_rel", "log_high_rel", "log_low_rel", "log_volume_rel"]


class Csi300AlstmRawAlpha158(Csi300AlstmAux):
    feature_set = ["raw", "alpha158"]
    factors = [*RAW, *_alpha158.QLIB_ALPHA158_20]
    window = 60
    normalize = "robust"
