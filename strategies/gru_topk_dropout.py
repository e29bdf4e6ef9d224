"""A GRU with Qlib's TopkDropout rule: hold 10 names, swap at most 2 per rebalance (lower turnover)."""

from seqalpha import Strategy


class GruTopkDropout(Strategy):
    data = "synthetic?assets=60&days=700&seed=0"
    model = "gru"
    model_params = {"hidden_size": 32, "epochs": 8, "patience": 3, "batch_size": 256}
    window = 30
    horizon = 5
    rebalance = "W"
    retrain = "2QS"
    min_train_bars = 250
    portfolio = "topk_dropout"
    portfolio_params = {"k": 10, "n_drop": 2}
    fees = 0.001
