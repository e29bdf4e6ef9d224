"""``mlp``'s torch code (registered by plugins/baselines.py): a feed-forward network on the current bar's factors.

Qlib's DNN (qlib/contrib/model/pytorch_nn.py ``Net``, its MLP Alpha158 benchmark): dropout 0.05 on the
input, one hidden layer of 256 units with batch normalisation and LeakyReLU(0.1), dropout 0.05, a
linear head; Kaiming-initialised weights; Adam with lr 0.002 and weight decay 2e-4, batches of 8192.
Qlib trains by steps (8000 at most, early stopping over validation checks); here the shared loop's
epochs and patience do that. ``lags`` > 1 reads the window's last ``lags`` bars side by side.
"""

from __future__ import annotations

from torch import nn

from seqalpha.model.torch_sequence import TorchSequenceModel


class MLPNet(nn.Module):
    """[B, L, F] -> the last ``lags`` steps flattened -> dropout, hidden layers (Linear, BatchNorm, LeakyReLU),
    dropout, linear head -> [B] (or [B, n_outputs])."""

    def __init__(self, n_inputs: int, layers: tuple[int, ...], dropout: float, lags: int, n_outputs: int = 1):
        super().__init__()
        self.lags = lags
        blocks: list[nn.Module] = [nn.Dropout(dropout)]
        width = n_inputs
        for units in layers:
            blocks.append(nn.Sequential(nn.Linear(width, units), nn.BatchNorm1d(units),
                                        nn.LeakyReLU(negative_slope=0.1)))
            width = units
        blocks += [nn.Dropout(dropout), nn.Linear(width, n_outputs)]
        self.body = nn.Sequential(*blocks)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight, a=0.1, mode="fan_in", nonlinearity="leaky_relu")

    def forward(self, x):
        x = x[:, -self.lags:].reshape(x.shape[0], -1)  # steps t-lags+1 .. t: never beyond the window's last row
        return self.body(x).squeeze(-1)


class MLP(TorchSequenceModel):
    """Feed-forward network on the current bar's factors (Qlib's DNN/MLP benchmark); ``lags`` adds earlier bars."""

    defaults = {**TorchSequenceModel.defaults, "hidden_size": 256, "num_layers": 1, "dropout": 0.05, "lr": 0.002,
                "weight_decay": 2e-4, "batch_size": 8192, "epochs": 50, "patience": 10, "lags": 1}

    def check_params(self, params: dict) -> None:
        lags = params["lags"]
        if isinstance(lags, bool) or not isinstance(lags, int) or lags < 1:
            raise ValueError(f"MLP: lags must be an int >= 1, got {lags!r}")

    def build_network(self, window: int, n_features: int, n_outputs: int) -> nn.Module:
        p = self.params
        if p["lags"] > window:
            raise ValueError(f"MLP: lags={p['lags']} needs the strategy's window >= {p['lags']}, got {window}")
        return MLPNet(p["lags"] * n_features, (p["hidden_size"],) * p["num_layers"], p["dropout"], p["lags"],
                      n_outputs)
