"""A candidate for the CSI 300 selection (issue 23): the ALSTM of strategies/csi300_alstm_aux.py on 20-bar windows of
Alpha158 factors instead of 60-bar ``raw`` windows. Only the inputs change, so its validation figures against
csi300_alstm_aux's say what the inputs are worth.

Inputs as Qlib's ALSTM Alpha158 benchmark (examples/benchmarks/ALSTM/workflow_config_alstm_Alpha158.yaml, a
TSDatasetH with ``step_len`` 20): the 20 Alpha158 factors of its FilterCol, over the last 20 bars, robust z-scored
(median and MAD per bar and factor fitted on each retrain's training windows, clipped at 3: RobustZScoreNorm with
``clip_outlier``) and missing values set to 0 after scaling (Fillna); the label ranked per date (CSRankNorm). The
network is Qlib's too (a GRU encoder with temporal attention, 64 units, 2 layers, lr 1e-3), plus the auxiliary 2- and
5-day heads that won the last selection.

Inherited from csi300_alstm_aux / csi300_lstm: the data, point-in-time universe, test span, yearly walk-forward on
the last 1,250 bars, the training budget (100,000 windows an epoch, at most 4 epochs, early stopping on validation IC),
TopkDropout 50/5, Qlib's costs, the price limit and the benchmark. Where it departs from Qlib: the walk-forward and
budget above, and Alpha158 without VWAP0 (this data has no vwap; VWAP0 is not among the 20 factors anyway).
"""

from pathlib import Path

from seqalpha import load_strategy_file

Csi300AlstmAux, _ = load_strategy_file(Path(__file__).with_name("csi300_alstm_aux.py"))

#: Qlib's FilterCol for its LSTM/GRU/ALSTM Alpha158 benchmarks, in its order.
QLIB_ALPHA158_20 = ["RESI5", "WVMA5", "RSQR5", "KLEN", "RSQR10", "CORR5", "CORD5", "CORR10", "ROC60", "RESI10",
                    "VSTD5", "RSQR60", "CORR60", "WVMA60", "STD5", "RSQR20", "CORD60", "CORD10", "CORR20", "KLOW"]


class Csi300AlstmAlpha158(Csi300AlstmAux):
    feature_set = "alpha158"
    factors = QLIB_ALPHA158_20
    window = 20  # Qlib's step_len
    normalize = "robust"  # RobustZScoreNorm fitted on the training windows, clipped at 3, then Fillna(0)
    target = "rank"  # CSRankNorm
