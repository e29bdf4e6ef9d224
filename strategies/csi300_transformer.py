"""A small Transformer encoder on the CSI 300: strategies/csi300_lstm.py with plugins/transformer.py.

Qlib's Transformer Alpha360 sizes: width 64, 2 heads, 2 layers, read at the last position.
Everything else (data, features, rank target, walk-forward, TopkDropout, costs, the training
budget) is inherited; gate_init is a recurrent model's parameter, so it is dropped.
"""

from pathlib import Path

from seqalpha import load_strategy_file

Csi300Lstm, _ = load_strategy_file(Path(__file__).with_name("csi300_lstm.py"))


class Csi300Transformer(Csi300Lstm):
    model = "transformer"
    model_params = {**{k: v for k, v in Csi300Lstm.model_params.items() if k not in ("gate_init", "highway")},
                    "num_heads": 2, "pool": "last"}
