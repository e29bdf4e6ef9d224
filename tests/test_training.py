"""The shared training loop: losses (mse, per-date IC, pluggable), early stopping, clipping, seed ensembles,
gradient flow."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from seqalpha import SampleSet, Strategy, StrategyError, run_backtest
from seqalpha.builtin_plugins.recurrent import LSTM
from seqalpha.builtin_plugins.synthetic import make_synthetic_panel
from seqalpha.metrics import seed_metrics
from seqalpha.model import SeedEnsemble
from seqalpha.model.gradient_flow import gradient_flow
from seqalpha.model.torch_sequence import TorchSequenceModel, date_batches, ic_loss, pearson_by_date
from tests.conftest import FAST_LSTM


def toy_samples(n_dates: int = 40, n_assets: int = 16, window: int = 6, lag: int = 2, seed: int = 0) -> SampleSet:
    """Samples whose target is feature 0 ``lag`` steps before the window's end, plus noise."""
    rng = np.random.default_rng(seed)
    T = n_dates + window
    features = rng.standard_normal((T, n_assets, 2)).astype(np.float32)
    t = np.repeat(np.arange(window - 1, T), n_assets).astype(np.int64)
    i = np.tile(np.arange(n_assets), T - window + 1).astype(np.int64)
    labels = features[t - lag, i, 0] + 0.5 * rng.standard_normal(len(t))
    return SampleSet(features, window, t, i, labels, labels.astype(np.float32))


def split(s: SampleSet, frac: float = 0.75) -> tuple[SampleSet, SampleSet]:
    cut = s.t.min() + int((s.t.max() - s.t.min()) * frac)
    return s.subset(np.flatnonzero(s.t <= cut)), s.subset(np.flatnonzero(s.t > cut + 1))


# ---- losses and batching --------------------------------------------------------------------------


def test_pearson_by_date_matches_numpy_and_skips_degenerate_dates():
    rng = np.random.default_rng(1)
    pred, target = rng.standard_normal(31), rng.standard_normal(31)
    dates = np.r_[np.repeat([3, 5, 9], 10), 11]  # date 11 has a single sample
    target[dates == 5] = 1.0  # constant labels: no correlation defined
    got = pearson_by_date(torch.tensor(pred), torch.tensor(target), torch.tensor(dates)).numpy()
    want = [np.corrcoef(pred[dates == d], target[dates == d])[0, 1] for d in (3, 9)]
    np.testing.assert_allclose(got, want, rtol=1e-5)
    loss = ic_loss(torch.tensor(pred), torch.tensor(target), torch.tensor(dates))
    assert float(loss) == pytest.approx(-np.mean(want), rel=1e-5)


def test_ic_loss_ignores_per_date_scale_and_level():
    """IC loss sees only the ranking within each date: adding a date effect or rescaling changes nothing."""
    rng = np.random.default_rng(2)
    pred, target = torch.tensor(rng.standard_normal(40)), torch.tensor(rng.standard_normal(40))
    dates = torch.tensor(np.repeat([0, 1, 2, 3], 10))
    shifted = pred * 3.0 + dates.double() * 10.0
    assert float(ic_loss(pred, target, dates)) == pytest.approx(float(ic_loss(shifted, target, dates)), abs=1e-9)


@pytest.mark.parametrize("shuffle", [False, True])
def test_date_batches_keep_each_cross_section_whole(shuffle):
    rng = np.random.default_rng(0)
    t = rng.integers(0, 30, 500)
    batches = list(date_batches(t, 64, rng if shuffle else None))
    seen = np.concatenate(batches)
    assert sorted(seen.tolist()) == list(range(len(t)))  # every sample exactly once
    for b in batches:
        for d in np.unique(t[b]):
            assert (t[b] == d).sum() == (t == d).sum()  # a date never straddles two batches
        assert len(b) <= 64 or len(np.unique(t[b])) == 1


def test_unknown_loss_and_early_stop_are_rejected_with_a_hint():
    with pytest.raises(ValueError, match="Did you mean 'ic'"):
        LSTM(loss="icc")
    with pytest.raises(ValueError, match="early_stop"):
        LSTM(early_stop="sharpe")


