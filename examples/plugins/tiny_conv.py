"""A model plugin in a few lines: a one-layer temporal convolution (the README's example).

Use it with:  seqalpha run strategies/lstm_topk.py --plugins-dir examples/plugins --set model=tiny_conv
"""

from torch import nn

from seqalpha import TorchSequenceModel, hookimpl


class TinyConv(nn.Module):
    def __init__(self, n_features: int, channels: int, n_outputs: int):
        super().__init__()
        self.conv = nn.Conv1d(n_features, channels, kernel_size=3, padding=1)
        self.head = nn.Linear(channels, n_outputs)

    def forward(self, x):  # x: [B, L, F]
        h = self.conv(x.transpose(1, 2)).relu()  # [B, C, L]
        return self.head(h[:, :, -1]).squeeze(-1)


class TinyConvModel(TorchSequenceModel):
    """A one-layer temporal convolution read at the last step."""

    defaults = {**TorchSequenceModel.defaults, "channels": 16}

    def build_network(self, window: int, n_features: int, n_outputs: int) -> nn.Module:
        # the input's shape: windows of `window` steps of `n_features` features; `n_outputs` heads
        return TinyConv(n_features, self.params["channels"], n_outputs)


@hookimpl
def register_models(register):
    register("tiny_conv", TinyConvModel)
