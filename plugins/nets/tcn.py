"""``tcn``'s torch code (registered by plugins/tcn.py): dilated causal convolutions in residual blocks, read
at the last step (Bai, Kolter & Koltun 2018).

Dilations double per block (1, 2, 4, ...) and there are as many blocks as it takes for the
receptive field, 1 + 2 (kernel - 1) (2^blocks - 1) steps, to cover the whole window.
"""

from __future__ import annotations

import math

from torch import nn

from seqalpha.model.torch_sequence import TorchSequenceModel


class CausalBlock(nn.Module):
    """Two dilated causal convolutions with a residual connection: step t reads steps <= t only."""

    def __init__(self, channels_in: int, channels: int, kernel: int, dilation: int, dropout: float):
        super().__init__()
        self.trim = (kernel - 1) * dilation
        self.conv1 = nn.Conv1d(channels_in, channels, kernel, padding=self.trim, dilation=dilation)
        self.conv2 = nn.Conv1d(channels, channels, kernel, padding=self.trim, dilation=dilation)
        self.drop = nn.Dropout(dropout)
        self.skip = nn.Conv1d(channels_in, channels, 1) if channels_in != channels else nn.Identity()

    def forward(self, x):  # [B, C, L]
        h = self.drop(self.conv1(x)[:, :, : x.shape[2]].relu())  # padding on both sides; the right part is cut
        h = self.drop(self.conv2(h)[:, :, : x.shape[2]].relu())
        return (h + self.skip(x)).relu()


def blocks_for(window: int, kernel: int) -> int:
    """Blocks of doubling dilation whose receptive field covers ``window`` steps."""
    return max(1, math.ceil(math.log2((window - 1) / (2 * (kernel - 1)) + 1)))


class TCNNet(nn.Module):
    def __init__(self, n_features: int, channels: int, kernel: int, window: int, dropout: float, n_outputs: int = 1):
        super().__init__()
        n = blocks_for(window, kernel)
        self.blocks = nn.Sequential(*(CausalBlock(n_features if k == 0 else channels, channels, kernel, 2 ** k, dropout)
                                      for k in range(n)))
        self.receptive_field = 1 + 2 * (kernel - 1) * (2 ** n - 1)
        self.head = nn.Linear(channels, n_outputs)

    def forward(self, x):  # [B, L, F]
        h = self.blocks(x.transpose(1, 2))  # [B, C, L]
        return self.head(h[:, :, -1]).squeeze(-1)


class TCN(TorchSequenceModel):
    """Temporal convolutional network: dilated causal residual blocks covering the window."""

    defaults = {**TorchSequenceModel.defaults, "kernel_size": 3}

    def build_network(self, window: int, n_features: int, n_outputs: int) -> nn.Module:
        p = self.params
        return TCNNet(n_features, p["hidden_size"], p["kernel_size"], window, p["dropout"], n_outputs)
