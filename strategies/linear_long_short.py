"""The no-memory baseline: ridge on the last bar's factors, long-short. What a sequence model must beat."""

from seqalpha import Strategy


class LinearLongShort(Strategy):
    data = "synthetic?assets=60&days=700&seed=0"
    model = "linear"
    window = 30
    horizon = 5
    rebalance = "W"
    retrain = "2QS"
    min_train_bars = 250
    portfolio = "long_short"
    portfolio_params = {"k": 10}
    fees = 0.001
