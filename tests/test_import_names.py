"""Import names that cannot clash: seqalpha imports as ``seqalpha`` (built-ins as ``seqalpha.builtin_plugins``), a
user's own ``plugins/`` folder cannot shadow it, and ``framework``, the old name, still works with a FutureWarning."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

import seqalpha

ROOT = Path(__file__).resolve().parents[1]

OLD_NAME_PROBE = textwrap.dedent('''
    import json, sys, warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from framework import Strategy, hookimpl
        import framework.strategy
        import framework.model.samples
        from framework.backtest.walkforward import WalkForward as OldWalkForward
    import seqalpha, seqalpha.strategy, seqalpha.model.samples, seqalpha.backtest.walkforward
    distinct = {id(m): m for m in list(sys.modules.values())}.values()
    files = [m.__file__ for m in distinct if str(getattr(m, "__file__", None)).startswith(sys.argv[1])]
    print("RESULT=" + json.dumps({
        "warnings": [f"{w.category.__name__}: {w.message}" for w in caught],
        "package": sys.modules["framework"] is seqalpha,
        "strategy": Strategy is seqalpha.Strategy is seqalpha.strategy.Strategy,
        "module": framework.strategy is seqalpha.strategy,
        "deep": framework.model.samples is seqalpha.model.samples and hookimpl is seqalpha.hookspecs.hookimpl,
        "class": OldWalkForward is seqalpha.backtest.walkforward.WalkForward,
        "names": [framework.strategy.__name__, framework.strategy.__spec__.name],
        "n_files": len(files),
        "duplicated": sorted({f for f in files if files.count(f) > 1}),
    }))
''')


def _result(out: subprocess.CompletedProcess) -> dict:
    assert out.returncode == 0, out.stderr
    return json.loads(next(x for x in out.stdout.splitlines() if x.startswith("RESULT=")).removeprefix("RESULT="))


def _env() -> dict[str, str]:
    """The environment without PYTHONPATH: the installed seqalpha, as a user has it."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"OMP_NUM_THREADS": "1"}


def test_old_name_warns_and_is_the_same_package(monkeypatch):
    """`from framework import Strategy` warns (FutureWarning, shown by default) and gives seqalpha's own class."""
    for name in [n for n in sys.modules if n == "framework" or n.startswith("framework.")]:
        monkeypatch.delitem(sys.modules, name)  # a fresh first import, whatever ran before in this process
    with pytest.warns(FutureWarning, match=r"'framework' is seqalpha's old import name.*from seqalpha import"):
        framework = importlib.import_module("framework")
    assert framework is seqalpha
    from framework import Strategy
    from framework.strategy import Strategy as Deep

    assert Strategy is seqalpha.Strategy and Deep is seqalpha.Strategy
    assert importlib.import_module("framework.strategy") is importlib.import_module("seqalpha.strategy")


@pytest.mark.slow
@pytest.mark.parametrize("where", ["elsewhere", "repository root"])
def test_old_name_gives_the_very_same_modules_once(tmp_path, where):
    """In a fresh interpreter, from any folder and from the repository root (where ``framework/`` itself is on
    sys.path), every ``framework.X`` is the module ``seqalpha.X``: same classes, no module loaded twice."""
    cwd = ROOT if where == "repository root" else tmp_path
    res = _result(subprocess.run([sys.executable, "-c", OLD_NAME_PROBE, str(ROOT)], cwd=cwd, env=_env(), capture_output=True,
                                 text=True, timeout=300))
    assert len(res["warnings"]) == 1 and res["warnings"][0].startswith("FutureWarning: 'framework' is seqalpha's old")
    assert res["package"] and res["strategy"] and res["module"] and res["deep"] and res["class"]
    assert res["names"] == ["seqalpha.strategy", "seqalpha.strategy"]
    assert res["duplicated"] == [] and res["n_files"] > 10


USER_SCRIPT = textwrap.dedent('''
    import json, sys
    import plugins  # the user's own package, imported first
    from seqalpha import Strategy, run_backtest


    class Tiny(Strategy):
        data = "synthetic?assets=8&days=160&seed=0"
        model = "linear"
        window = 5
        min_train_bars = 60
        retrain = None


    result = run_backtest(Tiny, progress=False)
    ours = {n: getattr(m, "__file__", None) for n, m in sys.modules.items()
            if n == "plugins" or n.startswith("plugins.")}
    print("RESULT=" + json.dumps({"n_days": len(result.returns), "user_plugins": ours,
                                  "builtin": sys.modules["seqalpha.builtin_plugins.linear"].__file__,
                                  "framework": [n for n in sys.modules if n.split(".")[0] == "framework"]}))
''')


