"""Numba rolling kernels over (T, N) float64 panels, one column per asset, with Qlib's (pandas') semantics.

Every kernel takes ``start[i]``, the first row of asset i's series: rows before it do not exist (Qlib's
series begin at an instrument's first data day), so a window at row t spans rows
``max(start[i], t - w + 1) .. t`` (``w == 0``: every row since ``start[i]``, Qlib's expanding form). The
window is ``min_periods=1`` as in Qlib: a statistic needs one non-NaN value (``Std``/``Var`` two, ``Skew``
three, ``Kurt`` four, as in pandas). Sums and variances are pandas' own online algorithms (Kahan-compensated
sums, Welford's variance), slope/rsquare/residual Qlib's Cython ones, so values agree to rounding.
Compiled once and cached on disk (``cache=True``); ``nogil`` lets the engine run asset blocks in threads.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

NAN = np.nan
INV_COND_TOL = np.finfo(np.float64).eps * 1e3  # pandas: an update left with ~3 digits is recomputed
_JIT = {"cache": True, "nogil": True}


@njit(**_JIT)
def _lo(t, s, w):
    """First row of the window ending at t for a series starting at s (w == 0: expanding)."""
    if w <= 0:
        return s
    return max(s, t - w + 1)


@njit(**_JIT)
def roll_sum(x, start, w, mean):
    """pandas ``rolling(w, min_periods=1).sum()`` / ``.mean()``: Kahan-compensated add and remove."""
    T, N = x.shape
    out = np.full((T, N), NAN)
    for i in range(N):
        s = start[i]
        nobs = 0
        neg = 0
        total = 0.0
        comp_add = 0.0
        comp_rem = 0.0
        same = 0
        prev = NAN
        for t in range(s, T):
            if w > 0 and t - w >= s:  # the value leaving the window
                v = x[t - w, i]
                if v == v:
                    nobs -= 1
                    if v < 0:
                        neg -= 1
                    y = -v - comp_rem
                    tt = total + y
                    comp_rem = tt - total - y
                    total = tt
            v = x[t, i]
            if v == v:
                nobs += 1
                if v < 0:
                    neg += 1
                y = v - comp_add
                tt = total + y
                comp_add = tt - total - y
                total = tt
                if v == prev:
                    same += 1
                else:
                    same = 1
                    prev = v
            if nobs >= 1:
                if mean:
                    r = total / nobs
                    if same >= nobs:
                        r = prev
                    elif neg == 0 and r < 0:
                        r = 0.0
                    elif neg == nobs and r > 0:
                        r = 0.0
                else:
                    r = prev * nobs if same >= nobs else total
                out[t, i] = r
    return out


@njit(cache=True, nogil=True, inline="always")
def _add_var(v, nobs, mean, ssq, comp, unstable):
    """pandas' add_var: Welford's update with Kahan compensation; flags an update that lost most digits."""
    if v != v:
        return nobs, mean, ssq, comp, unstable
    prev_m2 = ssq
    nobs += 1
    prev_mean = mean - comp
    y = v - comp
    t = y - mean
    comp = t + mean - y
    mean = mean + t / nobs
    ssq = ssq + (v - prev_mean) * (v - mean)
    if prev_m2 * INV_COND_TOL > ssq:
        unstable = True
    return nobs, mean, ssq, comp, unstable


@njit(cache=True, nogil=True, inline="always")
def _remove_var(v, nobs, mean, ssq, comp, unstable):
    """pandas' remove_var."""
    if v != v:
        return nobs, mean, ssq, comp, unstable
    prev_m2 = ssq
    nobs -= 1
    if nobs > 0:
        prev_mean = mean - comp
        y = v - comp
        t = y - mean
        comp = t + mean - y
        mean = mean - t / nobs
        ssq = ssq - (v - prev_mean) * (v - mean)
        if prev_m2 * INV_COND_TOL > ssq:
            unstable = True
    else:
        mean = 0.0
        ssq = 0.0
        unstable = False
    return nobs, mean, ssq, comp, unstable


