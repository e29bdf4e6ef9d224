"""The model zoo (alstm, tcn, transformer), auxiliary horizons with their embargo, and warm-started retrains."""

from __future__ import annotations

import numpy as np
import pytest

from seqalpha import Model, Strategy, hookimpl, panel_from_frame, run_backtest
from seqalpha.backtest import trainer as trainer_module
from seqalpha.builtin_plugins.synthetic import make_synthetic_panel
from seqalpha.builtin_plugins.tcn import TCNNet
from tests.conftest import noise_frame

PLANTED = make_synthetic_panel(assets=30, days=420, seed=1, lag=5, strength=0.5)


class Planted(Strategy):
    data = "synthetic"
    window = 10
    horizon = 1
    factors = ["signal"]
    rebalance = "W"
    retrain = None
    min_train_bars = 250
    portfolio_params = {"k": 5}
    cache = False


@pytest.mark.slow
@pytest.mark.parametrize(("model", "params"), [
    ("alstm", {"hidden_size": 16, "epochs": 6, "lr": 3e-3}),
    ("alstm", {"hidden_size": 16, "epochs": 6, "lr": 3e-3, "rnn_type": "gru", "gate_init": "chrono"}),
    ("tcn", {"hidden_size": 16, "epochs": 6, "lr": 3e-3}),
    ("transformer", {"hidden_size": 16, "epochs": 6, "lr": 3e-3}),
])
def test_each_model_finds_a_signal_five_bars_back(model, params):
    res = run_backtest(Planted, data=PLANTED, progress=False, model=model, model_params={**params, "patience": 6})
    assert res.metrics["rank_ic"] > 0.15, (model, res.metrics["rank_ic"])  # the oracle is about 0.45 here


def test_the_tcn_sees_the_whole_window():
    for window in (2, 10, 30, 60, 61):
        assert TCNNet(3, 4, 3, window, 0.0).receptive_field >= window


def test_the_models_are_listed(capsys):
    from seqalpha.cli import main

    main(["models"])
    out = capsys.readouterr().out
    for name in ("alstm", "tcn", "transformer", "lstm", "gru", "rnn", "linear"):
        assert any(line.startswith(name + " ") for line in out.splitlines()), name


def test_auxiliary_heads_train_and_score_with_the_main_head():
    res = run_backtest(Planted, data=PLANTED, progress=False, model="gru",
                       model_params={"hidden_size": 16, "epochs": 6, "lr": 3e-3, "patience": 6, "aux_horizons": [2, 5]})
    assert res.metrics["rank_ic"] > 0.15
    with pytest.raises(Exception, match="aux_horizons must be a list"):
        run_backtest(Planted, data=PLANTED, progress=False, model="gru", model_params={"aux_horizons": 5})


class AuxMemoriser(Model):
    """Remembers each asset's latest auxiliary label (5 bars ahead) and scores with it."""

    defaults = {"aux_horizons": [5]}

    def fit(self, train, valid):
        order = np.argsort(train.t, kind="stable")
        self.last = dict(zip(train.i[order], train.aux_labels[order, 0]))
        return {}

    def predict(self, samples):
        return np.array([self.last.get(i, 0.0) for i in samples.i], dtype=np.float64)


class Memorising(Strategy):
    model = "aux_memoriser"
    window = 5
    horizon = 1
    rebalance = "D"
    retrain = 1
    valid_fraction = 0.0
    min_train_bars = 40
    cache = False


class Plugin:
    @staticmethod
    @hookimpl
    def register_models(register):
        register("aux_memoriser", AuxMemoriser)


def _noise():
    return panel_from_frame(noise_frame(n_dates=160, n_assets=30, seed=7), source="noise")


