"""The CSI 300 strategy chosen on 2015-2016 (issue 14): the ALSTM strategy with auxiliary horizons.

strategies/csi300_alstm.py (a GRU encoder with temporal attention, Qlib's ALSTM) plus
``aux_horizons=[2, 5]``: two extra heads learn the 2- and 5-day excess returns beside the
1-day label, and the scores come from the 1-day head (the idea behind Qlib's TCTS). The
walk-forward embargo becomes 5 + 1 bars, the longest horizon trained on.

Chosen by the rule in benchmarks/results/csi300_zoo_select.md, written before any result:
the highest mean validation rank IC over seeds 0, 1, 2 with decisions in 2015-2016 only.
Fixed and committed before its first run on the test period.
"""

from pathlib import Path

from seqalpha import load_strategy_file

Csi300Alstm, _ = load_strategy_file(Path(__file__).with_name("csi300_alstm.py"))


class Csi300AlstmAux(Csi300Alstm):
    model_params = {**Csi300Alstm.model_params, "aux_horizons": [2, 5]}
