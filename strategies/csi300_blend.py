"""A blend on the CSI 300 (issue 23's blend candidate): the ALSTM of strategies/csi300_alstm.py on 60-bar ``raw``
windows, weight 0.5, beside the LightGBM of strategies/csi300_lgbm_alpha158.py on one bar of raw ``alpha158``,
weight 0.5 (the sequence member carries half the weight). On each date each member's scores are ranked over the
assets both scored and the blend is the weighted mean of the ranks (docs/training.md, "Blends").

Data, universe, label (``horizon=1``), test span 2017-01-01..2020-08-01, TopkDropout 50/5, Qlib's costs, the price
limit and the benchmark are the other CSI 300 strategies'.

One retrain schedule for both members, the ALSTM's: a refit at the first bar of each year (``retrain="YS"``) on the
last 1,250 bars of labelled samples, the last 20% validating. The LightGBM member walks forward the same way
instead of its own strategy's single fit on fixed spans (train 2010-2014, valid 2015-2016): both members then know
the same history at every retrain, and a selection run on 2015-2016 never early-stops LightGBM on its own decision
dates. It keeps its own inputs and fit: raw factors (``normalize=None``, missing values as missing), per-date
z-scored unclipped targets, Qlib's LightGBM parameters. The ALSTM keeps the robust normalisation and rank targets
of strategies/csi300_lstm.py. Each member's fits are cached one by one (a member run alone with the same
parameters, spans and embargo reuses them).
"""

from pathlib import Path

from seqalpha import load_strategy_file

Csi300Alstm, _ = load_strategy_file(Path(__file__).with_name("csi300_alstm.py"))
Csi300LgbmAlpha158, _ = load_strategy_file(Path(__file__).with_name("csi300_lgbm_alpha158.py"))

ALSTM = {"model": "alstm", "model_params": dict(Csi300Alstm.model_params), "weight": 0.5}
LIGHTGBM = {"model": "lightgbm", "model_params": dict(Csi300LgbmAlpha158.model_params), "weight": 0.5,
            "feature_set": "alpha158", "window": 1, "normalize": None, "target": "zscore", "target_clip": None}


class Csi300Blend(Csi300Alstm):
    model = "blend"
    model_params = {"members": [ALSTM, LIGHTGBM]}
