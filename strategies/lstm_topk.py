"""The default strategy: an LSTM on the built-in synthetic panel, top-10 equal weight, weekly rebalance.

Run it:  seqalpha run strategies/lstm_topk.py
Another model and window:  seqalpha run strategies/lstm_topk.py --set model=gru --set window=40
"""

from seqalpha import Strategy


class LstmTopK(Strategy):
    data = "synthetic?assets=60&days=700&seed=0"
    model = "lstm"
    model_params = {"hidden_size": 32, "epochs": 8, "patience": 3, "batch_size": 256}
    window = 30  # the planted signal sits 20 bars back: a window of 30 contains it
    horizon = 5
    rebalance = "W"
    retrain = "2QS"
    min_train_bars = 250
    portfolio = "topk"
    portfolio_params = {"k": 10}
    fees = 0.001
    seed = 0