def test_pluggable_loss_receives_whole_dates():
    train, valid = split(toy_samples())
    per_date = np.bincount(train.t)
    calls = []

    def my_loss(pred, target, dates):
        d = dates.cpu().numpy()
        calls.append(all((d == x).sum() == per_date[x] for x in np.unique(d)))
        return torch.mean(torch.abs(pred - target))

    model = LSTM(**{**FAST_LSTM, "batch_size": 50}, loss=my_loss)
    info = model.fit(train, None)
    assert calls and all(calls)
    assert len(info["history"]) == FAST_LSTM["epochs"]


def test_ic_loss_learns_the_planted_lag_and_early_stops_on_ic():
    train, valid = split(toy_samples(n_dates=80, n_assets=24))
    model = LSTM(hidden_size=8, epochs=6, patience=6, batch_size=256, lr=1e-2, loss="ic", early_stop="ic")
    info = model.fit(train, valid)
    hist = pd.DataFrame(info["history"])
    assert hist["valid_ic"].notna().all()
    assert hist.loc[hist["chosen"], "epoch"].item() == hist.loc[hist["valid_ic"].idxmax(), "epoch"]
    assert hist["valid_ic"].max() > 0.3  # the planted lag-2 signal has IC ~0.9


def test_early_stop_on_loss_keeps_the_lowest_validation_loss():
    train, valid = split(toy_samples())
    info = LSTM(hidden_size=8, epochs=5, patience=5, batch_size=128, lr=5e-2).fit(train, valid)
    hist = pd.DataFrame(info["history"])
    assert hist.loc[hist["chosen"], "epoch"].item() == hist.loc[hist["valid_loss"].idxmin(), "epoch"]
    assert {"valid_ic", "clip_rate", "grad_norm"} <= set(hist.columns)


def test_best_epochs_weights_are_the_ones_kept():
    """Predictions after fit equal those of the chosen epoch's weights, not the last epoch's."""
    train, valid = split(toy_samples())
    states = []

    class Recording(LSTM):
        def _evaluate(self, samples):
            states.append({k: v.clone() for k, v in self.network.state_dict().items()})
            return super()._evaluate(samples)

    model = Recording(hidden_size=8, epochs=5, patience=5, batch_size=128, lr=5e-2)
    info = model.fit(train, valid)
    kept = model.network.state_dict()
    chosen = states[info["best_epoch"] - 1]  # epochs count from 1
    assert all(torch.equal(kept[k], chosen[k]) for k in kept)


@pytest.mark.parametrize("clip, expect", [(1e-8, 1.0), (None, 0.0), (1e6, 0.0)])
def test_clip_rate_is_recorded_per_epoch(clip, expect):
    train, _ = split(toy_samples())
    info = LSTM(**FAST_LSTM, clip_norm=clip).fit(train, None)
    assert [r["clip_rate"] for r in info["history"]] == [expect] * FAST_LSTM["epochs"]
    assert all(r["grad_norm"] > 0 for r in info["history"])


def test_epochs_count_from_one_in_history_log_and_best_epoch():
    train, valid = split(toy_samples())
    lines: list[str] = []
    info = LSTM(hidden_size=8, epochs=3, patience=3, batch_size=128).fit(train, valid, log=lines.append)
    assert [r["epoch"] for r in info["history"]] == [1, 2, 3]
    assert [line.split("epoch ")[1].split(":")[0] for line in lines] == ["1/3", "2/3", "3/3"]
    assert 1 <= info["best_epoch"] <= 3
    assert [r["epoch"] for r in info["history"] if r["chosen"]] == [info["best_epoch"]]


# ---- the network's shape: build_network(window, n_features, n_outputs) -----------------------------


class ShapeRecording(TorchSequenceModel):
    """A plugin written the current way: the network is built for the input's shape it is given."""

    calls: list[tuple[int, int, int]] = []

    def build_network(self, window: int, n_features: int, n_outputs: int) -> nn.Module:
        type(self).calls.append((window, n_features, n_outputs))
        return nn.Sequential(nn.Flatten(), nn.Linear(window * n_features, n_outputs))  # needs the window


