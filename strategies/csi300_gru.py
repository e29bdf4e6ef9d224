"""Qlib's GRU Alpha360 benchmark on the CSI 300: strategies/csi300_lstm.py with a GRU.

Everything else (data, raw features, robust normalisation, yearly walk-forward,
TopkDropout, Qlib's costs, price limit, benchmark) is inherited, so the two runs
differ only in the network. See benchmarks/csi300.py.
"""

from pathlib import Path

from seqalpha import load_strategy_file

Csi300Lstm, _ = load_strategy_file(Path(__file__).with_name("csi300_lstm.py"))


class Csi300Gru(Csi300Lstm):
    model = "gru"
