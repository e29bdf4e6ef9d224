"""`seqalpha run --workers` moves every fitted model through the model cache: refuse a model it cannot store safely."""

from __future__ import annotations

from ..strategy import Strategy, StrategyError


def check_models_travel(strategy: Strategy) -> None:
    """Refuse (StrategyError, one line) a model whose ``state()`` the cache cannot store without pickle, unless its
    ``model_params`` opt in with ``unsafe_pickle_cache=True``. A probe: the model built from the strategy's
    parameters and its state encoded (a state that becomes unstorable only once fitted is found by the workers,
    which then leave it out of the cache)."""
    from .. import safe_codec
    from ..backtest.run import strategy_plugins
    from ..model import as_model, takes_seed
    from ..model.cache import UNSAFE_PICKLE, split_cache_options
    from ..plugins import collect_registries, run_manager

    params, unsafe = split_cache_options(strategy.model_params)
    if unsafe:
        return
    factory = collect_registries(run_manager(*strategy_plugins(strategy))).models.get(strategy.model).factory
    if takes_seed(factory) and "seed" not in params:
        params["seed"] = strategy.seed
    try:
        state = as_model(factory(**params)).state()
    except Exception:  # a parameter the model refuses: run_backtest reports it with its own message
        return
    problem = safe_codec.storable(state, "state()")
    if problem:
        raise StrategyError(f"--workers moves fitted models through the model cache, which stores no pickles, and "
                            f"model {strategy.model!r} cannot be stored safely: {problem}; run without --workers, "
                            f"or set model_params {UNSAFE_PICKLE}=True (a pickle runs code when loaded)")