def with_aux(s: SampleSet, k: int = 2) -> SampleSet:
    """``s`` with ``k`` auxiliary targets (copies of the main one: enough to train extra heads)."""
    aux = np.repeat(s.targets[:, None], k, axis=1)
    return SampleSet(s.features, s.window, s.t, s.i, s.labels, s.targets, aux_labels=aux, aux_targets=aux)


@pytest.mark.parametrize("aux_horizons, n_outputs", [(None, 1), ([2, 5], 3)])
def test_build_network_receives_window_features_and_outputs(aux_horizons, n_outputs):
    train, valid = split(with_aux(toy_samples(window=7)))
    ShapeRecording.calls = []
    model = ShapeRecording(epochs=1, batch_size=128, aux_horizons=aux_horizons)
    model.fit(train, valid)
    assert ShapeRecording.calls == [(7, 2, n_outputs)]
    assert model.predict(valid).shape == (len(valid),)
    restored = ShapeRecording(epochs=1, batch_size=128, aux_horizons=aux_horizons).restore(model.state())
    assert ShapeRecording.calls[-1] == (7, 2, n_outputs)  # the cache's restore builds the same shape
    np.testing.assert_array_equal(restored.predict(valid), model.predict(valid))


def test_built_in_networks_take_their_window_from_the_arguments():
    """No built-in learns its window by overriding fit: the shape it is built for is the one it is given."""
    from seqalpha.builtin_plugins.alstm import ALSTM
    from seqalpha.builtin_plugins.recurrent import GRU, LSTM, RNN
    from seqalpha.builtin_plugins.tcn import TCN
    from seqalpha.builtin_plugins.transformer import Transformer

    for cls in (RNN, LSTM, GRU, ALSTM, TCN, Transformer):
        assert "fit" not in vars(cls), cls
        net = cls(hidden_size=8).build_network(40, 3, 2)
        assert net(torch.zeros(5, 40, 3)).shape == (5, 2), cls
    assert TCN(hidden_size=8).build_network(40, 3, 1).receptive_field >= 40
    assert TCN(hidden_size=8).build_network(5, 3, 1).receptive_field < 40
    assert Transformer(hidden_size=8).build_network(40, 3, 1).positions.shape[0] == 40
    forget = LSTM(hidden_size=8).build_network(6, 3, 1).rnn.bias_ih_l0[8:16]
    assert forget.max() <= np.log(5) + 1e-6  # chrono over the 6-step window given, not a default of 2 or 20


class OldStyleWithOutputs(TorchSequenceModel):
    """A plugin written before the shape arguments: build_network(n_features, n_outputs=1)."""

    def build_network(self, n_features: int, n_outputs: int = 1) -> nn.Module:
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.lin = nn.Linear(n_features, n_outputs)

            def forward(self, x):
                return self.lin(x[:, -1])

        return Net()


def test_old_style_build_network_still_works():
    train, valid = split(with_aux(toy_samples()))
    old = LastStepOnly(epochs=1, batch_size=128)  # build_network(n_features)
    old.fit(train, valid)
    assert old.predict(valid).shape == (len(valid),)
    with_heads = OldStyleWithOutputs(epochs=1, batch_size=128, aux_horizons=[2, 5])
    with_heads.fit(train, valid)
    assert with_heads._forward(torch.zeros(4, train.window, 2)).shape == (4, 3)
    with pytest.raises(ValueError, match="takes no n_outputs"):  # the one-argument form cannot grow heads
        LastStepOnly(aux_horizons=[2])


# ---- gradient flow ------------------------------------------------------------------------------


class LastStepOnly(TorchSequenceModel):
    """A network that reads only the last step: gradient flow must be zero at every lag but 0."""

    def build_network(self, n_features: int) -> nn.Module:
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.lin = nn.Linear(n_features, 1)

            def forward(self, x):
                return self.lin(x[:, -1]).squeeze(-1)

        return Net()


