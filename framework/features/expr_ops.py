"""The factor operators: Qlib's names, arguments and semantics, vectorised over (T, N) panels.

Element-wise operators are NumPy on the operands' own dtypes, as Qlib's are (``$close`` is float32 as
Qlib stores it, so ``$close/$open`` is float32 and ``Mean($close, 5)`` float64, exactly as in Qlib);
rolling operators are the numba kernels of ``expr_kernels`` on float64. The cross-sectional ``CSRank``,
``CSZScore`` and ``CSDemean`` (Qlib has them only as processors) work per date over the point-in-time
universe. docs/factors.md has the table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: Argument kinds: "x" an expression (or a number), "n" a window (int >= 0; 0: since the series' start),
#: "ref" an offset back (int >= 0), "q" a quantile in [0, 1], "span" EMA's span (int >= 0, or 0 < float < 1).
SIGNATURES: dict[str, tuple[str, ...]] = {
    # element-wise
    "Abs": ("x",), "Sign": ("x",), "Log": ("x",), "Not": ("x",), "Neg": ("x",),
    "Add": ("x", "x"), "Sub": ("x", "x"), "Mul": ("x", "x"), "Div": ("x", "x"), "Power": ("x", "x"),
    "Greater": ("x", "x"), "Less": ("x", "x"),
    "Gt": ("x", "x"), "Ge": ("x", "x"), "Lt": ("x", "x"), "Le": ("x", "x"), "Eq": ("x", "x"), "Ne": ("x", "x"),
    "And": ("x", "x"), "Or": ("x", "x"), "If": ("x", "x", "x"),
    # rolling over each asset's own history
    "Ref": ("x", "ref"), "Delta": ("x", "n"),
    "Mean": ("x", "n"), "Sum": ("x", "n"), "Std": ("x", "n"), "Var": ("x", "n"), "Skew": ("x", "n"),
    "Kurt": ("x", "n"), "Max": ("x", "n"), "Min": ("x", "n"), "IdxMax": ("x", "n"), "IdxMin": ("x", "n"),
    "Quantile": ("x", "n", "q"), "Med": ("x", "n"), "Mad": ("x", "n"), "Rank": ("x", "n"), "Count": ("x", "n"),
    "Slope": ("x", "n"), "Rsquare": ("x", "n"), "Resi": ("x", "n"), "WMA": ("x", "n"), "EMA": ("x", "span"),
    "Corr": ("x", "x", "n"), "Cov": ("x", "x", "n"),
    # across assets, per date, over the universe
    "CSRank": ("x",), "CSZScore": ("x",), "CSDemean": ("x",),
}

CROSS_SECTIONAL = frozenset({"CSRank", "CSZScore", "CSDemean"})
#: Qlib's minimum windows (its constructors refuse smaller ones).
MIN_WINDOW = {"Skew": 3, "Kurt": 4}
#: Qlib's threshold below which a rolling std counts as zero for Corr and Rsquare (their result is then NaN).
STD_ZERO = 2e-05


@dataclass(frozen=True)
class Context:
    """What operators need besides their operands: each column's series start, and the universe for CS ops."""

    start: np.ndarray  # (N,) int64: first row of each asset's series
    universe: np.ndarray | None  # (T, N) bool, or None when the program has no cross-sectional operator
    rows: int


def _f64(x, ctx: Context, finite: bool = True) -> np.ndarray:
    """An operand as a C-contiguous float64 (T, N) array (bools as 0/1, a number broadcast); ``finite``: with
    +-inf as NaN, as pandas' rolling and ewm operators read their input (Qlib's Cython ones keep inf)."""
    a = np.asarray(x)
    if a.ndim == 0:
        a = np.full((ctx.rows, len(ctx.start)), float(a))
    a = np.ascontiguousarray(a, dtype=np.float64)
    if finite:
        inf = np.isinf(a)
        if inf.any():  # a new array: operands may be cached subexpressions, never written to
            a = np.where(inf, np.nan, a)
    return a