@njit(**_JIT)
def roll_var(x, start, w, ddof, root):
    """pandas (3.x) ``rolling(w, min_periods=1).var(ddof)`` (``root``: ``.std()``, a negative variance read as
    0): Welford with Kahan compensation, the window recomputed when an update loses most of its digits."""
    T, N = x.shape
    out = np.full((T, N), NAN)
    for i in range(N):
        s = start[i]
        nobs = 0.0
        mean = 0.0
        ssq = 0.0
        c_add = 0.0
        c_rem = 0.0
        unstable = False
        for t in range(s, T):
            lo = _lo(t, s, w)
            recompute = t == s or (w > 0 and lo >= t)  # the first window, or a window of one row
            if not recompute:
                if w > 0 and t - w >= s:
                    nobs, mean, ssq, c_rem, unstable = _remove_var(x[t - w, i], nobs, mean, ssq, c_rem, unstable)
                nobs, mean, ssq, c_add, unstable = _add_var(x[t, i], nobs, mean, ssq, c_add, unstable)
            if recompute or unstable:
                nobs = 0.0
                mean = 0.0
                ssq = 0.0
                c_add = 0.0
                c_rem = 0.0
                for k in range(lo, t + 1):
                    nobs, mean, ssq, c_add, unstable = _add_var(x[k, i], nobs, mean, ssq, c_add, unstable)
                unstable = False
            if nobs >= 1 and nobs > ddof:
                r = ssq / (nobs - ddof)
                out[t, i] = (math.sqrt(r) if r > 0 else 0.0) if root else r
    return out


@njit(**_JIT)
def roll_moment(x, start, w, order):
    """pandas (3.x) ``rolling(w, min_periods=1).skew()`` (order 3) / ``.kurt()`` (order 4), per window in two
    passes: NaN below 3 (4) values and when every value is equal."""
    T, N = x.shape
    out = np.full((T, N), NAN)
    need = 3 if order == 3 else 4
    for i in range(N):
        s = start[i]
        for t in range(s, T):
            lo = _lo(t, s, w)
            n = 0
            total = 0.0
            first = NAN
            equal = True
            for k in range(lo, t + 1):
                v = x[k, i]
                if v == v:
                    if n == 0:
                        first = v
                    elif v != first:
                        equal = False
                    n += 1
                    total += v
            if n < need:
                continue
            if equal:  # pandas 3: no spread, no skew or kurtosis
                continue
            m = total / n
            b = 0.0
            c = 0.0
            d = 0.0
            for k in range(lo, t + 1):
                v = x[k, i]
                if v == v:
                    dv = v - m
                    b += dv * dv
                    c += dv * dv * dv
                    d += dv * dv * dv * dv
            b /= n
            c /= n
            d /= n
            if b <= 1e-14 * m * m:  # a spread lost in rounding (pandas 3 measures it relative to the mean)
                continue
            if order == 3:
                out[t, i] = math.sqrt(n * (n - 1.0)) * c / ((n - 2.0) * b * math.sqrt(b))
            else:
                kk = (n * n - 1.0) * d / (b * b) - 3.0 * (n - 1.0) ** 2
                out[t, i] = kk / ((n - 2.0) * (n - 3.0))
    return out


@njit(**_JIT)
def roll_extreme(x, start, w, is_max):
    """pandas ``rolling(w, min_periods=1).max()`` / ``.min()`` (NaN skipped)."""
    T, N = x.shape
    out = np.full((T, N), NAN)
    for i in range(N):
        s = start[i]
        for t in range(s, T):
            lo = _lo(t, s, w)
            best = NAN
            for k in range(lo, t + 1):
                v = x[k, i]
                if v == v and (best != best or (v > best if is_max else v < best)):
                    best = v
            out[t, i] = best
    return out


@njit(**_JIT)
def roll_argextreme(x, start, w, is_max):
    """Qlib's IdxMax / IdxMin: ``np.argmax(window) + 1`` over the raw window (a NaN inside counts as the
    extreme, as in numpy), NaN when the window has no value."""
    T, N = x.shape
    out = np.full((T, N), NAN)
    for i in range(N):
        s = start[i]
        for t in range(s, T):
            lo = _lo(t, s, w)
            pos = -1
            best = 0.0
            seen = False
            nan_at = -1
            for k in range(lo, t + 1):
                v = x[k, i]
                if v != v:
                    if nan_at < 0:
                        nan_at = k
                    continue
                seen = True
                if pos < 0 or (v > best if is_max else v < best):
                    best = v
                    pos = k
            if not seen:
                continue
            if nan_at >= 0:
                pos = nan_at
            out[t, i] = pos - lo + 1
    return out


@njit(**_JIT)
def _insert(buf, n, v):
    """Insert v into the sorted buf[:n] (right of equal values)."""
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if buf[mid] <= v:
            lo = mid + 1
        else:
            hi = mid
    for k in range(n, lo, -1):
        buf[k] = buf[k - 1]
    buf[lo] = v


@njit(**_JIT)
def _remove(buf, n, v):
    """Remove one value equal to v from the sorted buf[:n]."""
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if buf[mid] < v:
            lo = mid + 1
        else:
            hi = mid
    for k in range(lo, n - 1):
        buf[k] = buf[k + 1]