def test_gradient_flow_lag_zero_is_the_last_step():
    train, valid = split(toy_samples())
    model = LastStepOnly(epochs=1)
    model.fit(train, None)
    flow = gradient_flow(model, valid, n=64)
    assert flow.shape == (train.window,)
    assert flow[0] > 0 and np.all(flow[1:] == 0)


def test_gradient_flow_of_an_lstm_reaches_back_and_needs_no_targets():
    train, valid = split(toy_samples())
    model = LSTM(**FAST_LSTM)
    model.fit(train, valid)
    with_loss = gradient_flow(model, valid, n=100)
    no_targets = gradient_flow(model, SampleSet(valid.features, valid.window, valid.t, valid.i), n=100)
    assert np.all(with_loss > 0) and np.all(no_targets > 0)
    assert np.all(np.isfinite(with_loss))


# ---- seed ensembles -----------------------------------------------------------------------------


def test_seed_ensemble_scores_are_the_mean_of_its_members():
    train, valid = split(toy_samples())
    ens = SeedEnsemble(LSTM, FAST_LSTM, seeds=[0, 1, 2])
    info = ens.fit(train, valid)
    members = ens.predict_members(valid)
    assert members.shape == (3, len(valid))
    assert not np.allclose(members[0], members[1])  # seeds really differ
    np.testing.assert_allclose(ens.predict(valid), members.mean(axis=0))
    assert sorted({r["seed"] for r in info["history"]}) == [0, 1, 2]
    solo = LSTM(**FAST_LSTM, seed=1)
    solo.fit(train, valid)
    np.testing.assert_allclose(members[1], solo.predict(valid), rtol=1e-6)  # member k = a single run with seed k


def test_seed_metrics_mean_and_spread():
    rng = np.random.default_rng(0)
    dates = np.repeat(pd.bdate_range("2020-01-01", periods=20), 10)
    label = rng.standard_normal(200)
    rows = [pd.DataFrame({"date": dates, "asset": np.tile(range(10), 20), "seed": s,
                          "score": label * w + rng.standard_normal(200), "label": label})
            for s, w in ((3, 0.0), (4, 2.0))]
    m = seed_metrics(pd.concat(rows))
    assert m["seeds"] == [3, 4] and len(m["ic_per_seed"]) == 2 and len(m["rank_ic_per_seed"]) == 2
    assert m["ic_per_seed"][1] > m["ic_per_seed"][0]
    assert m["ic_seed_mean"] == pytest.approx(np.mean(m["ic_per_seed"]))
    assert m["ic_seed_std"] == pytest.approx(np.std(m["ic_per_seed"], ddof=1))


class TinyLstm(Strategy):
    data = "synthetic?assets=12&days=200"
    model = "lstm"
    model_params = FAST_LSTM
    window = 8
    horizon = 1
    rebalance = "W"
    retrain = "2MS"
    min_train_bars = 80
    portfolio_params = {"k": 3}


def test_backtest_with_seeds_reports_per_seed_and_ensemble(tmp_path):
    res = run_backtest(TinyLstm, progress=False, seeds=[0, 1], out=tmp_path / "run")
    m = res.metrics
    assert m["seeds"] == [0, 1] and len(m["ic_per_seed"]) == 2 and len(m["rank_ic_per_seed"]) == 2
    assert np.isfinite(m["ic_seed_std"]) and m["n_model_fits"] == 2 * m["n_retrains"]
    mean = res.seed_scores.groupby(["date", "asset"])["score"].mean()
    ens = res.scores.set_index(["date", "asset"])["score"]
    np.testing.assert_allclose(ens.loc[mean.index].to_numpy(), mean.to_numpy(), rtol=1e-6)
    assert set(res.training["seed"]) == {0, 1}
    assert {"retrain_seconds", "cached", "valid_ic"} <= set(res.training.columns)
    flow = pd.read_parquet(tmp_path / "run" / "gradient_flow.parquet")
    assert list(flow.columns) == ["retrain_date", "lag", "grad_norm", "model"]
    assert len(flow) == m["n_retrains"] * TinyLstm.window and (flow["model"] == "lstm").all()
    assert len(pd.read_parquet(tmp_path / "run" / "seed_scores.parquet")) == 2 * len(res.scores)


