"""Blends (framework/model/blend.py, framework/backtest/blend.py): members fitted at the same retrains, each on its
own Dataset, cached one by one, their per-date ranks averaged with the blend's weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import FAST_LSTM

from seqalpha import Model, Strategy, hookimpl, run_backtest
from seqalpha.model.blend import rank_blend
from seqalpha.resolved import resolve_run
from seqalpha.strategy import StrategyError

LINEAR = {"model": "linear", "window": 1, "name": "ridge"}
LSTM = {"model": "lstm", "model_params": FAST_LSTM}


class Tiny(Strategy):
    data = "synthetic?assets=12&days=230&seed=3"
    window = 8
    horizon = 1
    rebalance = "W"
    retrain = "QS"
    test_start = "2018-06-01"  # the same first decision bar for every member's window (and for runs alone)
    portfolio_params = {"k": 3}
    model = "blend"
    model_params = {"members": [{**LINEAR, "weight": 1.0}, {**LSTM, "weight": 0.0}]}


def per_date_rank(frame: pd.DataFrame) -> pd.Series:
    """(r - 0.5) / n per date, ties averaged: the rank score a blend averages."""
    kept = frame.dropna(subset=["score"])
    r = kept.groupby("date")["score"].rank(method="average")
    return (r - 0.5) / kept.groupby("date")["score"].transform("size")


@pytest.fixture(scope="module")
def weight_one(tmp_path_factory):
    """The blend with weight 1 on the ridge member, that member run alone, the blend again, and the blend with its
    lstm member changed: all on one fresh model cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEQALPHA_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        blend = run_backtest(Tiny, progress=False, out=tmp_path_factory.mktemp("run") / "blend")
        alone = run_backtest(Tiny, progress=False, model="linear", window=1, model_params={})
        again = run_backtest(Tiny, progress=False)
        lstm_changed = run_backtest(Tiny, progress=False, model_params={"members": [
            {**LINEAR, "weight": 1.0}, {**LSTM, "model_params": {**FAST_LSTM, "hidden_size": 6}, "weight": 0.0}]})
    return blend, alone, again, lstm_changed


def test_weight_one_gives_exactly_that_members_rank_scores(weight_one):
    blend, alone, _, _ = weight_one
    scored = blend.scores.dropna(subset=["score"]).set_index(["date", "asset"])["score"]
    ranks = alone.scores.assign(rank=per_date_rank(alone.scores)).dropna(subset=["rank"])
    expected = ranks.set_index(["date", "asset"])["rank"]
    assert len(scored) > 100
    pd.testing.assert_series_equal(scored.sort_index(), expected.loc[scored.index].sort_index(), check_names=False,
                                   rtol=0, atol=0)
    assert set(expected.index) == set(scored.index)  # the weight-0 member does not shrink the scored assets
    assert blend.metrics["rank_ic"] == pytest.approx(alone.metrics["rank_ic"], abs=1e-12)


def test_every_members_score_is_recorded_with_its_ic(weight_one):
    blend, alone, _, _ = weight_one
    ms = blend.member_scores
    assert set(ms["member"]) == {"ridge", "lstm"}
    ridge = ms[ms["member"] == "ridge"].set_index(["date", "asset"])["score"]
    solo = alone.scores.set_index(["date", "asset"])["score"]
    pd.testing.assert_series_equal(ridge.sort_index(), solo.loc[ridge.index].sort_index(), check_names=False)
    assert blend.metrics["blend_members"] == ["ridge", "lstm"] and blend.metrics["blend_weights"] == [1.0, 0.0]
    assert blend.metrics["rank_ic_per_member"][0] == pytest.approx(alone.metrics["rank_ic"], abs=1e-12)
    assert np.isfinite(blend.metrics["rank_ic_per_member"][1])
    assert (blend.run_dir / "member_scores.parquet").is_file()
    page = (blend.run_dir / "report.html").read_text()
    assert "rank_ic_per_member" in page and "Blend members" in page  # the metrics table and the IC section's table
    assert "Blend member lstm" in page  # the training curves, member by member
    assert set(blend.training["member"]) == {"lstm"}  # the ridge reports no epochs


def test_members_are_cached_one_by_one(weight_one):
    blend, alone, again, lstm_changed = weight_one
    n_retrains = blend.metrics["n_retrains"]
    assert blend.metrics["n_model_fits"] == 2 * n_retrains and blend.metrics["n_cache_hits"] == 0
    assert alone.metrics["n_cache_hits"] == n_retrains  # the member's entries are those of the strategy run alone
    assert again.metrics["n_cache_hits"] == again.metrics["n_model_fits"] == 2 * n_retrains  # fits nothing
    assert lstm_changed.metrics["n_cache_hits"] == n_retrains  # only the changed member is refitted
    pd.testing.assert_frame_equal(again.scores, blend.scores)


