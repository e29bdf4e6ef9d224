"""Errors a user can act on: one line naming the parameter, file, line or asset, exit 2, no traceback; a bug
in seqalpha (or a plugin) keeps its traceback, and --debug shows it for everything."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from seqalpha import Model, hookimpl, run_backtest
from seqalpha.cli import main
from seqalpha.errors import ModelOutputError
from tests.test_reliability import Tiny

ROOT = Path(__file__).resolve().parents[1]
TINY = '''
from tests.test_reliability import Tiny


class TinyCli(Tiny):
    pass
'''


@pytest.fixture
def tiny_file(tmp_path, monkeypatch) -> Path:
    monkeypatch.syspath_prepend(str(ROOT))
    path = tmp_path / "tiny.py"
    path.write_text(TINY)
    return path


def one_line(capsys, code: int, *fragments: str) -> str:
    err = "\n".join(line for line in capsys.readouterr().err.splitlines() if not line.startswith("["))  # progress
    assert code == 2, err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, err
    return err


@pytest.mark.parametrize(("args", "fragments"), [
    (["--set", "portfolio_params={'kk': 3}"], ["portfolio_params: 'topk' takes no 'kk'. Did you mean 'k'"]),
    (["--set", "fees=cheap"], ["fees must be a number", "'cheap'"]),
    (["--set", "model=lstm", "--set", "model_params={'lr': 'fast'}"], ["model_params for 'lstm'", "lr must be"]),
    (["--set", "rebalance=fortnight"], ["rebalance must be a schedule", "'fortnight'"]),
    (["--set", "retrain=0"], ["retrain must be a schedule"]),
    (["--set", "model_params=hidden"], ["model_params must be a dict"]),
    (["--set", "factors=signal"], ["factors must be None or a list"]),
    (["--set", "min_train_bars=-5"], ["min_train_bars must be an int >= 0"]),
    (["--set", "windw=10"], ["unknown strategy parameter 'windw'", "Did you mean 'window'"]),
])
def test_parameter_mistakes_are_one_line(tiny_file, tmp_path, capsys, args, fragments):
    one_line(capsys, main(["run", str(tiny_file), "--out", str(tmp_path / "r"), *args]), *fragments)


def test_missing_folders_and_files_are_one_line(tiny_file, tmp_path, capsys):
    one_line(capsys, main(["report", str(tmp_path / "nope")]), "no run directory at")
    one_line(capsys, main(["compare", str(tmp_path / "nope"), str(tmp_path / "nope2")]), "no run directory at")
    one_line(capsys, main(["run", str(tmp_path)]), "is a folder; give the strategy's .py file")


def test_a_question_mark_in_a_path_is_explained(tiny_file, tmp_path, capsys):
    folder = tmp_path / "what?now"
    folder.mkdir()
    path = folder / "t.parquet"
    from tests.conftest import noise_frame

    noise_frame(n_dates=200, n_assets=12).to_parquet(path)
    one_line(capsys, main(["run", str(tiny_file), "--data", f"parquet:{path}", "--out", str(tmp_path / "r")]),
             "'?' starts the URI's options", "%3F")
    assert main(["run", str(tiny_file), "--data", f"parquet:{str(path).replace('?', '%3F')}", "-q",
                 "--out", str(tmp_path / "r2")]) == 0


def test_a_damaged_checkpoint_segment_is_named(tiny_file, tmp_path, capsys):
    from seqalpha.backtest.checkpoint import Checkpoint

    out = tmp_path / "r"
    ckpt = Checkpoint(out / "checkpoint", "fp")
    ckpt.save(10, {"rows": [1]})
    segment = out / "checkpoint" / "segment-00000.state"
    segment.write_bytes(segment.read_bytes()[:-3])  # cut short
    one_line(capsys, main(["run", str(tiny_file), "--out", str(out), "--resume"]),
             "checkpoint segment", "segment-00000.state is damaged")


class WrongShape(Model):
    def fit(self, train, valid):
        return {}

    def predict(self, samples):
        return np.zeros(len(samples) + 1)


class Broken(Model):
    def fit(self, train, valid):
        return 1 / 0

    def predict(self, samples):
        return np.zeros(len(samples))


class Models:
    @staticmethod
    @hookimpl
    def register_models(register):
        register("wrong_shape", WrongShape)
        register("broken", Broken)


def test_a_wrong_prediction_shape_says_shape(tmp_path):

    with pytest.raises(ModelOutputError, match="scores of the wrong shape"):
        run_backtest(Tiny, progress=False, plugins=[Models], model="wrong_shape")


def test_a_bug_keeps_its_traceback_and_debug_shows_everything(tiny_file, tmp_path, capsys, register_plugin):
    register_plugin(Models, name="test-models")
    with pytest.raises(ZeroDivisionError):  # not a user's mistake: not turned into a one-line error
        main(["run", str(tiny_file), "--set", "model=broken", "--out", str(tmp_path / "r")])
    from seqalpha import StrategyError

    with pytest.raises(StrategyError):
        main(["--debug", "run", str(tiny_file), "--set", "fees=cheap", "--out", str(tmp_path / "r2")])
