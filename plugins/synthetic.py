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

Options (``synthetic?assets=60&days=700&seed=0&lag=20&strength=0.3``) size and seed it; ``ohlc=1`` adds
``open``, ``high`` and ``low`` made from the close (for K-bar factors such as Alpha158's).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from seqalpha.data import DataError, Panel
from seqalpha.hookspecs import hookimpl

DEFAULTS = {"assets": 60, "days": 700, "seed": 0, "lag": 20, "strength": 0.3, "noise_factors": 3,
            "sigma": 0.02, "late_frac": 0.15, "delist_frac": 0.1, "start": "2018-01-01", "form": "lag", "ohlc": 0}


def make_synthetic_panel(assets: int = 60, days: int = 700, seed: int = 0, lag: int = 20, strength: float = 0.3,
                         noise_factors: int = 3, sigma: float = 0.02, late_frac: float = 0.15,
                         delist_frac: float = 0.1, start: str = "2018-01-01", form: str = "lag") -> Panel:
    """Generate the documented synthetic panel (see module docstring); same arguments, same panel."""
    if form == "mixed":
        return make_mixed_panel(assets, days, seed, strength, sigma, late_frac, delist_frac, start)
    if form != "lag":
        raise DataError(f"synthetic: form must be 'lag' or 'mixed', got {form!r}")
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


MIXED_LAG, MIXED_MA = 15, 20


def mixed_alpha(signal: np.ndarray, level: np.ndarray, fa: np.ndarray, fb: np.ndarray) -> np.ndarray:
    """The mixed form's expected excess return known at t (the oracle's score), from the panel's own factors:
    ``signal`` 15 bars back, minus the deviation of ``level`` from its 20-bar mean, and ``fa`` x ``fb``; each
    part scaled to unit variance, their sum over sqrt(3). NaN where a part is not known yet."""
    T = signal.shape[0]
    back = np.full(signal.shape, np.nan)
    back[MIXED_LAG:] = signal[: T - MIXED_LAG]
    deviation = level - pd.DataFrame(level).rolling(MIXED_MA).mean().to_numpy()
    deviation /= np.nanstd(deviation)
    interaction = fa * fb
    return (back - deviation + interaction) / np.sqrt(3.0)


def make_mixed_panel(assets: int, days: int, seed: int, strength: float, sigma: float, late_frac: float,
                     delist_frac: float, start: str) -> Panel:
    """Three signal forms at once (``synthetic?form=mixed``), for judging a model's defaults:

    * ``signal``'s value 15 bars back (memory),
    * minus ``level``'s deviation from its 20-bar moving average (a random walk that reverts: a shape in time),
    * ``fa`` times ``fb`` (an interaction of two factors).

    Their normalised sum at t moves the return from t+1 to t+2, the first bar a decision at t earns: the
    oracle's score. ``meta["oracle_rank_ic"]`` is its mean rank IC against the h=1 label.
    """
    rng = np.random.default_rng(seed)
    T, N = days, assets
    signal = rng.standard_normal((T, N))
    level = np.cumsum(rng.standard_normal((T, N)), axis=0)
    fa, fb = rng.standard_normal((T, N)), rng.standard_normal((T, N))
    alpha = np.nan_to_num(mixed_alpha(signal, level, fa, fb))
    market = 0.0003 + 0.01 * rng.standard_normal(T)
    beta = rng.uniform(0.6, 1.4, N)
    ret = np.zeros((T, N))
    ret[1:] = beta * market[1:, None] + sigma * rng.standard_normal((T - 1, N))
    ret[2:] += strength * sigma * alpha[:-2]  # known at t, earned from t+1 to t+2
    close = 10.0 * np.exp(np.cumsum(np.log1p(ret), axis=0)) * rng.uniform(0.5, 5, N)
    values = np.stack([close, rng.lognormal(12, 0.5, (T, N)), signal, level, fa, fb], axis=-1).astype(np.float32)
    order = rng.permutation(N)
    n_late, n_delist = int(N * late_frac), int(N * delist_frac)
    for i in order[:n_late]:
        values[: rng.integers(T // 10, T // 2), i, :] = np.nan
    for i in order[n_late:n_late + n_delist]:
        values[rng.integers(T // 2, T - T // 10):, i, :] = np.nan
    label = ret[2:] - np.nanmean(ret[2:], axis=1, keepdims=True)  # the h=1 label of bars 0..T-3
    listed = np.isfinite(values[:-2, :, 0])
    ics = [pd.Series(alpha[t][listed[t]]).corr(pd.Series(label[t][listed[t]]), method="spearman")
           for t in range(MIXED_MA + MIXED_LAG, T - 2) if listed[t].sum() > 2]
    return Panel(dates=pd.bdate_range(start, periods=T), assets=[f"S{i:04d}" for i in range(N)],
                 fields=("close", "volume", "signal", "level", "fa", "fb"), values=values, name="synthetic-mixed",
                 meta={"form": "mixed", "strength": strength, "seed": seed,
                       "oracle_rank_ic": float(np.nanmean(ics))})


def with_ohlc(panel: Panel, seed: int, sigma: float = 0.02) -> Panel:
    """The panel with ``open``, ``high`` and ``low`` made from its close (a separate seeded stream, so every other
    field is unchanged): open near the previous close, high and low beyond both (K-bar factors need them)."""
    rng = np.random.default_rng([seed, 7])
    close = panel.close
    prev = np.vstack([close[:1], close[:-1]])
    prev = np.where(np.isfinite(prev), prev, close)
    z = np.abs(rng.standard_normal((3, *close.shape)))
    open_ = prev * np.exp(0.5 * sigma * (rng.standard_normal(close.shape)))
    high = np.maximum(open_, close) * (1 + 0.5 * sigma * z[0])
    low = np.minimum(open_, close) * (1 - 0.5 * sigma * z[1])
    values = np.concatenate([panel.values, np.stack([open_, high, low], axis=-1)], axis=2)
    return Panel(dates=panel.dates, assets=panel.assets, fields=(*panel.fields, "open", "high", "low"), values=values,
                 name=panel.name, universe=panel.universe, benchmark=panel.benchmark, meta=panel.meta)


def load_synthetic(location: str, options: dict[str, str]) -> Panel:
    unknown = set(options) - set(DEFAULTS)
    if unknown:
        raise DataError(f"synthetic: unknown option(s) {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    kwargs = {k: type(DEFAULTS[k])(v) for k, v in options.items()}
    ohlc = kwargs.pop("ohlc", 0)
    panel = make_synthetic_panel(**kwargs)
    return with_ohlc(panel, kwargs.get("seed", DEFAULTS["seed"]), kwargs.get("sigma", DEFAULTS["sigma"])) if ohlc \
        else panel


@hookimpl
def register_data_sources(register):
    register("synthetic", load_synthetic)