def test_the_blend_averages_ranks_with_its_weights():
    scores = np.array([[1.0, 2.0, 3.0, np.nan, 5.0, 4.0], [3.0, 2.0, 1.0, 7.0, 1.0, 1.0]])
    dates = np.array([0, 0, 0, 0, 1, 1])
    blend, ranks = rank_blend(scores, dates, np.array([3.0, 1.0]))
    np.testing.assert_allclose(ranks[0], [1 / 6, 1 / 2, 5 / 6, np.nan, 3 / 4, 1 / 4])
    np.testing.assert_allclose(ranks[1], [5 / 6, 1 / 2, 1 / 6, np.nan, 1 / 2, 1 / 2])  # a tie: the mean rank
    np.testing.assert_allclose(blend, 0.75 * ranks[0] + 0.25 * ranks[1])  # NaN where a weighted member is missing
    only, _ = rank_blend(scores, dates, np.array([0.0, 2.0]))
    assert np.isfinite(only[3])  # a weight-0 member does not leave an asset unscored


# ---- the embargo: the longest member's ---------------------------------------------------------------
SEEN: list[tuple[str, int]] = []  # (model, the last sample date it was fitted on), in fitting order


class DateSpy(Model):
    """Remembers the last sample date it was fitted on; scores noise."""

    defaults = {"aux_horizons": []}

    def fit(self, train, valid, log=None):
        both = [s for s in (train, valid) if s is not None and len(s)]
        t = np.concatenate([s.t for s in both])
        SEEN.append((type(self).__name__, int(t.max())))
        if self.params["aux_horizons"]:  # memorise each asset's auxiliary label on the last date it saw
            i = np.concatenate([s.i for s in both])
            aux = np.concatenate([s.aux_labels[:, 0] for s in both])
            self.memory = np.zeros(int(i.max()) + 1)
            self.memory[i[t == t.max()]] = aux[t == t.max()]
        return {}

    def predict(self, samples):
        if self.params["aux_horizons"]:
            return self.memory[np.minimum(samples.i, len(self.memory) - 1)]
        return np.random.default_rng(int(samples.t.sum())).standard_normal(len(samples))


class AuxPeek(DateSpy):
    """Fits on a 5-bar auxiliary label and scores each asset with that label on its last training date."""

    defaults = {"aux_horizons": [5]}


class Spies:
    @hookimpl
    def register_models(self, register):
        register("date_spy", DateSpy)
        register("aux_peek", AuxPeek)


class Embargo(Strategy):
    window = 2
    horizon = 1
    rebalance = 1
    retrain = 1  # every bar: the score of t is the auxiliary label of the last date the fit at t saw
    min_train_bars = 40
    cache = False
    portfolio_params = {"k": 5}
    model = "blend"
    model_params = {"members": [{"model": "date_spy"}, {"model": "aux_peek"}]}


