"""A monthly strategy on the 49 US industry portfolios (Kenneth French data, 1926-2021).

An LSTM reads two years of each industry's monthly excess return (over the T-bill)
and the market's, and forecasts next month's return relative to the other
industries; hold the top 10 equal weight, rebalance and score monthly, refit every
five years on an expanding window. Shows the framework is not tied to daily bars:
schedules are in bars, and metrics annualise with 12 periods a year.
"""

from seqalpha import Strategy


class Ff49MonthlyLstm(Strategy):
    data = "french:../shared/data/ff49_monthly"
    factors = ["ret_rf", "mkt_rf"]
    normalize = "zscore"
    model = "lstm"
    model_params = {"hidden_size": 16, "epochs": 15, "patience": 3, "batch_size": 256, "lr": 3e-3}
    window = 24
    horizon = 1
    rebalance = 1  # every bar = every month
    retrain = 60  # every 60 bars = five years
    min_train_bars = 240
    test_start = "1960-01-01"
    portfolio = "topk"
    portfolio_params = {"k": 10}
    fees = 0.001
