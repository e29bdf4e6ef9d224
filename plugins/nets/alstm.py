"""``alstm``'s torch code (registered by plugins/alstm.py): a recurrent encoder with temporal attention over
its hidden states (Qlib's ALSTM).

The window is projected (linear + tanh), run through an LSTM or GRU (``rnn_type``), and
attention weights over the steps make a context vector; the head reads it concatenated
with the last hidden state. ``gate_init`` as for lstm and gru (chrono by default).
"""

from __future__ import annotations

import torch
from torch import nn

from seqalpha.builtin_plugins.nets.recurrent import gates
from seqalpha.model.torch_sequence import TorchSequenceModel


class ALSTMNet(nn.Module):
    def __init__(self, cell: type[nn.RNNBase], n_features: int, hidden: int, layers: int, dropout: float,
                 n_outputs: int = 1):
        super().__init__()
        self.project = nn.Sequential(nn.Linear(n_features, hidden), nn.Tanh())
        self.rnn = cell(hidden, hidden, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        self.attend = nn.Sequential(nn.Linear(hidden, max(hidden // 2, 1)), nn.Dropout(dropout), nn.Tanh(),
                                    nn.Linear(max(hidden // 2, 1), 1, bias=False))
        self.head = nn.Linear(2 * hidden, n_outputs)

    def forward(self, x):  # [B, L, F]
        states, _ = self.rnn(self.project(x))  # [B, L, H]
        weights = torch.softmax(self.attend(states), dim=1)  # [B, L, 1]
        context = (weights * states).sum(dim=1)
        return self.head(torch.cat([states[:, -1], context], dim=1)).squeeze(-1)


class ALSTM(TorchSequenceModel):
    """LSTM (or GRU) encoder with temporal attention, read with the last state (Qlib's ALSTM)."""

    defaults = {**TorchSequenceModel.defaults, "rnn_type": "lstm", "gate_init": "chrono"}

    def build_network(self, window: int, n_features: int, n_outputs: int) -> nn.Module:
        p = self.params
        cells = {"lstm": nn.LSTM, "gru": nn.GRU}
        if p["rnn_type"] not in cells:
            raise ValueError(f"alstm: rnn_type must be 'lstm' or 'gru', got {p['rnn_type']!r}")
        net = ALSTMNet(cells[p["rnn_type"]], n_features, p["hidden_size"], p["num_layers"], p["dropout"], n_outputs)
        gates(net.rnn, p["gate_init"], window)
        return net
