"""Qlib's MLP Alpha158 benchmark (examples/benchmarks/MLP/workflow_config_mlp_Alpha158.yaml) on the CSI 300:
strategies/csi300_lgbm_alpha158.py with the ``mlp`` model instead of LightGBM.

The network is Qlib's DNN (one hidden layer of 256, batch normalisation, LeakyReLU, dropout 0.05;
Adam, lr 0.002, weight decay 2e-4, batches of 8192: the ``mlp`` model's defaults). Same one fit,
spans, label, target and portfolio. Where it departs from Qlib: the factors are z-scored per date
(``normalize="zscore"``, missing values at the day's mean 0) where Qlib fills missing values with the
day's mean and feeds the rest raw, and training runs by epochs with early stopping on the validation
span (50 at most, patience 10) instead of Qlib's 8000 steps.
"""

from pathlib import Path

from seqalpha import load_strategy_file

Csi300LgbmAlpha158, _ = load_strategy_file(Path(__file__).with_name("csi300_lgbm_alpha158.py"))


class Csi300MlpAlpha158(Csi300LgbmAlpha158):
    model = "mlp"
    model_params = {}
    normalize = "zscore"