def test_the_embargo_is_the_longest_members():
    """On pure noise, aux_peek scores each asset with its 5-bar auxiliary label on the last date it trained on. With
    the main horizon's embargo (1 bar) that label reads prices past the retrain and overlaps the next label, so the
    member's rank IC is large; with the longest member's embargo (5 bars) it is noise. Both members train on the
    same cut: sample dates <= t - 5 - 1."""
    from conftest import noise_frame

    from seqalpha import panel_from_frame

    SEEN.clear()
    panel = panel_from_frame(noise_frame(110, 30, seed=8), source="noise")
    run = resolve_run(Embargo, data=panel, plugins=[Spies()])
    assert run.embargo == 5 and [m["embargo"] for m in run.blend] == [1, 5]
    res = run_backtest(Embargo, data=panel, plugins=[Spies()], progress=False)
    n = res.metrics["n_retrains"]
    assert n == len(set(res.scores["date"])) > 40 and len(SEEN) == 2 * n
    t0 = len(panel.dates) - 2 - (n - 1)  # one retrain per decision bar, the last decision bar is T - 2
    assert [last for _, last in SEEN] == [t0 + k // 2 - 5 - 1 for k in range(2 * n)]
    peek = res.metrics["rank_ic_per_member"][1]
    assert abs(peek) < 0.1, peek


# ---- resume, seeds, warm starts ------------------------------------------------------------------------
class Stop:
    def __init__(self, at: int) -> None:
        self.at, self.calls = at, 0

    @hookimpl
    def model_trained(self, strategy, date, model, n_train, n_valid, seconds):
        self.calls += 1
        if self.calls == self.at:
            raise KeyboardInterrupt


class Resumable(Tiny):
    retrain = "MS"
    test_start = "2018-08-01"  # four retrains
    seeds = [0, 1]
    cache = False
    model_params = {"members": [{**LINEAR, "weight": 0.4},
                                {**LSTM, "model_params": {**FAST_LSTM, "warm_start": True}, "weight": 0.6}]}


@pytest.mark.slow
def test_an_interrupted_blend_resumes_to_the_same_bits(tmp_path):
    whole = run_backtest(Resumable, progress=False, out=tmp_path / "whole")
    assert whole.metrics["n_retrains"] >= 3
    with pytest.raises(KeyboardInterrupt):
        run_backtest(Resumable, plugins=[Stop(3)], progress=False, out=tmp_path / "cut")
    resumed = run_backtest(Resumable, progress=False, out=tmp_path / "cut", resume=True)
    assert resumed.config["resumed_at"] is not None
    for name in ("scores", "member_scores", "seed_scores", "weights", "returns", "ic"):
        pd.testing.assert_frame_equal(getattr(whole, name), getattr(resumed, name), obj=name)
    assert sorted(set(whole.seed_scores["seed"])) == [0, 1]
    assert whole.metrics["rank_ic_per_member"] == resumed.metrics["rank_ic_per_member"]


# ---- clear refusals ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("members", "message"), [
    ([{"model": "lstn"}], "blend member 0 (lstn): unknown model 'lstn'. Did you mean 'lstm'"),
    ([{"model": "linear", "model_params": {"alpah": 1.0}}], "Did you mean 'alpha'?"),
    ([{"model": "linear", "windw": 3}], "unknown key 'windw'. Did you mean 'window'"),
    ([{"model": "linear", "retrain": "MS"}], "'retrain' is the blend's parameter"),
    ([{"model": "linear", "horizon": 5}], "horizon=5 differs from the blend's horizon=1"),
    ([{"model": "linear", "weight": -1}], "weight must be a number >= 0"),
    ([{"model": "linear", "weight": 0}], "every member has weight 0"),
    ([], "non-empty list of member dicts"),
    ([{"model": "blend"}], "a member cannot be a blend"),
    ([{"model": "linear", "window": 0}], "blend member 0 (linear): window must be"),
])
def test_a_bad_member_is_refused_in_one_line(members, message):
    with pytest.raises(StrategyError) as info:
        resolve_run(Tiny, {"model_params": {"members": members}})
    assert message in str(info.value) and "\n" not in str(info.value)


FANNED = """
from seqalpha import Strategy


class Fanned(Strategy):
    data = "synthetic?assets=12&days=230&seed=3"
    window = 8
    horizon = 1
    rebalance = "W"
    retrain = "QS"
    test_start = "2018-06-01"
    seeds = [0, 1]
    portfolio_params = {"k": 3}
    model = "blend"
    model_params = {"members": [{"model": "linear", "window": 1},
                                {"model": "lstm", "model_params": {"hidden_size": 4, "epochs": 1, "batch_size": 256}}]}
"""


@pytest.mark.slow
def test_the_fanouts_tasks_fit_every_members_models(tmp_path, monkeypatch):
    """`--workers` fits each member's models (every seed, every retrain) as tasks into the cache folder; here the
    tasks run in this process, as a worker runs them; the run then finds every model there and fits nothing."""
    from seqalpha import load_strategy_file
    from seqalpha.backtest import WalkForward
    from seqalpha.data import load_panel
    from seqalpha.sweep.fanout import FitTask, fit_task, n_fits
    from seqalpha.sweep.task import StrategyRef

    path = tmp_path / "fanned.py"
    path.write_text(FANNED)
    cls, _ = load_strategy_file(path)
    folder = str(tmp_path / "fits")
    run = resolve_run(cls, fits_from=folder)
    calendar = WalkForward.of(run.instance, load_panel(run.data, run.registries.data_sources).dates)
    assert n_fits(run) == 1 + 2  # the ridge takes no seed: fitted once; the lstm once per seed
    tasks = [FitTask(StrategyRef.of(cls), {}, None, t, m, run.threads, folder, run.identity_digest(with_data=False))
             for t in calendar.retrain_bars for m in range(n_fits(run))]
    done = [fit_task(task) for task in tasks]
    assert not any(d["cached"] for d in done) and len(done) == 3 * len(calendar.retrain_bars)
    monkeypatch.setenv("SEQALPHA_CACHE_DIR", folder)
    res = run_backtest(cls, progress=False)
    # counted per seed of each member (the shared ridge twice), as for a seed ensemble
    assert res.metrics["n_cache_hits"] == res.metrics["n_model_fits"] == 4 * len(calendar.retrain_bars)


