"""A fast start: the command line's light commands never import torch, vectorbt, numba or mlflow (untimed checks of
what each command imports; the timings are benchmarks/bench_startup.py's, docs/benchmarks.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "vectorbt", "numba", "mlflow")  # mlflow only when tracking is on (seqalpha/tracking)

PROBE = """
import json, sys
from seqalpha.cli import main
seen = {"import seqalpha.cli": sorted(sys.modules)}
for argv in json.loads(sys.argv[1]):
    try:
        main(argv)
    except SystemExit:  # --help
        pass
    seen[" ".join(argv)] = sorted(sys.modules)
print("MODULES=" + json.dumps(seen))
"""


def modules_after(*commands: list[str], cwd: Path) -> dict[str, set[str]]:
    """{command: the modules one fresh interpreter holds after it}, the commands run in turn (so each set includes
    what the commands before it imported); "import seqalpha.cli" is the state before the first."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    out = subprocess.run([sys.executable, "-c", PROBE, json.dumps(commands)], env=env, cwd=cwd, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    line = next(x for x in out.stdout.splitlines() if x.startswith("MODULES="))
    return {k: set(v) for k, v in json.loads(line.removeprefix("MODULES=")).items()}


def test_import_framework_cli_and_help_are_light(tmp_path):
    """`import seqalpha.cli` (what the `seqalpha` script does first) and `--help` import neither torch,
    vectorbt, numba nor pandas (`--help` has a 0.5 s budget)."""
    seen = modules_after(["--help"], cwd=tmp_path)
    for command in ("import seqalpha.cli", "--help"):
        assert not {*HEAVY, "pandas"} & seen[command], (command, sorted({*HEAVY, "pandas"} & seen[command]))


def test_listing_commands_import_no_torch_or_vectorbt(tmp_path):
    """`models` lists the torch models (their docstrings read from source) without importing torch; neither
    `plugins`, `runs` nor `data check URI` (the scan; plotly only for its --out page) imports torch, vectorbt or
    numba."""
    check = ["data", "check", "synthetic?assets=10&days=100&seed=0"]
    seen = modules_after(["models"], ["plugins"], ["runs", str(tmp_path / "no-runs")], check, cwd=tmp_path)
    assert "seqalpha.data.quality" in seen[" ".join(check)] and "plotly" not in seen[" ".join(check)]
    assert "seqalpha.builtin_plugins.recurrent" in seen["models"]  # the built-in model plugins were loaded
    for command in ("models", "plugins", f"runs {tmp_path / 'no-runs'}", " ".join(check)):
        assert not set(HEAVY) & seen[command], (command, sorted(set(HEAVY) & seen[command]))


def test_public_names_still_import_and_are_the_real_objects():
    import seqalpha
    from seqalpha.backtest import run_backtest
    from seqalpha.model.torch_sequence import TorchSequenceModel

    assert seqalpha.run_backtest is run_backtest and seqalpha.TorchSequenceModel is TorchSequenceModel
    assert set(seqalpha.__all__) == set(seqalpha._PUBLIC) and set(seqalpha.__all__) <= set(dir(seqalpha))
    assert seqalpha.backtest.run_backtest is run_backtest  # a subpackage reached as an attribute
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        seqalpha.nope  # noqa: B018
