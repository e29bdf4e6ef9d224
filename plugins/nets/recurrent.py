"""The torch code of the recurrent models ``rnn``, ``lstm`` and ``gru`` (registered by plugins/recurrent.py).

Each supplies only its network.

``gate_init="chrono"``, the default of lstm and gru, starts the forget/update-gate biases
at log U(1, window - 1) (Tallec & Ollivier 2018), so the memory starts with time scales
spread over the whole window. PyTorch's own initialisation (``gate_init="default"``) starts
the forget gate near 0.5, so the gradient from a step k bars back shrinks like 0.5**k: in
benchmarks/vanishing_gradient.py those LSTM/GRU miss a signal 20 (LSTM) or 40 (GRU) bars
back, chrono-initialised they reach the oracle. Why chrono is the default:
docs/training.md ("Gate initialisation").

``highway=True``, the default of lstm and gru since issue 23, adds a linear map of the whole
window to the output (``RecurrentNet``); ``highway=False`` is the network of before. Why:
docs/training.md ("The highway").
"""

from __future__ import annotations

import torch
from torch import nn

from seqalpha.model.torch_sequence import TorchSequenceModel


class RecurrentNet(nn.Module):
    """A stacked recurrent layer read at the last step, then a linear head: [B, L, F] -> [B] (or [B, heads]).

    ``highway=True`` adds a linear map of the whole input window to the output (LSTNet's autoregressive
    highway, Lai et al. 2018), started at zero: a value k bars back, or a level against its recent
    mean, reaches the score in one linear step instead of through k steps of memory that the
    network's other signals also compete for."""

    def __init__(self, cell: type[nn.RNNBase], n_features: int, hidden_size: int, num_layers: int, dropout: float,
                 n_outputs: int = 1, highway: bool = False, window: int = 1):
        super().__init__()
        self.rnn = cell(n_features, hidden_size, num_layers, batch_first=True,
                        dropout=dropout if num_layers > 1 else 0.0)
        self.head = nn.Linear(hidden_size, n_outputs)
        self.highway = None
        if highway:
            self.highway = nn.Linear(window * n_features, n_outputs)
            nn.init.zeros_(self.highway.weight)
            nn.init.zeros_(self.highway.bias)

    def forward(self, x):
        out, _ = self.rnn(x)
        y = self.head(out[:, -1])
        if self.highway is not None:
            y = y + self.highway(x.reshape(x.shape[0], -1))
        return y.squeeze(-1)


def gates(rnn: nn.RNNBase, gate_init: str, window: int) -> None:
    """Apply ``gate_init`` ("default" or "chrono") to a recurrent layer."""
    if gate_init == "chrono":
        if not isinstance(rnn, (nn.LSTM, nn.GRU)):
            raise ValueError("gate_init='chrono' needs gates: use it with lstm or gru")
        chrono_init(rnn, window)
    elif gate_init != "default":
        raise ValueError(f"gate_init must be 'default' or 'chrono', got {gate_init!r}")


def chrono_init(rnn: nn.LSTM | nn.GRU, t_max: int) -> None:
    """Gate biases so the memory starts with time scales spread up to ``t_max`` steps (Tallec & Ollivier 2018):
    LSTM forget-gate bias log U(1, t_max - 1) and input-gate bias its negative; GRU update-gate bias the same."""
    H = rnn.hidden_size
    with torch.no_grad():
        for name, p in rnn.named_parameters():
            if not name.startswith("bias"):
                continue
            keep = slice(H, 2 * H)  # LSTM gates i, f, g, o; GRU gates r, z, n (h' = (1 - z) n + z h)
            if name.startswith("bias_hh"):
                p[keep] = 0.0
                if isinstance(rnn, nn.LSTM):
                    p[:H] = 0.0
                continue
            b = torch.log(torch.empty(H).uniform_(1.0, max(t_max - 1.0, 1.0 + 1e-3)))
            p[keep] = b
            if isinstance(rnn, nn.LSTM):
                p[:H] = -b


class RNN(TorchSequenceModel):
    """Elman RNN (tanh) read at the last step (``highway=True`` adds the linear map of the window)."""

    cell: type[nn.RNNBase] = nn.RNN
    defaults = {**TorchSequenceModel.defaults, "gate_init": "default", "highway": False}

    def check_params(self, params: dict) -> None:
        if not isinstance(params["highway"], bool):
            raise ValueError(f"{type(self).__name__}: highway must be True or False, got {params['highway']!r}")

    def build_network(self, window: int, n_features: int, n_outputs: int) -> nn.Module:
        p = self.params
        net = RecurrentNet(self.cell, n_features, p["hidden_size"], p["num_layers"], p["dropout"], n_outputs,
                           highway=p["highway"], window=window)
        gates(net.rnn, p["gate_init"], window)  # chrono gate biases spread over the window
        return net


class LSTM(RNN):
    """LSTM read at the last step; chrono-initialised gates (long memories) and the highway (exact lags) by default."""

    cell = nn.LSTM
    # batch 128 (not 512): four times the updates per epoch, so the recurrent part learns the nonlinear signal
    # before early stopping ends what the highway has already fit (docs/training.md, "The highway")
    defaults = {**RNN.defaults, "gate_init": "chrono", "highway": True, "batch_size": 128}


class GRU(RNN):
    """GRU read at the last step; chrono-initialised gates (long memories) and the highway (exact lags) by default."""

    cell = nn.GRU
    defaults = {**RNN.defaults, "gate_init": "chrono", "highway": True}
