"""Shared fixtures: tiny panels, fast model settings, and a plugin registered for one test only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seqalpha import panel_from_frame
from seqalpha.plugins import load_plugins, pm

FAST_LSTM = {"hidden_size": 8, "epochs": 2, "patience": 1, "batch_size": 256}


def noise_frame(n_dates: int = 300, n_assets: int = 30, seed: int = 0, ma_theta: float = 0.0) -> pd.DataFrame:
    """A long table whose returns are pure noise (optionally MA(1) with coefficient ma_theta)."""
    rng = np.random.default_rng(seed)
    e = rng.standard_normal((n_dates + 1, n_assets)) * 0.02
    r = e[1:] + ma_theta * e[:-1]
    r[0] = 0.0
    close = 50.0 * np.exp(np.cumsum(r, axis=0))
    dates = pd.bdate_range("2020-01-01", periods=n_dates)
    df = pd.DataFrame({
        "date": np.repeat(dates, n_assets),
        "asset": np.tile([f"A{i:02d}" for i in range(n_assets)], n_dates),
        "close": close.ravel(),
        "noise": rng.standard_normal(n_dates * n_assets),
    })
    return df


def wide(df: pd.DataFrame, col: str) -> pd.DataFrame:
    return df.pivot(index="date", columns="asset", values=col)


def with_factor(df: pd.DataFrame, name: str, values: pd.DataFrame) -> pd.DataFrame:
    """Add a (date x asset) factor to a long table (NaN where undefined)."""
    long = values.stack(future_stack=True).rename(name).reset_index()
    return df.merge(long, on=["date", "asset"], how="left")


@pytest.fixture
def noise_panel():
    return panel_from_frame(noise_frame(), source="noise")


@pytest.fixture
def register_plugin():
    """Register a plugin object for one test and remove it afterwards (the llm/datasette pattern)."""
    load_plugins()
    added = []

    def register(plugin, name=None):
        pm.register(plugin, name=name)
        added.append(plugin)
        return plugin

    yield register
    for plugin in added:
        pm.unregister(plugin)


@pytest.fixture(autouse=True)
def _model_cache_in_tmp(tmp_path_factory, monkeypatch):
    """Every test caches fitted models in its own temporary folder, never in ~/.cache (CI-safe, no cross-talk)."""
    monkeypatch.setenv("SEQALPHA_CACHE_DIR", str(tmp_path_factory.mktemp("model_cache")))
    monkeypatch.delenv("SEQALPHA_TRACKING_URI", raising=False)  # a developer's tracking store never sees the tests


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Tiny test nets run far faster on one thread, and the default run's two worker processes (pytest-xdist, one per
    core) must not spin against each other: torch's pool and the BLAS/OpenMP pools get one thread each."""
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def dask_scheduler():
    """The address of one local Dask cluster (2 worker processes, as `--workers 2` starts them) shared by the tests
    that fan out through `--scheduler`: each cluster costs two processes importing seqalpha and torch. The tests of
    `--workers N` itself (cluster start, environment restored, a killed worker) start their own."""
    from seqalpha.sweep.cluster import dask_client

    with dask_client(workers=2) as client:
        yield client.scheduler.address
