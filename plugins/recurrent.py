"""Built-in recurrent models: ``rnn``, ``lstm`` and ``gru``. Each supplies only its network."""

from __future__ import annotations

from torch import nn

from framework.hookspecs import hookimpl
from framework.torch_model import TorchSequenceModel


class RecurrentNet(nn.Module):
    """A stacked recurrent layer read at the last step, then a linear head: [B, L, F] -> [B]."""

    def __init__(self, cell: type[nn.RNNBase], n_features: int, hidden_size: int, num_layers: int, dropout: float):
        super().__init__()
        self.rnn = cell(n_features, hidden_size, num_layers, batch_first=True,
                        dropout=dropout if num_layers > 1 else 0.0)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1]).squeeze(-1)


class RNN(TorchSequenceModel):
    cell: type[nn.RNNBase] = nn.RNN

    def build_network(self, n_features: int) -> nn.Module:
        p = self.params
        return RecurrentNet(self.cell, n_features, p["hidden_size"], p["num_layers"], p["dropout"])


class LSTM(RNN):
    cell = nn.LSTM


class GRU(RNN):
    cell = nn.GRU


@hookimpl
def register_models(register):
    register("rnn", RNN)
    register("lstm", LSTM)
    register("gru", GRU)