@njit(**_JIT)
def roll_quantile(x, start, w, q, median):
    """pandas ``rolling(w, min_periods=1).quantile(q)`` (linear interpolation) / ``.median()``, on a sorted
    buffer kept per asset (insert and remove are O(w))."""
    T, N = x.shape
    out = np.full((T, N), NAN)
    buf = np.empty(T + 1)
    for i in range(N):
        s = start[i]
        n = 0
        for t in range(s, T):
            if w > 0 and t - w >= s:
                v = x[t - w, i]
                if v == v:
                    _remove(buf, n, v)
                    n -= 1
            v = x[t, i]
            if v == v:
                _insert(buf, n, v)
                n += 1
            if n == 0:
                continue
            if median:
                if n % 2 == 1:
                    out[t, i] = buf[n // 2]
                else:
                    out[t, i] = (buf[n // 2 - 1] + buf[n // 2]) / 2.0
            else:
                pos = q * (n - 1)
                k = int(pos)
                if k == pos:
                    out[t, i] = buf[k]
                else:
                    out[t, i] = buf[k] + (buf[k + 1] - buf[k]) * (pos - k)
    return out


@njit(**_JIT)
def roll_rank(x, start, w):
    """pandas ``rolling(w, min_periods=1).rank(pct=True)``: the last value's average rank among the window's
    values, over their count; NaN when the last value is NaN."""
    T, N = x.shape
    out = np.full((T, N), NAN)
    for i in range(N):
        s = start[i]
        for t in range(s, T):
            last = x[t, i]
            if last != last:
                continue
            lo = _lo(t, s, w)
            n = 0
            less = 0
            eq = 0
            for k in range(lo, t + 1):
                v = x[k, i]
                if v == v:
                    n += 1
                    if v < last:
                        less += 1
                    elif v == last:
                        eq += 1
            out[t, i] = (less + (eq + 1) / 2.0) / n
    return out


@njit(**_JIT)
def roll_count(x, start, w):
    """pandas ``rolling(w, min_periods=1).count()``: non-NaN values in the window (0 when none)."""
    T, N = x.shape
    out = np.full((T, N), NAN)
    for i in range(N):
        s = start[i]
        n = 0
        for t in range(s, T):
            if w > 0 and t - w >= s and x[t - w, i] == x[t - w, i]:
                n -= 1
            if x[t, i] == x[t, i]:
                n += 1
            out[t, i] = n
    return out


@njit(**_JIT)
def roll_mad(x, start, w):
    """Qlib's Mad: mean absolute deviation from the mean of the window's non-NaN values."""
    T, N = x.shape
    out = np.full((T, N), NAN)
    for i in range(N):
        s = start[i]
        for t in range(s, T):
            lo = _lo(t, s, w)
            n = 0
            total = 0.0
            for k in range(lo, t + 1):
                v = x[k, i]
                if v == v:
                    n += 1
                    total += v
            if n == 0:
                continue
            m = total / n
            dev = 0.0
            for k in range(lo, t + 1):
                v = x[k, i]
                if v == v:
                    dev += abs(v - m)
            out[t, i] = dev / n
    return out


@njit(**_JIT)
def roll_wma(x, start, w):
    """Qlib's WMA: weights 1..L over the raw window of length L, normalised to sum 1, then ``np.nanmean`` of
    weight x value (so a NaN inside divides by the count of values, as Qlib does)."""
    T, N = x.shape
    out = np.full((T, N), NAN)
    for i in range(N):
        s = start[i]
        for t in range(s, T):
            lo = _lo(t, s, w)
            length = t - lo + 1
            wsum = length * (length + 1) / 2.0
            n = 0
            total = 0.0
            for k in range(lo, t + 1):
                v = x[k, i]
                if v == v:
                    n += 1
                    total += ((k - lo + 1) / wsum) * v
            if n > 0:
                out[t, i] = total / n
    return out


@njit(**_JIT)
def ewm_mean(x, start, alpha):
    """pandas ``ewm(alpha=alpha, adjust=True, ignore_na=False, min_periods=1).mean()`` from each series' start."""
    T, N = x.shape
    out = np.full((T, N), NAN)
    decay = 1.0 - alpha
    for i in range(N):
        s = start[i]
        weighted = NAN
        old_wt = 1.0
        for t in range(s, T):
            cur = x[t, i]
            obs = cur == cur
            if weighted == weighted:
                old_wt *= decay
                if obs:
                    if weighted != cur:
                        weighted = (old_wt * weighted + cur) / (old_wt + 1.0)
                    old_wt += 1.0
            elif obs:
                weighted = cur
            out[t, i] = weighted
    return out


@njit(**_JIT)
def expanding_ema(x, start):
    """Qlib's ``EMA(x, 0)``: over all rows so far (length L), weights a**(L-1-k) with a = 1 - 2 / (1 + L),
    normalised to sum 1, then ``np.nansum`` of weight x value."""
    T, N = x.shape
    out = np.full((T, N), NAN)
    for i in range(N):
        s = start[i]
        for t in range(s, T):
            length = t - s + 1
            a = 1.0 - 2.0 / (1.0 + length)
            wsum = 0.0
            for k in range(length):
                wsum += a ** k
            total = 0.0
            n = 0
            for k in range(s, t + 1):
                v = x[k, i]
                if v == v:
                    n += 1
                    total += (a ** (t - k) / wsum) * v
            out[t, i] = total if n > 0 else 0.0
    return out


@njit(**_JIT)
def roll_regression(x, start, w, what):
    """Qlib's rolling_slope / rolling_rsquare / rolling_resi (``what`` 0 / 1 / 2): the least-squares line of
    the window's values against their positions 1..w (NaN skipped), kept as running sums as Qlib's Cython
    does; ``w == 0`` is Qlib's expanding_* form (positions 1..L since the start)."""
    T, N = x.shape
    out = np.full((T, N), NAN)
    for i in range(N):
        s = start[i]
        if w <= 0:  # Qlib's expanding_*: running sums over positions 1..L since the start
            n = 0
            xs = 0.0
            x2 = 0.0
            ys = 0.0
            y2 = 0.0
            xy = 0.0
            for t in range(s, T):
                v = x[t, i]
                p = t - s + 1.0
                if v == v:
                    n += 1
                    xs += p
                    x2 += p * p
                    ys += v
                    y2 += v * v
                    xy += p * v
                out[t, i] = _line(n, xs, x2, ys, y2, xy, v, p, what)
            continue
        # running sums over the window's positions; the newest value sits at position w
        na_count = w
        i_sum = 0.0
        x_sum = 0.0
        x2_sum = 0.0
        y_sum = 0.0
        y2_sum = 0.0
        xy_sum = 0.0
        for t in range(s, T):
            val = x[t, i]
            xy_sum = xy_sum - y_sum
            x2_sum = x2_sum + i_sum - 2 * x_sum
            x_sum = x_sum - i_sum
            old = x[t - w, i] if t - w >= s else NAN
            if old == old:
                i_sum -= 1
                y_sum -= old
                y2_sum -= old * old
            else:
                na_count -= 1
            if val != val:
                na_count += 1
            else:
                i_sum += 1
                x_sum += w
                x2_sum += w * w
                y_sum += val
                y2_sum += val * val
                xy_sum += w * val
            n = w - na_count
            out[t, i] = _line(n, x_sum, x2_sum, y_sum, y2_sum, xy_sum, val, float(w), what)
    return out


@njit(**_JIT)
def _line(n, x_sum, x2_sum, y_sum, y2_sum, xy_sum, val, pos, what):
    """Slope, r squared or the residual of the newest value (at position ``pos``), as Qlib computes them."""
    num = n * xy_sum - x_sum * y_sum
    den = n * x2_sum - x_sum * x_sum
    if what == 0:
        return num / den if den != 0 else (NAN if num == 0 else math.copysign(np.inf, num))
    if what == 1:
        d2 = den * (n * y2_sum - y_sum * y_sum)
        if d2 <= 0:
            return NAN if (num == 0 or d2 != d2 or d2 < 0) else np.inf
        r = num / math.sqrt(d2)
        return r * r
    if n == 0 or den == 0:
        return NAN
    slope = num / den
    interp = y_sum / n - slope * (x_sum / n)
    return val - (slope * pos + interp)


@njit(**_JIT)
def write_block(out, c0, stacked, outside):
    """``out[t, c0 + i, k] = stacked[k, t, i]``, NaN where ``outside[t, i]`` or not finite: the (F, T, B) factor
    columns of one asset block transposed into the (T, N, F) output a few rows at a time (cache-sized tiles)."""
    F, T, B = stacked.shape
    tile = 16
    for t0 in range(0, T, tile):
        for t in range(t0, min(t0 + tile, T)):
            for i in range(B):
                if outside[t, i]:
                    for k in range(F):
                        out[t, c0 + i, k] = np.nan
                    continue
                for k in range(F):
                    v = stacked[k, t, i]
                    out[t, c0 + i, k] = v if np.isfinite(v) else np.nan
