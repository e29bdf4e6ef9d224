"""A temporal convolutional network on the CSI 300: strategies/csi300_lstm.py with plugins/tcn.py.

64 channels, kernel 3, four residual blocks of dilations 1, 2, 4, 8: a receptive field of 61 bars,
the whole 60-bar window. Everything else (data, features, rank target, walk-forward, TopkDropout,
costs, the training budget) is inherited; gate_init is a recurrent model's parameter, so it is dropped.
"""

from pathlib import Path

from seqalpha import load_strategy_file

Csi300Lstm, _ = load_strategy_file(Path(__file__).with_name("csi300_lstm.py"))


class Csi300Tcn(Csi300Lstm):
    model = "tcn"
    model_params = {**{k: v for k, v in Csi300Lstm.model_params.items() if k not in ("gate_init", "num_layers", "highway")},
                    "kernel_size": 3}