def _float(x):
    """Keep float32/float64 operands as they are; bools and ints become float64 (they can hold NaN)."""
    a = np.asarray(x)
    return a if a.dtype.kind == "f" else a.astype(np.float64)


def _bool(x):
    a = np.asarray(x)
    return a if a.dtype == bool else a.astype(bool)


def _before_start(ctx: Context, lag: int) -> np.ndarray:
    """(T, N) bool: row t - lag lies before the asset's series start."""
    return (np.arange(ctx.rows)[:, None] - lag) < ctx.start[None, :]


def ref(x, n: int, ctx: Context) -> np.ndarray:
    """Qlib's Ref: the value n rows back (n = 0: the series' first value); NaN before the series."""
    a = _float(x)
    if a.ndim == 0:
        return a
    if n == 0:
        first = a[np.minimum(ctx.start, ctx.rows - 1), np.arange(a.shape[1])]
        return np.broadcast_to(first, a.shape).copy()
    out = np.full(a.shape, np.nan, dtype=a.dtype)
    out[n:] = a[:-n]
    out[_before_start(ctx, n)] = np.nan
    return out


def delta(x, n: int, ctx: Context) -> np.ndarray:
    """Qlib's Delta: x minus its value n rows back (n = 0: minus the series' first value)."""
    return np.subtract(_float(x), ref(x, n, ctx))


def _kernel(name: str):
    from . import expr_kernels  # numba is imported on first use only

    return getattr(expr_kernels, name)


def rolling(op: str, x, n: int, ctx: Context, q: float | None = None) -> np.ndarray:
    """The rolling operator ``op`` over windows of n rows (0: since the series' start)."""
    a, s = _f64(x, ctx, finite=op not in ("Slope", "Rsquare", "Resi")), ctx.start
    if op in ("Mean", "Sum"):
        return _kernel("roll_sum")(a, s, n, op == "Mean")
    if op in ("Std", "Var"):
        return _kernel("roll_var")(a, s, n, 1, op == "Std")
    if op in ("Skew", "Kurt"):
        return _kernel("roll_moment")(a, s, n, 3 if op == "Skew" else 4)
    if op in ("Max", "Min"):
        return _kernel("roll_extreme")(a, s, n, op == "Max")
    if op in ("IdxMax", "IdxMin"):
        return _kernel("roll_argextreme")(a, s, n, op == "IdxMax")
    if op in ("Quantile", "Med"):
        return _kernel("roll_quantile")(a, s, n, 0.5 if q is None else float(q), op == "Med")
    if op == "Rank":
        return _kernel("roll_rank")(a, s, n)
    if op == "Count":
        return _kernel("roll_count")(a, s, n)
    if op == "Mad":
        return _kernel("roll_mad")(a, s, n)
    if op == "WMA":
        return _kernel("roll_wma")(a, s, n)
    if op in ("Slope", "Rsquare", "Resi"):
        out = _kernel("roll_regression")(a, s, n, ("Slope", "Rsquare", "Resi").index(op))
        if op == "Rsquare":  # Qlib: NaN where the window's (pandas) std is (close to) zero
            out[np.abs(_kernel("roll_var")(_f64(a, ctx), s, n, 1, True)) <= STD_ZERO] = np.nan
        return out
    raise KeyError(op)


def ema(x, span, ctx: Context) -> np.ndarray:
    """Qlib's EMA: pandas ``ewm(span=N)`` (N >= 1), ``ewm(alpha=N)`` (0 < N < 1), or its expanding form (0)."""
    a = _f64(x, ctx)
    if span == 0:
        return _kernel("expanding_ema")(a, ctx.start)
    alpha = float(span) if isinstance(span, float) and 0 < span < 1 else 2.0 / (float(span) + 1.0)
    return _kernel("ewm_mean")(a, ctx.start, alpha)


