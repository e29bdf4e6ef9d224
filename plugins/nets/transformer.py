"""``transformer``'s torch code (registered by plugins/transformer.py): a small Transformer encoder over the
window, with sinusoidal positions.

Every step attends to every step of the window (all of them at or before the decision
date); the head reads the last position (``pool="last"``) or the mean over positions
(``pool="mean"``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from seqalpha.model.torch_sequence import TorchSequenceModel


def positions(length: int, width: int) -> torch.Tensor:
    """[length, width] sinusoidal position encodings (Vaswani et al. 2017)."""
    pos = torch.arange(length, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, width, 2, dtype=torch.float32) * (-math.log(10000.0) / width))
    out = torch.zeros(length, width)
    out[:, 0::2] = torch.sin(pos * freq)
    out[:, 1::2] = torch.cos(pos * freq)[:, : width // 2]
    return out


class TransformerNet(nn.Module):
    def __init__(self, n_features: int, width: int, heads: int, layers: int, dropout: float, window: int,
                 pool: str, n_outputs: int = 1):
        super().__init__()
        self.project = nn.Linear(n_features, width)
        self.register_buffer("positions", positions(window, width), persistent=False)
        layer = nn.TransformerEncoderLayer(width, heads, dim_feedforward=2 * width, dropout=dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.pool = pool
        self.head = nn.Linear(width, n_outputs)

    def forward(self, x):  # [B, L, F]
        h = self.encoder(self.project(x) + self.positions[-x.shape[1]:])
        return self.head(h[:, -1] if self.pool == "last" else h.mean(dim=1)).squeeze(-1)


class Transformer(TorchSequenceModel):
    """Transformer encoder with sinusoidal positions, read at the last step or pooled."""

    defaults = {**TorchSequenceModel.defaults, "num_heads": 4, "pool": "last"}

    def build_network(self, window: int, n_features: int, n_outputs: int) -> nn.Module:
        p = self.params
        if p["pool"] not in ("last", "mean"):
            raise ValueError(f"transformer: pool must be 'last' or 'mean', got {p['pool']!r}")
        if p["hidden_size"] % p["num_heads"]:
            raise ValueError(f"transformer: hidden_size {p['hidden_size']} must be a multiple of num_heads "
                             f"{p['num_heads']}")
        return TransformerNet(n_features, p["hidden_size"], p["num_heads"], p["num_layers"], p["dropout"],
                              window, p["pool"], n_outputs)
