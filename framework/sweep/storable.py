"""`seqalpha run --workers` moves every fitted model through the model cache: refuse a model it cannot store safely."""

from __future__ import annotations

from ..strategy import StrategyError


def check_models_travel(run) -> None:
    """Refuse (StrategyError, one line) a model whose ``state()`` the cache cannot store without pickle, unless its
    ``model_params`` opt in with ``unsafe_pickle_cache=True``. A probe: the model built from the resolved run's
    parameters and its state encoded (a state that becomes unstorable only once fitted is found by the workers,
    which then leave it out of the cache)."""
    from .. import safe_codec
    from ..model import as_model
    from ..model.cache import UNSAFE_PICKLE

    if run.unsafe_pickle_cache:
        return
    try:
        state = as_model(run.model_entry.factory(**run.factory_params)).state()
    except Exception:  # a parameter the model refuses: run_backtest reports it with its own message
        return
    problem = safe_codec.storable(state, "state()")
    if problem:
        raise StrategyError(f"--workers moves fitted models through the model cache, which stores no pickles, and "
                            f"model {run.model!r} cannot be stored safely: {problem}; run without --workers, "
                            f"or set model_params {UNSAFE_PICKLE}=True (a pickle runs code when loaded)")
