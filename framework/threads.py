"""How many threads a run's compute uses: fixed, recorded, never taken from the machine's load.

Two torch processes that each use every core spin against each other: on a 2-core machine
two small runs started together took over 25 times longer each than one alone. So a run uses
``DEFAULT_THREADS`` (1) unless told otherwise (``--threads``, ``run_backtest(threads=...)``, a
sweep's ``--threads-per-worker``), for torch's intra-op pool and the BLAS/OpenMP pools alike.
The count is written to config.json; the same count gives the same numbers.

torch is not imported to pin it (a cached run never imports torch): ``pin_threads`` sets
torch's pool at once when torch is loaded already, and ``apply_torch`` sets it where a model
is built, fitted or restored (TorchSequenceModel, ``fit_model``, a lazily restored model).
"""

from __future__ import annotations

import sys

DEFAULT_THREADS = 1
_pinned = DEFAULT_THREADS  # the count pin_threads last set in this process (what a non-torch model reads)


def check_threads(n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"threads must be a positive int, got {n!r}")
    return n


def pin_threads(n: int) -> int:
    """Use ``n`` threads in this process from now on: torch's intra-op pool and the BLAS and OpenMP pools (through
    threadpoolctl). The process environment is never written (Dask workers get theirs from
    framework/sweep/cluster.py ``worker_env``). Returns ``n``."""
    global _pinned
    check_threads(n)
    _pinned = n
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(n)
    except ImportError:  # threadpoolctl comes with scikit-learn/vectorbt; without it torch's setting still holds
        pass
    apply_torch()
    return n


def apply_torch() -> None:
    """Set torch's intra-op pool to the pinned count, when torch is loaded (never imports it): called where a model
    is built, fitted or restored, so torch imported after ``pin_threads`` runs on the run's count too."""
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "get_num_threads") and torch.get_num_threads() != _pinned:
        torch.set_num_threads(_pinned)


def pinned_threads() -> int:
    """The thread count this process's runs use (the last ``pin_threads``; 1 before any): what a model with a
    thread pool of its own (LightGBM's ``num_threads``) takes, so its numbers follow the run's recorded count."""
    return _pinned
