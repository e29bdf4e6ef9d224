"""Hook specifications: the one list of extension points seqalpha offers plugins."""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("seqalpha")
hookimpl = pluggy.HookimplMarker("seqalpha")


@hookspec
def register_models(register):
    """Call ``register(name, factory)`` for each model.

    ``factory(**params)`` must return an object with ``fit(train, valid)`` and
    ``predict(samples)`` (see :class:`seqalpha.model.Model`). ``factory`` may be given as its
    import path, ``"package.module:Name"``: imported on first use, so a plugin whose models need
    torch keeps ``seqalpha models`` fast (any ``register`` below takes a path the same way).
    """


@hookspec
def register_portfolios(register):
    """Call ``register(name, factory)`` for each portfolio rule.

    ``factory(**params)`` returns a callable
    ``rule(scores: pd.Series, current: pd.Series) -> pd.Series`` of target weights.
    """


@hookspec
def register_data_sources(register):
    """Call ``register(scheme, loader)`` for each data source.

    ``loader(location: str, options: dict[str, str]) -> Panel`` reads the part of a
    data URI after ``scheme:`` (``options`` holds the ``?key=value`` query).
    """


@hookspec
def backtest_started(strategy, panel):
    """Observer: a backtest is about to step through its calendar."""


@hookspec
def model_trained(strategy, date, model, n_train, n_valid, seconds):
    """Observer: a model was (re)fitted at ``date`` on ``n_train`` samples."""


@hookspec
def rebalanced(strategy, date, scores, weights):
    """Observer: target ``weights`` were decided at ``date`` from ``scores``."""


@hookspec
def backtest_finished(strategy, result):
    """Observer: the backtest finished; ``result`` is the BacktestResult."""


@hookspec
def register_features(register):
    """Call ``register(name, function)`` for each feature set.

    ``function(panel) -> FeatureSet`` must be point-in-time: row t may use only rows
    dated <= t. See :class:`seqalpha.feature_sets.FeatureSet`.
    """
