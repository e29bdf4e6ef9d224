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

* ``ohlc=1`` adds ``open``, ``high`` and ``low`` (off by default, so existing panels keep their fields): the
  open is the close moved back by an intraday return ~ N(0, sigma / 2), the high and low lie above the larger
  and below the smaller of open and close by |N(0, sigma / 2)|; drawn from their own random stream (seed
  ``[seed, 1]``), so every other field is the same with or without them, and missing wherever the close is.

Options (``synthetic?assets=60&days=700&seed=0&lag=20&strength=0.3&ohlc=1``) size and seed it. Fields are built
one at a time into the panel's array, so a large panel (3,000 assets x 5,000 days) needs little more memory than
the panel itself.
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
                         delist_frac: float = 0.1, start: str = "2018-01-01", form: str = "lag", ohlc: int = 0) -> Panel:
    """Generate the documented synthetic panel (see module docstring); same arguments, same panel."""
    if form == "mixed":
        return make_mixed_panel(assets, days, seed, strength, sigma, late_frac, delist_frac, start)
    if form != "lag":
        raise DataError(f"synthetic: form must be 'lag' or 'mixed', got {form!r}")
    if assets < 2 or days < lag + 10:
        raise DataError(f"synthetic: need assets >= 2 and days >= lag + 10 (got assets={assets}, days={days}, lag={lag})")
    if ohlc not in (0, 1):
        raise DataError(f"synthetic: ohlc must be 0 or 1, got {ohlc!r}")
    rng = np.random.default_rng(seed)
    T, N = days, assets
    fields = ["close", "volume", "signal", "trend", "mkt_beta"] + [f"noise_{k + 1}" for k in range(noise_factors)]
    fields += ["open", "high", "low"] if ohlc else []
    values = np.empty((T, N, len(fields)))  # each field rounded to float32 (as model inputs are), kept in float64

    def put(name: str, col: np.ndarray) -> None:
        values[:, :, fields.index(name)] = np.asarray(col, dtype=np.float32)

    z = rng.standard_normal((T, N))
    market = 0.0003 + 0.01 * rng.standard_normal(T)
    beta = rng.uniform(0.6, 1.4, N)
    eps = rng.standard_normal((T, N))
    # r[t] = beta * m[t] + strength * sigma * z[t - lag] + sigma * e[t], summed in this order, in place
    ret = beta * market[:, None]
    ret[lag:] += strength * sigma * z[: T - lag]
    eps *= sigma
    ret += eps
    del eps
    ret[0] = 0.0
    close = np.log1p(ret, out=ret)
    np.cumsum(close, axis=0, out=close)
    np.exp(close, out=close)
    close *= 10.0
    close *= rng.uniform(0.5, 5, N)
    put("close", close)
    put("volume", rng.lognormal(12, 0.5, (T, N)))
    put("signal", z)
    put("trend", pd.DataFrame(z).rolling(20, min_periods=1).mean().to_numpy())
    del z
    put("mkt_beta", np.broadcast_to(beta, (T, N)))
    for k in range(noise_factors):
        put(f"noise_{k + 1}", rng.standard_normal((T, N)))
    if ohlc:
        add_ohlc(values, close, fields, np.random.default_rng([seed, 1]), sigma)
    del close
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


def add_ohlc(values: np.ndarray, close: np.ndarray, fields: list[str], rng: np.random.Generator,
             sigma: float) -> None:
    """Fill the open, high and low fields of ``values`` from ``close`` (see the module's docstring)."""
    scale = sigma / 2
    step = rng.standard_normal(close.shape)
    step *= scale
    np.exp(step, out=step)
    opened = close / step  # the close moved back by the intraday return
    values[:, :, fields.index("open")] = opened.astype(np.float32)
    step = np.abs(rng.standard_normal(close.shape), out=step)
    step *= scale
    np.exp(step, out=step)
    values[:, :, fields.index("high")] = (np.maximum(opened, close) * step).astype(np.float32)
    step = np.abs(rng.standard_normal(close.shape), out=step)
    step *= -scale
    np.exp(step, out=step)
    values[:, :, fields.index("low")] = (np.minimum(opened, close) * step).astype(np.float32)


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


def load_synthetic(location: str, options: dict[str, str]) -> Panel:
    unknown = set(options) - set(DEFAULTS)
    if unknown:
        raise DataError(f"synthetic: unknown option(s) {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    kwargs = {k: type(DEFAULTS[k])(v) for k, v in options.items()}
    return make_synthetic_panel(**kwargs)


@hookimpl
def register_data_sources(register):
    register("synthetic", load_synthetic)
