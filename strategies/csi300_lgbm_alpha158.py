"""Qlib's LightGBM Alpha158 workflow on the CSI 300 (examples/benchmarks/LightGBM/workflow_config_lightgbm_Alpha158.yaml),
on the same data and test span as the other CSI 300 strategies.

As in Qlib 0.9.7's run on this folder (../shared/data/README.md):

* one fit at the start of the test (``retrain=None``), trained on sample dates 2010-01-04..2014-12-31
  and early-stopped on the fixed validation span 2015-01-01..2016-12-31 (``valid_start``/``valid_end``);
* raw Alpha158 factors of the current bar (``feature_set="alpha158"``, ``normalize=None``, ``window=1``),
  missing values handed to LightGBM as missing;
* the label ``Ref($close, -2) / Ref($close, -1) - 1``: seqalpha's ``horizon=1`` label of date t is the
  return from the close of t + 1 to the close of t + 2 (execution at the next close), less the day's
  cross-sectional mean; the mean changes neither a per-date z-score nor an IC. The model fits it z-scored
  per date and unclipped (``target="zscore"``, ``target_clip=None``: CSZScoreNorm); IC is taken on the raw label;
* LGBModel with Qlib's parameters (the ``lightgbm`` model's defaults) and its fit defaults (1000 rounds,
  early stopping after 50); ``num_threads`` is the run's ``--threads`` (Qlib's run used 2);
* TopkDropout 50/5 every day, buy 0.05%, sell 0.15%, minimum 5 per order, the 9.5% price limit,
  benchmark SH000300, 1e8 of cash.

Where seqalpha is stricter: its embargo keeps every label the fit sees known at the fit. The
training dates end h + 1 = 2 bars before the validation span starts, and the validation dates end
2 bars before the first test date (Qlib's last validation labels read the first prices of 2017).
"""

from seqalpha import Strategy


class Csi300LgbmAlpha158(Strategy):
    data = "qlib:../shared/data/cn_csi300_qlib?universe=csi300&benchmark=SH000300"
    feature_set = "alpha158"
    normalize = None  # raw factors, as Qlib's Alpha158 handler (no feature processors)
    window = 1  # the current bar's factors
    horizon = 1
    target = "zscore"
    target_clip = None  # CSZScoreNorm: unbounded
    model = "lightgbm"
    model_params = {}  # Qlib's LightGBM Alpha158 parameters are the model's defaults
    train_start = "2010-01-01"
    valid_start = "2015-01-01"
    valid_end = "2016-12-31"
    test_start = "2017-01-01"
    test_end = "2020-08-01"
    retrain = None  # one fit, at the first test bar
    rebalance = "D"
    portfolio = "topk_dropout"
    portfolio_params = {"k": 50, "n_drop": 5}
    fees = 0.0
    buy_cost = 0.0005
    sell_cost = 0.0015
    min_cost = 5.0
    limit_threshold = 0.095
    benchmark = "SH000300"
    seed = 0
