"""seqalpha: sequence models that forecast excess returns, backtested without look-ahead (docs/design.md).

This folder installs as the package ``seqalpha`` (pyproject.toml). The public names are imported on
first use (PEP 562), so ``import seqalpha`` and the command line start without pandas, vectorbt or
torch (docs/benchmarks.md, "Starting the command line"). Imported as ``framework``, its old name, it
warns and hands out the ``seqalpha`` modules themselves (_old_name.py).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if __name__ == "framework":  # the old import name (an old strategy file, or this folder found on sys.path)
    try:
        from seqalpha._old_name import install
    except ModuleNotFoundError as exc:
        if exc.name != "seqalpha":
            raise
        raise ImportError("'framework' is seqalpha's old import name, and seqalpha is not installed: "
                          "run `pip install -e .` in the seqalpha folder, then use `import seqalpha`") from None
    install()  # sys.modules["framework"] is now the seqalpha package: what `import framework` returns

#: public name -> the module that defines it
_PUBLIC = {
    "BacktestResult": "seqalpha.runs",
    "DataError": "seqalpha.data",
    "Model": "seqalpha.model",
    "Panel": "seqalpha.data",
    "SampleSet": "seqalpha.model",
    "Strategy": "seqalpha.strategy",
    "StrategyError": "seqalpha.strategy",
    "TorchSequenceModel": "seqalpha.model.torch_sequence",
    "hookimpl": "seqalpha.hookspecs",
    "load_strategy_file": "seqalpha.strategy",
    "panel_from_frame": "seqalpha.data",
    "run_backtest": "seqalpha.backtest",
    "run_predict": "seqalpha.predict",
}

__all__ = ["BacktestResult", "DataError", "Model", "Panel", "SampleSet", "Strategy", "StrategyError",
           "TorchSequenceModel", "hookimpl", "load_strategy_file", "panel_from_frame", "run_backtest", "run_predict"]  # = _PUBLIC
__version__ = "0.1.0"

if TYPE_CHECKING:  # for type checkers and editors; at run time these come from __getattr__
    from .backtest import run_backtest
    from .data import DataError, Panel, panel_from_frame
    from .hookspecs import hookimpl
    from .model import Model, SampleSet
    from .model.torch_sequence import TorchSequenceModel
    from .predict import run_predict
    from .runs import BacktestResult
    from .strategy import Strategy, StrategyError, load_strategy_file


def __getattr__(name: str) -> Any:
    """Import a public name's module when the name is first asked for (and a subpackage such as
    ``seqalpha.backtest`` when it is reached as an attribute)."""
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value
        return value
    if not name.startswith("__"):
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
    raise AttributeError(f"module 'seqalpha' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})