def test_the_embargo_is_the_longest_horizon_trained_on(monkeypatch):
    """Labels 5 bars ahead are known 6 bars later: trained on with the main horizon's embargo (2 bars), they hold
    the next bar's return and the memoriser's IC jumps; with the longest horizon's it gets nothing."""
    safe = run_backtest(Memorising, data=_noise(), plugins=[Plugin], progress=False)
    assert abs(safe.metrics["ic"]) < 0.06, safe.metrics["ic"]
    real_init = trainer_module.Trainer.__init__

    def main_horizon_only(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        self.embargo = self.strategy.horizon  # the bug this test guards against

    monkeypatch.setattr(trainer_module.Trainer, "__init__", main_horizon_only)
    leaky = run_backtest(Memorising, data=_noise(), plugins=[Plugin], progress=False)
    assert leaky.metrics["ic"] > 0.2, leaky.metrics["ic"]


class Walk(Planted):
    retrain = "MS"
    min_train_bars = 200


@pytest.mark.slow
def test_warm_starts_train_fewer_epochs_from_the_previous_model(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQALPHA_CACHE_DIR", str(tmp_path / "cache"))
    params = {"hidden_size": 8, "epochs": 8, "patience": 8, "lr": 3e-3}
    cold = run_backtest(Walk, data=PLANTED, progress=False, model="gru", model_params=params)
    warm = run_backtest(Walk, data=PLANTED, progress=False, model="gru",
                        model_params={**params, "warm_start": True, "warm_epochs": 2}, cache=True)
    epochs = warm.training.groupby("retrain_date")["epoch"].count().tolist()
    assert epochs[0] == 8 and set(epochs[1:]) == {2}  # the first fit is cold, the later ones warm
    assert cold.training.groupby("retrain_date")["epoch"].count().tolist() == [8] * len(epochs)
    again = run_backtest(Walk, data=PLANTED, progress=False, model="gru",
                         model_params={**params, "warm_start": True, "warm_epochs": 2}, cache=True)
    assert again.metrics["n_cache_hits"] == again.metrics["n_model_fits"]  # chained keys find every model
    np.testing.assert_array_equal(again.scores["score"], warm.scores["score"])


@pytest.mark.slow
def test_models_with_auxiliary_heads_are_cached_and_warm_started(tmp_path, monkeypatch, dask_scheduler):
    """A model with aux heads comes back from the cache with every head (a rerun fits nothing, same scores), on
    the fan-out's path too, and can warm-start (restore once rebuilt a one-head network: every load missed)."""
    import json
    import warnings

    from seqalpha.cli import main

    monkeypatch.setenv("SEQALPHA_CACHE_DIR", str(tmp_path / "cache"))
    params = {"hidden_size": 8, "epochs": 2, "patience": 2, "aux_horizons": [2, 5]}
    first = run_backtest(Walk, data=PLANTED, progress=False, model="alstm", model_params=params, cache=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # an entry that cannot be restored warns, never silently
        again = run_backtest(Walk, data=PLANTED, progress=False, model="alstm", model_params=params, cache=True)
    assert first.metrics["n_model_fits"] > 1 and again.metrics["n_cache_hits"] == again.metrics["n_model_fits"]
    np.testing.assert_array_equal(again.scores["score"], first.scores["score"])
    warm = run_backtest(Walk, data=PLANTED, progress=False, model="gru",
                        model_params={**params, "warm_start": True, "warm_epochs": 1})
    epochs = warm.training.groupby("retrain_date")["epoch"].count().tolist()
    assert len(epochs) > 1 and epochs[1:] == [1] * (len(epochs) - 1)  # warm refits restored every head
    file = tmp_path / "aux_strategy.py"
    file.write_text("from seqalpha import Strategy\n\n\nclass Aux(Strategy):\n"
                    "    data = 'synthetic?assets=16&days=300&seed=1'\n    model = 'alstm'\n"
                    f"    model_params = {params!r}\n    window = 8\n    retrain = '2QS'\n    min_train_bars = 120\n"
                    "    portfolio_params = {'k': 3}\n    cache = False\n")
    assert main(["run", str(file), "--scheduler", dask_scheduler, "--quiet", "--out", str(tmp_path / "fanout")]) == 0
    fanout = json.loads((tmp_path / "fanout" / "metrics.json").read_text())
    assert fanout["n_cache_hits"] == fanout["n_model_fits"] > 1  # the loop read every worker's fit back


def test_the_mixed_synthetic_form_reports_its_oracle():
    """synthetic?form=mixed: the oracle (built from the panel's own factors, as a user could) reaches the rank IC
    the source reports, and every part of it is needed."""
    import pandas as pd

    from seqalpha.builtin_plugins.synthetic import make_synthetic_panel, mixed_alpha
    from seqalpha.features import excess_labels

    panel = make_synthetic_panel(form="mixed", seed=3, assets=40, days=400)
    f = {k: panel.field(k).astype(np.float64) for k in ("signal", "level", "fa", "fb")}
    alpha = mixed_alpha(f["signal"], f["level"], f["fa"], f["fb"])
    labels = excess_labels(panel.close, 1, panel.listed())

    def rank_ic(score):
        ics = [pd.Series(score[t]).corr(pd.Series(labels[t]), method="spearman") for t in range(40, 390)]
        return float(np.nanmean(ics))

    oracle = rank_ic(alpha)
    assert oracle == pytest.approx(panel.meta["oracle_rank_ic"], abs=0.02) and oracle > 0.2
    assert rank_ic(f["fa"] * f["fb"]) < 0.8 * oracle  # one part alone is not enough
