"""The ``synthetic`` data source: a deterministic panel with a planted signal that needs memory.

Model (per asset i, day t):

* ``signal`` factor z[t, i] ~ N(0, 1), i.i.d., observed at the close of t.
* daily return r[t+1, i] = beta_i * m[t+1] + strength * sigma * z[t+1-lag, i] + sigma * e[t+1, i]
  where m is a market return, e idiosyncratic noise. So the value of ``signal``
  ``lag`` bars ago (default 20) moves tomorrow's return: a model that only looks at
  the last bar sees nothing; one that remembers 20 bars finds it.
* ``trend`` factor: the 20-bar mean of ``signal`` (a smoothed, partly informative view).
* ``noise_1..noise_k``: pure noise factors; ``mkt_beta``: each asset's beta (constant).
* Some assets list late and some delist early (NaN outside their life).

Options (``synthetic?assets=60&days=700&seed=0&lag=20&strength=0.3``) size and seed it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from framework.data import DataError, Panel
from framework.hookspecs import hookimpl

DEFAULTS = {"assets": 60, "days": 700, "seed": 0, "lag": 20, "strength": 0.3, "noise_factors": 3,
            "sigma": 0.02, "late_frac": 0.15, "delist_frac": 0.1, "start": "2018-01-01"}


def make_synthetic_panel(assets: int = 60, days: int = 700, seed: int = 0, lag: int = 20, strength: float = 0.3,
                         noise_factors: int = 3, sigma: float = 0.02, late_frac: float = 0.15,
                         delist_frac: float = 0.1, start: str = "2018-01-01") -> Panel:
    """Generate the documented synthetic panel (see module docstring); same arguments, same panel."""
    if assets < 2 or days < lag + 10:
        raise DataError(f"synthetic: need assets >= 2 and days >= lag + 10 (got assets={assets}, days={days}, lag={lag})")
    rng = np.random.default_rng(seed)
    T, N = days, assets
    z = rng.standard_normal((T, N))
    market = 0.0003 + 0.01 * rng.standard_normal(T)
    beta = rng.uniform(0.6, 1.4, N)
    eps = rng.standard_normal((T, N))
    ret = np.zeros((T, N))
    lagged = np.zeros((T, N))
    lagged[lag:] = z[: T - lag]  # z[t - lag] at row t
    ret[1:] = beta * market[1:, None] + strength * sigma * lagged[1:] + sigma * eps[1:]
    close = 10.0 * np.exp(np.cumsum(np.log1p(ret), axis=0)) * rng.uniform(0.5, 5, N)
    volume = rng.lognormal(12, 0.5, (T, N))
    trend = pd.DataFrame(z).rolling(20, min_periods=1).mean().to_numpy()
    fields = ["close", "volume", "signal", "trend", "mkt_beta"] + [f"noise_{k + 1}" for k in range(noise_factors)]
    cols = [close, volume, z, trend, np.broadcast_to(beta, (T, N))]
    cols += [rng.standard_normal((T, N)) for _ in range(noise_factors)]
    values = np.stack(cols, axis=-1).astype(np.float32)
    # Late listings and early delistings.
    n_late, n_delist = int(N * late_frac), int(N * delist_frac)
    order = rng.permutation(N)
    for i in order[:n_late]:
        values[: rng.integers(T // 10, T // 2), i, :] = np.nan
    for i in order[n_late:n_late + n_delist]:
        values[rng.integers(T // 2, T - T // 10):, i, :] = np.nan
    dates = pd.bdate_range(start, periods=T)
    assets_ids = [f"S{i:04d}" for i in range(N)]
    return Panel(dates=dates, assets=assets_ids, fields=tuple(fields), values=values, name="synthetic",
                 meta={"planted_lag": lag, "strength": strength, "seed": seed})


def load_synthetic(location: str, options: dict[str, str]) -> Panel:
    unknown = set(options) - set(DEFAULTS)
    if unknown:
        raise DataError(f"synthetic: unknown option(s) {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    kwargs = {k: type(DEFAULTS[k])(v) for k, v in options.items()}
    return make_synthetic_panel(**kwargs)


@hookimpl
def register_data_sources(register):
    register("synthetic", load_synthetic)