@pytest.mark.slow
def test_a_users_plugins_folder_does_not_shadow_the_builtins(tmp_path):
    """The issue's crash: a script beside its own ``plugins/`` package runs a backtest; the built-ins come from
    ``seqalpha.builtin_plugins``, and the only top-level ``plugins`` module is the user's."""
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "__init__.py").write_text('"""The user\'s own models."""\nMINE = True\n')
    (tmp_path / "plugins" / "mine.py").write_text("X = 1\n")
    (tmp_path / "run_it.py").write_text(USER_SCRIPT)
    res = _result(subprocess.run([sys.executable, "run_it.py"], cwd=tmp_path, env=_env(), capture_output=True,
                                 text=True, timeout=300))
    assert res["n_days"] > 0
    assert res["user_plugins"] == {"plugins": str(tmp_path / "plugins" / "__init__.py")}
    assert Path(res["builtin"]) == ROOT / "plugins" / "linear.py"
    assert res["framework"] == []  # the new name never goes through the old one


OLD_STRATEGY = textwrap.dedent('''
    from framework import Strategy
    from framework.feature_sets import FeatureSet  # a deep old-style import


    class OldStyle(Strategy):
        data = "synthetic?assets=8&days=160&seed=0"
        model = "linear"
        window = 5
        min_train_bars = 60
        retrain = None


    assert FeatureSet.__module__ == "seqalpha.features.sets"
''')


@pytest.mark.slow
def test_an_old_style_strategy_file_runs_from_the_command_line_with_a_warning(tmp_path):
    (tmp_path / "old_style.py").write_text(OLD_STRATEGY)
    out = subprocess.run([sys.executable, "-m", "seqalpha.cli", "run", "old_style.py", "--out", "run", "-q"],
                         cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "FutureWarning: 'framework' is seqalpha's old import name" in out.stderr
    assert "from seqalpha import" in out.stderr
    assert (tmp_path / "run" / "metrics.json").is_file()


def test_every_package_folder_is_installed_under_the_new_name():
    """pyproject.toml lists each package explicitly (package-dir maps the folders): a new subfolder must be added."""
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert tool["package-dir"] == {"seqalpha": "framework", "seqalpha.builtin_plugins": "plugins",
                                   "framework": "framework"}
    found = {"seqalpha" + ".".join(("", *p.parent.relative_to(ROOT / "framework").parts))
             for p in (ROOT / "framework").rglob("__init__.py")}
    found |= {"seqalpha.builtin_plugins" + ".".join(("", *p.parent.relative_to(ROOT / "plugins").parts))
              for p in (ROOT / "plugins").rglob("__init__.py")}
    assert set(tool["packages"]) == found | {"framework"}
    assert Path(seqalpha.__file__).resolve() == ROOT / "framework" / "__init__.py"  # this checkout is installed


def test_no_seqalpha_module_is_imported_as_top_level_plugins_or_framework():
    """Inside seqalpha nothing names the old top-level packages (the strings a plugin list or a lazy path holds
    included); old names appear only in framework/__init__.py and framework/_old_name.py, which handle them."""
    import re

    bad = re.compile(r"""(^|\s)(from|import)\s+(plugins|framework)\b|["'](plugins|framework)\.""")
    offenders = []
    for folder in ("framework", "plugins", "strategies", "examples", "benchmarks", "tests"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name in ("_old_name.py", "test_import_names.py") or path == ROOT / "framework" / "__init__.py":
                continue
            offenders += [f"{path.relative_to(ROOT)}:{i}" for i, line in enumerate(path.read_text().splitlines(), 1)
                          if bad.search(line)]
    assert offenders == []


def test_readme_docs_and_examples_use_the_new_name():
    """Every code block of the README and docs imports ``seqalpha`` (prose may still name the old form), no command
    runs ``python -m framework``, and the README's plugin example builds its network from the input's shape."""
    import re

    bad = re.compile(r"""\b(from|import)\s+(plugins|framework)\b|["'](plugins|framework)\.[a-z_]|-m framework\b""")
    offenders = []
    for path in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        fenced = False
        for i, line in enumerate(path.read_text().splitlines(), 1):
            fenced = fenced != line.lstrip().startswith("```")
            if (fenced or line.startswith("    ") or "-m framework" in line) and bad.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{i}")
    assert offenders == []
    readme = (ROOT / "README.md").read_text()
    assert "from seqalpha import Strategy" in readme and "from seqalpha import TorchSequenceModel" in readme
    assert "def build_network(self, window, n_features, n_outputs)" in readme
