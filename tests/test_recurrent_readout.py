"""The recurrent models' highway (issue 23): lstm and gru add a linear map of the whole window to their output."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqalpha.builtin_plugins.recurrent import GRU, LSTM, RNN


def test_lstm_and_gru_have_the_highway_by_default_and_rnn_does_not():
    """The gated models' default adds the window's linear map; ``highway=False`` is the network of before."""
    for cls in (LSTM, GRU):
        assert cls.defaults["highway"] is True, cls
        net = cls(hidden_size=8).build_network(30, 3, 2)
        assert net.highway.in_features == 90 and net.highway.out_features == 2, cls
        assert net.highway.weight.abs().max() == 0  # starts as the plain recurrent net
        old = cls(hidden_size=8, highway=False).build_network(30, 3, 1)
        assert {k.split(".")[0] for k in old.state_dict()} == {"rnn", "head"}, cls
    assert RNN.defaults["highway"] is False  # the plain RNN stays the fading-memory baseline
    assert LSTM.defaults["batch_size"] == 128  # issue 23's evidence: 0.78 of the oracle at 512, 0.8+ at 128


def test_the_highway_reads_the_step_k_bars_back():
    """Its weights are laid out by step (the last step last): a weight on step L-1-k reads the value k bars back."""
    torch.manual_seed(0)
    net = LSTM(hidden_size=4).build_network(20, 2, 1)
    lag = 15
    with torch.no_grad():
        net.head.weight.zero_()
        net.head.bias.zero_()
        net.highway.weight.view(20, 2)[-1 - lag, 0] = 1.0
    x = torch.randn(5, 20, 2)
    torch.testing.assert_close(net(x), x[:, -1 - lag, 0])


def test_a_highway_that_is_not_a_bool_is_refused():
    with pytest.raises(ValueError, match="highway must be True or False"):
        LSTM(highway="yes")


def test_the_highway_learns_a_lag_and_survives_a_state_round_trip():
    """Trained on a target that is one feature 6 steps back, the highway's largest weight lands there; the
    restored model (model cache, checkpoints) predicts the same."""
    from seqalpha.model.samples import SampleSet

    rng = np.random.default_rng(0)
    feats = rng.standard_normal((80, 20, 2)).astype(np.float32)
    t, i = np.repeat(np.arange(10, 80), 20), np.tile(np.arange(20), 70)
    y = feats[t - 6, i, 0]
    samples = SampleSet(features=feats, window=8, t=t, i=i, labels=y, targets=y)
    model = GRU(hidden_size=4, epochs=6, batch_size=128, lr=3e-2)
    model.fit(samples, None)
    weights = model.network.highway.weight.detach().view(8, 2).abs()
    assert int(weights.argmax()) == (8 - 1 - 6) * 2  # step L-1-6, feature 0
    restored = GRU(hidden_size=4).restore(model.state())
    np.testing.assert_array_equal(restored.predict(samples), model.predict(samples))
