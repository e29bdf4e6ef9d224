"""The published CSI 300 strategies pin every model parameter, so changing a model's defaults cannot move their rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from seqalpha import load_strategy_file
from seqalpha.resolved import resolve_run

STRATEGIES = Path(__file__).resolve().parents[1] / "strategies"

# The effective model parameters (seed aside) the published rows were made with (README, benchmarks/results).
CSI300_RECURRENT = {
    "hidden_size": 64, "num_layers": 2, "dropout": 0.0, "lr": 1e-3, "weight_decay": 0.0, "batch_size": 1024,
    "epochs": 4, "patience": 2, "clip_norm": 3.0, "loss": "mse", "early_stop": "ic", "batching": "auto",
    "device": "auto", "max_train_samples": 100_000, "aux_horizons": None, "aux_weight": 0.5, "warm_start": False,
    "warm_epochs": None, "gate_init": "chrono",
}
FROZEN = {  # issue 23 added "highway" (True became the lstm/gru default): False is the network of before
    "csi300_lstm": ("lstm", {**CSI300_RECURRENT, "highway": False}),
    "csi300_gru": ("gru", {**CSI300_RECURRENT, "highway": False}),
    "csi300_alstm": ("alstm", {**CSI300_RECURRENT, "rnn_type": "gru"}),
    "csi300_alstm_aux": ("alstm", {**CSI300_RECURRENT, "rnn_type": "gru", "aux_horizons": [2, 5]}),
    "csi300_v2": ("alstm", {**CSI300_RECURRENT, "rnn_type": "gru", "aux_horizons": [2, 5]}),
}


@pytest.fixture(scope="module", params=sorted(FROZEN))
def resolved(request):
    cls, _ = load_strategy_file(STRATEGIES / f"{request.param}.py")
    return request.param, cls, resolve_run(cls)


def test_effective_model_params_are_the_frozen_ones(resolved):
    name, _, run = resolved
    model, frozen = FROZEN[name]
    assert run.model == model
    assert {k: v for k, v in run.model_params.items() if k != "seed"} == frozen


def test_every_model_default_is_written_in_the_strategy(resolved):
    """No parameter but the seed (which sweeps and ``seeds`` set) comes from the model's defaults."""
    name, cls, run = resolved
    from_defaults = sorted(set(run.model_params) - set(cls.model_params) - {"seed"})
    assert from_defaults == [], f"{name} leaves {from_defaults} to the {run.model!r} defaults"


def test_the_chosen_v2_strategy_is_the_candidate_the_selection_ran():
    """csi300_v2 (issue 23's winner) resolves to exactly csi300_alstm_alpha158_context's run: same inputs, window,
    context, model and parameters, so its test rows are the rows of the candidate chosen on 2015-2016."""
    v2 = resolve_run(load_strategy_file(STRATEGIES / "csi300_v2.py")[0])
    candidate = resolve_run(load_strategy_file(STRATEGIES / "csi300_alstm_alpha158_context.py")[0])
    assert (v2.params, v2.model, v2.model_params, v2.features, v2.embargo, v2.data_digest) == (
        candidate.params, candidate.model, candidate.model_params, candidate.features, candidate.embargo,
        candidate.data_digest)
    assert v2.params["window"] == 20 and v2.params["market_context"] == {"lookbacks": [5, 20, 60]}