@pytest.mark.slow
def test_a_blend_on_workers_equals_a_serial_run(tmp_path, capsys, dask_scheduler):
    from seqalpha.cli import main

    path = tmp_path / "fanned.py"
    path.write_text(FANNED)
    assert main(["run", str(path), "--out", str(tmp_path / "serial"), "-q", "--set", "cache=False"]) == 0
    assert main(["run", str(path), "--out", str(tmp_path / "fanned"), "-q", "--scheduler", dask_scheduler,
                 "--set", "cache=False"]) == 0, capsys.readouterr().err
    for table in ("scores", "member_scores", "seed_scores"):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "serial" / f"{table}.parquet"),
                                      pd.read_parquet(tmp_path / "fanned" / f"{table}.parquet"), obj=table)


def test_the_command_line_refuses_a_bad_member_in_one_line_with_exit_2(tmp_path, capsys):
    """Before any data loads."""
    from seqalpha.cli import main

    path = tmp_path / "blend.py"
    path.write_text("from seqalpha import Strategy\n\n\nclass B(Strategy):\n    model = 'blend'\n"
                    "    model_params = {'members': [{'model': 'linear', 'window': 1}]}\n")
    assert main(["run", str(path), "--set", "model_params={'members': [{'model': 'linear', 'rebalance': 'D'}]}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'rebalance' is the blend's parameter" in err[0]


def test_the_identity_holds_the_members_and_other_runs_keep_theirs():
    """A member's parameters are part of the blend's identity (checkpoints, sweep --resume); a run that is not a
    blend has no 'blend' key, so its identity digest is the one it had before blends existed."""
    plain = resolve_run(Tiny, {"model": "linear", "model_params": {}})
    assert "blend" not in plain.identity() and "blend" not in plain.as_json()
    a = resolve_run(Tiny)
    b = resolve_run(Tiny, {"model_params": {"members": [{**LINEAR, "weight": 1.0},
                                                        {**LSTM, "model_params": {**FAST_LSTM, "lr": 0.01}}]}})
    assert a.identity_digest(with_data=False) != b.identity_digest(with_data=False)
    assert a.blend[1]["model_params"]["hidden_size"] == FAST_LSTM["hidden_size"]  # effective: defaults merged


def test_models_lists_blend(capsys):
    from seqalpha.cli import main

    assert main(["models"]) == 0
    assert any(line.startswith("blend ") for line in capsys.readouterr().out.splitlines())


def test_the_audit_checks_each_members_own_features_for_truncation(register_plugin):
    """A member's own feature set is truncation-checked beside the blend's: a centred window that only the second
    member reads fails the audit's truncation check, naming the member and the feature."""
    from seqalpha.audit import checks
    from seqalpha.backtest.blend import members_with_own_dataset
    from seqalpha.data import load_panel
    from seqalpha.feature_sets import FeatureSet

    class Centred:
        @staticmethod
        @hookimpl
        def register_features(register):
            register("centred", lambda panel: FeatureSet(
                pd.DataFrame(panel.close).rolling(5, center=True, min_periods=1).mean().to_numpy()[:, :, None]
                .astype(np.float32), ["smooth_close"]))

    register_plugin(Centred())

    class LeakyMember(Tiny):
        model_params = {"members": [{**LINEAR, "weight": 0.5},
                                    {"model": "linear", "window": 2, "name": "leaky", "feature_set": "centred",
                                     "weight": 0.5}]}

    run = resolve_run(LeakyMember)
    panel = load_panel(run.instance.data, run.registries.data_sources)
    members = members_with_own_dataset(run)
    assert [label for label, _, _ in members] == ["blend member 0 (linear)", "blend member 1 (linear)"]
    cuts = checks.cut_bars(run.instance, panel)
    assert checks.truncation(run.instance, panel, run.registries.features, cuts).passed  # the blend's own Dataset
    found = checks.truncation(run.instance, panel, run.registries.features, cuts, members)
    assert not found.passed and found.detail.startswith("blend member 1 (linear): feature 'smooth_close' at"), found
    clean = checks.truncation(run.instance, panel, run.registries.features, cuts, members[:1])
    assert clean.passed and "blend member 0 (linear)'s" in clean.detail