def pair(op: str, x, y, n: int, ctx: Context) -> np.ndarray:
    """Qlib's Corr / Cov: pandas' rolling corr / cov over the rows where both are known; Corr is NaN where
    either operand's own rolling std is (close to) zero, as in Qlib."""
    a, b = _f64(x, ctx, finite=False), _f64(y, ctx, finite=False)
    s = ctx.start
    roll_sum, roll_var, roll_count = _kernel("roll_sum"), _kernel("roll_var"), _kernel("roll_count")
    with np.errstate(all="ignore"):
        xa, yb = _f64(a + 0 * b, ctx), _f64(b + 0 * a, ctx)  # pandas: NaN where either is missing; inf -> NaN
        mean_xy = roll_sum(xa * yb, s, n, True)
        mean_x = roll_sum(xa, s, n, True)
        mean_y = roll_sum(yb, s, n, True)
        count = roll_count(xa, s, n)
        out = (mean_xy - mean_x * mean_y) * (count / (count - 1.0))
        if op == "Corr":
            out = out / np.sqrt(roll_var(xa, s, n, 1, False) * roll_var(yb, s, n, 1, False))
            flat = (np.abs(roll_var(_f64(a, ctx), s, n, 1, True)) <= STD_ZERO) | \
                (np.abs(roll_var(_f64(b, ctx), s, n, 1, True)) <= STD_ZERO)
            out[flat] = np.nan
    return out


def cross_sectional(op: str, x, ctx: Context) -> np.ndarray:
    """CSRank (percentile rank, average ties, in (0, 1]), CSZScore ((x - mean) / std, ddof 1) or CSDemean
    (x - mean) across the universe's assets on each date; NaN outside the universe."""
    import pandas as pd

    a = _f64(x, ctx)
    inside = ctx.universe & np.isfinite(a)
    a = np.where(inside, a, np.nan)
    if op == "CSRank":
        return pd.DataFrame(a).rank(axis=1, pct=True, method="average").to_numpy(np.float64)
    count = inside.sum(axis=1)
    with np.errstate(all="ignore"):
        mean = np.nansum(a, axis=1) / count
        dev = a - mean[:, None]
        if op == "CSDemean":
            return dev
        std = np.sqrt(np.nansum(dev * dev, axis=1) / (count - 1))
        return dev / std[:, None]


_ELEMENTWISE: dict[str, Callable] = {
    "Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide, "Power": np.power,
    "Greater": np.maximum, "Less": np.minimum,
    "Gt": np.greater, "Ge": np.greater_equal, "Lt": np.less, "Le": np.less_equal, "Eq": np.equal, "Ne": np.not_equal,
    "Abs": np.abs, "Log": np.log, "Neg": np.negative,
}


def apply(op: str, args: list, ctx: Context):
    """The value of ``op`` on evaluated operands (arrays or numbers) and literal arguments."""
    with np.errstate(all="ignore"):
        if op in _ELEMENTWISE:
            return _ELEMENTWISE[op](*args)
        if op == "Sign":  # Qlib casts to float32 first
            return np.sign(np.asarray(args[0]).astype(np.float32))
        if op == "And":
            return np.logical_and(_bool(args[0]), _bool(args[1]))
        if op == "Or":
            return np.logical_or(_bool(args[0]), _bool(args[1]))
        if op == "Not":
            return np.logical_not(_bool(args[0]))
        if op == "If":
            return np.where(_bool(args[0]), args[1], args[2])
    if op == "Ref":
        return ref(args[0], args[1], ctx)
    if op == "Delta":
        return delta(args[0], args[1], ctx)
    if op == "EMA":
        return ema(args[0], args[1], ctx)
    if op in ("Corr", "Cov"):
        return pair(op, args[0], args[1], args[2], ctx)
    if op in CROSS_SECTIONAL:
        return cross_sectional(op, args[0], ctx)
    if op == "Quantile":
        return rolling(op, args[0], args[1], ctx, q=args[2])
    return rolling(op, args[0], args[1], ctx)
