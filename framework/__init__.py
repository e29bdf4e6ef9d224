"""seqalpha: sequence models that forecast excess returns, backtested without look-ahead (docs/design.md).

The public names are imported on first use (PEP 562), so ``import framework`` and the command
line start without pandas, vectorbt or torch (docs/benchmarks.md, "Starting the command line").
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: public name -> the module that defines it
_PUBLIC = {
    "BacktestResult": "framework.runs",
    "DataError": "framework.data",
    "Model": "framework.model",
    "Panel": "framework.data",
    "SampleSet": "framework.model",
    "Strategy": "framework.strategy",
    "StrategyError": "framework.strategy",
    "TorchSequenceModel": "framework.model.torch_sequence",
    "hookimpl": "framework.hookspecs",
    "load_strategy_file": "framework.strategy",
    "panel_from_frame": "framework.data",
    "run_backtest": "framework.backtest",
}

__all__ = ["BacktestResult", "DataError", "Model", "Panel", "SampleSet", "Strategy", "StrategyError",
           "TorchSequenceModel", "hookimpl", "load_strategy_file", "panel_from_frame", "run_backtest"]  # = _PUBLIC
__version__ = "0.1.0"

if TYPE_CHECKING:  # for type checkers and editors; at run time these come from __getattr__
    from .backtest import run_backtest
    from .data import DataError, Panel, panel_from_frame
    from .hookspecs import hookimpl
    from .model import Model, SampleSet
    from .model.torch_sequence import TorchSequenceModel
    from .runs import BacktestResult
    from .strategy import Strategy, StrategyError, load_strategy_file


def __getattr__(name: str) -> Any:
    """Import a public name's module when the name is first asked for (and a subpackage such as
    ``framework.backtest`` when it is reached as an attribute)."""
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
    raise AttributeError(f"module 'framework' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})
