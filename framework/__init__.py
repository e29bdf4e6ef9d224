"""seqalpha: sequence models that forecast excess returns, backtested without look-ahead (docs/design.md)."""

from .backtest import run_backtest
from .data import DataError, Panel, panel_from_frame
from .hookspecs import hookimpl
from .model import Model, SampleSet
from .runs import BacktestResult
from .strategy import Strategy, StrategyError, load_strategy_file

__all__ = ["BacktestResult", "DataError", "Model", "Panel", "SampleSet", "Strategy", "StrategyError",
           "TorchSequenceModel", "hookimpl", "load_strategy_file", "panel_from_frame", "run_backtest"]
__version__ = "0.1.0"


def __getattr__(name: str):
    """Import torch only when a torch model is asked for (listing runs or building reports stays fast)."""
    if name == "TorchSequenceModel":
        from .model.torch_sequence import TorchSequenceModel

        return TorchSequenceModel
    raise AttributeError(f"module 'framework' has no attribute {name!r}")
