"""Qlib's ALSTM Alpha360 benchmark on the CSI 300: strategies/csi300_lstm.py with a GRU encoder and temporal
attention (plugins/alstm.py; Qlib's ALSTM config also uses a GRU, 64 units, 2 layers).

Everything else (data, raw features, robust normalisation, rank target, yearly walk-forward,
TopkDropout, Qlib's costs, price limit, benchmark, the training budget) is inherited.
"""

from pathlib import Path

from seqalpha import load_strategy_file

Csi300Lstm, _ = load_strategy_file(Path(__file__).with_name("csi300_lstm.py"))


class Csi300Alstm(Csi300Lstm):
    model = "alstm"
    # the LSTM strategy's pinned parameters but "highway", which alstm does not take
    model_params = {**{k: v for k, v in Csi300Lstm.model_params.items() if k != "highway"}, "rnn_type": "gru"}