def test_backtest_ic_loss_records_valid_ic_per_epoch(capsys):
    """Also: epochs count from 1 in the terminal's epoch lines, its "best epoch" and training.parquet alike."""
    res = run_backtest(TinyLstm, progress=None,
                       model_params={**FAST_LSTM, "loss": "ic", "early_stop": "ic"})
    assert res.training["valid_ic"].notna().all()
    assert res.training.groupby("retrain_date")["chosen"].sum().eq(1).all()
    err = capsys.readouterr().err
    n = FAST_LSTM["epochs"]
    assert err.count(f"epoch 1/{n}:") == err.count(f"epoch {n}/{n}:") == res.metrics["n_retrains"]
    assert f"epoch 0/{n}" not in err
    assert res.training["epoch"].min() == 1 and res.training["epoch"].max() <= n
    best = [int(line.rsplit("best epoch ", 1)[1]) for line in err.splitlines() if "best epoch " in line]
    kept = res.training[res.training["chosen"]].sort_values("retrain_date")["epoch"].tolist()
    assert best == kept and len(best) == res.metrics["n_retrains"]


def test_seeds_must_be_a_list_of_ints():
    for bad in ([], [0.5], "0,1"):
        with pytest.raises(StrategyError, match="seeds"):
            TinyLstm(seeds=bad)


def test_linear_has_no_gradient_flow_and_seeds_share_one_fit():
    panel = make_synthetic_panel(assets=12, days=200)
    res = run_backtest(TinyLstm, data=panel, progress=False, model="linear", model_params={}, seeds=[0, 1])
    assert res.gradient_flow.empty
    assert res.metrics["ic_seed_std"] == 0.0


def test_chrono_gate_init_sets_forget_biases_from_the_window():
    import numpy as np
    import torch

    from seqalpha.builtin_plugins.recurrent import LSTM, RNN, chrono_init

    net = torch.nn.LSTM(3, 8, batch_first=True)
    chrono_init(net, 50)
    f = net.bias_ih_l0[8:16].detach().numpy()
    assert (f >= 0).all() and (f <= np.log(49) + 1e-6).all() and f.std() > 0
    np.testing.assert_allclose(net.bias_ih_l0[:8].detach().numpy(), -f)
    model = LSTM(gate_init="chrono", hidden_size=8)
    assert model.build_network(30, 3, 1).rnn.bias_ih_l0[8:16].min() >= 0
    rnn = RNN(gate_init="chrono")
    with pytest.raises(ValueError, match="needs gates"):
        rnn.build_network(30, 3, 1)


def test_lstm_gru_and_alstm_start_with_chrono_gates_by_default_and_rnn_does_not():
    """Issue 14's decision: chrono is the gated models' default; PyTorch's initialisation stays one parameter away."""

    from seqalpha.builtin_plugins.alstm import ALSTM
    from seqalpha.builtin_plugins.recurrent import GRU, LSTM, RNN

    for cls in (LSTM, GRU, ALSTM):
        assert cls.defaults["gate_init"] == "chrono", cls
        model = cls(hidden_size=8)
        rnn = model.build_network(30, 3, 1).rnn
        gate = rnn.bias_ih_l0[8:16] + rnn.bias_hh_l0[8:16]  # LSTM forget gate, GRU update gate
        assert gate.min() >= 0 and gate.std() > 0, cls  # log U(1, 29): long, spread time scales
        torch_init = cls(hidden_size=8, gate_init="default")
        assert torch_init.build_network(30, 3, 1).rnn.bias_hh_l0[8:16].abs().max() > 0  # PyTorch's uniform init kept
    assert RNN.defaults["gate_init"] == "default"
    RNN(hidden_size=8).build_network(30, 3, 1)  # a plain RNN has no gates and still builds by default
