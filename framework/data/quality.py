"""The data-quality scan: bad ticks, unadjusted splits, stale prices, impossible bars and extreme factor values.

Vectorised over the whole (dates, assets) panel with numpy (no loop per asset). The scan decides on the whole
file, as a vendor's correction would: a one-bar spike is recognised by the NEXT bar's price, so masking is a
data-cleaning step taken before the backtest, not a point-in-time signal (docs/design.md, "Data quality").
Thresholds are in ``Thresholds``; docs/reliability.md says why each was chosen.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import SeqalphaError
from .panel import Panel

#: Bumped when a check or a threshold changes, so the scan's digest (an identity field) changes with it.
SCAN_VERSION = 1
POLICIES = ("warn", "mask", "refuse")
PRICES = ("close", "open", "high", "low")
ERROR, WARNING = "error", "warning"
#: Common split and consolidation ratios (new price / old price); 3:2 splits are left out (a 1.5x step with
#: volume 1.5x the other way is too close to ordinary news days to call an error).
SPLIT_RATIOS = (2.0, 3.0, 4.0, 5.0, 8.0, 10.0, 20.0)


class DataQualityError(SeqalphaError, ValueError):
    """``data_policy="refuse"`` and the data holds an error-level finding."""


class DataQualityWarning(UserWarning):
    """The data-quality scan found something (the run continues)."""


@dataclass(frozen=True)
class Thresholds:
    """The scan's thresholds (docs/reliability.md, "Data quality", says why each was chosen)."""

    spike_min_jump: float = math.log(2.0)  # both moves, out and back, at least this |log ratio| ...
    spike_sigmas: float = 10.0  # ... and at least this many robust SDs of the asset's own daily log returns
    spike_agree: float = 0.25  # the neighbours agree: |log(next / prev)| <= this share of the smaller move
    spike_max_gap: int = 20  # neighbours at most this many bars apart (NaN bars between are skipped)
    split_tol: float = 0.05  # |log step - log ratio| for a split candidate
    split_window: int = 10  # bars before and after whose medians show the step persists
    stale_bars: int = 10  # the same close this many bars in a row with positive volume
    bar_tol: float = 1e-3  # relative tolerance of high >= low and low <= open, close <= high
    factor_sigmas: float = 20.0  # robust SDs (median / MAD per date) from the cross-section
    factor_min_assets: int = 10  # dates with fewer valued assets are not judged


@dataclass
class Finding:
    """One problem in the data: what, where, the value and its neighbours, how bad."""

    kind: str  # "spike", "split", "stale", "impossible", "extreme_factor"
    level: str  # "error" (masked by data_policy="mask", refused by "refuse") or "warning" (reported only)
    asset: str
    date: str
    field: str
    value: float
    detail: dict = field(default_factory=dict)
    score: float = 0.0  # severity: larger is worse; errors sort before warnings
    # cells to mask under data_policy="mask": (fields, first bar, last bar) of this asset, bars inclusive
    _mask: tuple = field(default=(), repr=False)
    _ti: tuple = field(default=(0, 0), repr=False)

    def as_json(self) -> dict:
        out = asdict(self)
        out.pop("_mask")
        out.pop("_ti")
        return out

    def line(self) -> str:
        """One line for a warning or an error message."""
        extra = ", ".join(f"{k} {_fmt(v)}" for k, v in self.detail.items())
        return f"{self.kind} {self.asset} {self.date} {self.field}={_fmt(self.value)} ({extra})"


def _fmt(v) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


@dataclass
class QualityReport:
    """Every finding (worst first), counts by kind and level, the scan's digest and how long it took."""

    findings: list[Finding]
    adjusted: bool | None
    thresholds: Thresholds
    seconds: float = 0.0

    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.findings:
            out[f.kind] = out.get(f.kind, 0) + 1
        return dict(sorted(out.items()))

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == ERROR]

    @property
    def digest(self) -> str:
        """sha256 of the scan's version, thresholds and findings (kind, level, asset, date, field)."""
        h = hashlib.sha256()
        h.update(json.dumps([SCAN_VERSION, asdict(self.thresholds), self.adjusted]).encode())
        for f in self.findings:
            h.update(f"{f.kind}|{f.level}|{f.asset}|{f.date}|{f.field}\n".encode())
        return h.hexdigest()

    def as_json(self, policy: str | None = None) -> dict:
        """data_quality.json's body."""
        return {"version": SCAN_VERSION, "policy": policy, "digest": self.digest, "adjusted": self.adjusted,
                "counts": self.counts, "errors": len(self.errors),
                "warnings": len(self.findings) - len(self.errors), "seconds": round(self.seconds, 3),
                "thresholds": asdict(self.thresholds),
                "note": "decided on the whole file (a spike is recognised by the next bar's price): a data-cleaning "
                        "step like a vendor's correction, not point-in-time",
                "findings": [f.as_json() for f in self.findings]}

    def summary(self, policy: str = "warn", worst: int = 5) -> str:
        """The run-start warning: counts, then the ``worst`` findings."""
        counts = ", ".join(f"{n} {k}" for k, n in self.counts.items())
        what = {"warn": "the data is used as it is (data_policy='warn')",
                "mask": "error-level prices are masked (NaN) before anything is computed; this uses the whole "
                        "file, like a vendor correction, not point-in-time (data_policy='mask')",
                "refuse": "data_policy='refuse'"}[policy]
        head = f"data quality: {len(self.findings)} finding(s) ({counts}); {len(self.errors)} error(s); {what}."
        lines = [f"  {f.level}: {f.line()}" for f in self.findings[:worst]]
        return "\n".join([head, "  worst:", *lines]) if lines else head


# ------------------------------------------------------------------------------------------------ helpers


def _jumps(lx: np.ndarray, min_jump: float, gap: int, with_next: bool = True):
    """The bars whose log price moved more than ``min_jump`` from the last valid bar before them (at most ``gap``
    bars back; NaN bars between are skipped): their (t, i), the neighbours' bars (-1: none) and log prices.

    Two cheap passes (the one-bar difference, the bars after a gap) pick the candidates; the neighbours are then
    looked up for those cells only, so the cost is a few passes over the panel whatever its size."""
    T, N = lx.shape
    valid = np.isfinite(lx)
    with np.errstate(invalid="ignore"):
        big = np.zeros((T, N), dtype=bool)
        big[1:] = np.abs(lx[1:] - lx[:-1]) > min_jump
    after_gap = np.zeros((T, N), dtype=bool)
    after_gap[1:] = valid[1:] & ~valid[:-1]
    t, i = np.nonzero(big | after_gap)

    def look(direction: int):
        steps = t[:, None] + direction * np.arange(1, gap + 1)[None, :]
        inside = (steps >= 0) & (steps < T)
        vals = lx[np.clip(steps, 0, T - 1), i[:, None]]
        ok = inside & np.isfinite(vals)
        k = ok.argmax(axis=1)
        found = ok[np.arange(len(t)), k]
        return np.where(found, t + direction * (k + 1), -1), np.where(found, vals[np.arange(len(t)), k], np.nan)

    prev, la = look(-1)
    keep = prev >= 0
    with np.errstate(invalid="ignore"):
        keep &= np.abs(lx[t, i] - la) > min_jump
    t, i, prev, la = t[keep], i[keep], prev[keep], la[keep]
    nxt, lb = look(1) if with_next else (np.full(len(t), -1), np.full(len(t), np.nan))
    return t, i, prev, la, nxt, lb


def _robust_sd(x: np.ndarray, axis: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(x, axis=axis, keepdims=True)
        return 1.4826 * np.nanmedian(np.abs(x - med), axis=axis)


def _logs(x: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(np.isfinite(x) & (x > 0), np.log(np.where(x > 0, x, 1.0)), np.nan)


# ------------------------------------------------------------------------------------------------ checks


def _spikes(panel: Panel, th: Thresholds) -> list[Finding]:
    """One-bar moves out and back, both large for the asset, while the neighbours agree with each other."""
    per_bar: dict[tuple[int, int], Finding] = {}
    for name in (p for p in PRICES if panel.has(p)):
        lx = _logs(panel.field(name))
        t, i, prev, la, nxt, lb = _jumps(lx, th.spike_min_jump, th.spike_max_gap)
        with np.errstate(invalid="ignore"):
            out, back = lx[t, i] - la, lb - lx[t, i]
            small = np.minimum(np.abs(out), np.abs(back))
            cand = (nxt >= 0) & (nxt - prev <= th.spike_max_gap) & (small > th.spike_min_jump) & (
                np.sign(out) != np.sign(back)) & (np.abs(lb - la) <= th.spike_agree * small)
        t, i, prev, nxt, out, small = t[cand], i[cand], prev[cand], nxt[cand], out[cand], small[cand]
        if not len(t):
            continue
        assets = np.unique(i)  # the asset's own scale, only where there is a candidate
        sd = dict(zip(assets.tolist(), _robust_sd(np.diff(lx[:, assets], axis=0), axis=0).tolist()))
        raw = panel.field(name)
        for n, (tt, ii, s) in enumerate(zip(t.tolist(), i.tolist(), small.tolist())):
            scale = sd.get(ii, 0.0)
            if not (s > th.spike_sigmas * scale if np.isfinite(scale) else True):
                continue
            key = (tt, ii)
            if key in per_bar:  # the same bar in another price field: one finding naming both
                f = per_bar[key]
                f.field += f",{name}"
                f._mask = (f._mask[0] + (name,), tt, tt)
                continue
            a, b = int(prev[n]), int(nxt[n])
            per_bar[key] = Finding(
                "spike", ERROR, panel.assets[ii], str(panel.dates[tt].date()), name, float(raw[tt, ii]),
                {"prev": float(raw[a, ii]), "prev_date": str(panel.dates[a].date()), "next": float(raw[b, ii]),
                 "next_date": str(panel.dates[b].date()), "ratio": float(math.exp(abs(out[n]))),
                 "asset_sd": round(float(scale), 5)},
                round(float(s), 4), ((name,), tt, tt), (tt, ii))
    return list(per_bar.values())


def _splits(panel: Panel, th: Thresholds) -> list[Finding]:
    """A persistent step of the close near a common ratio, with volume stepping the other way by about as much."""
    if panel.meta.get("adjusted") is True or not panel.has("volume"):
        return []
    lx = _logs(panel.close)
    T = lx.shape[0]
    logs = np.log(np.array([*SPLIT_RATIOS, *(1.0 / r for r in SPLIT_RATIOS)]))
    t, i, prev, la, _, _ = _jumps(lx, math.log(min(SPLIT_RATIOS)) - th.split_tol, th.spike_max_gap, with_next=False)
    step = lx[t, i] - la
    lk = logs[np.argmin(np.abs(step[:, None] - logs[None, :]), axis=1)]
    near = np.abs(step - lk) < th.split_tol
    known = set(panel.meta.get("adjusted_tickers") or ())  # per-asset: tickers whose prices are adjusted
    near &= np.array([panel.assets[k] not in known for k in i.tolist()], dtype=bool) if known else True
    t, i, prev, lk = t[near], i[near], prev[near], lk[near]
    if not len(t):
        return []
    W = th.split_window
    before = np.clip(t[:, None] - np.arange(W, 0, -1)[None, :], 0, T - 1)  # t-W .. t-1
    after = np.clip(t[:, None] + np.arange(W)[None, :], 0, T - 1)  # t .. t+W-1
    vol = panel.field("volume")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        p_step = np.nanmedian(lx[after, i[:, None]], axis=1) - np.nanmedian(lx[before, i[:, None]], axis=1)
        v_step = (np.nanmedian(_logs(vol[after, i[:, None]]), axis=1)
                  - np.nanmedian(_logs(vol[before, i[:, None]]), axis=1))
    with np.errstate(invalid="ignore"):
        ok = (np.abs(p_step - lk) < 0.25 * np.abs(lk)) & (np.abs(v_step + lk) < 0.5 * np.abs(lk))
    out = []
    raw = panel.close
    fields = tuple(p for p in (*PRICES, "vwap") if panel.has(p))
    for tt, ii, a, k, vs in zip(t[ok].tolist(), i[ok].tolist(), prev[ok].tolist(), lk[ok].tolist(),
                                v_step[ok].tolist()):
        out.append(Finding("split", ERROR, panel.assets[ii], str(panel.dates[tt].date()), "close",
                           float(raw[tt, ii]),
                           {"prev": float(raw[a, ii]), "prev_date": str(panel.dates[a].date()),
                            "ratio": round(float(math.exp(k)), 4), "volume_ratio": round(float(math.exp(vs)), 3),
                            "adjusted": panel.meta.get("adjusted")},
                           round(abs(k), 4), (fields, 0, tt - 1), (tt, ii)))
    return out


def _stale(panel: Panel, th: Thresholds) -> list[Finding]:
    """Runs of the same close, at least ``stale_bars`` long, while volume is positive (a frozen feed)."""
    if not panel.has("volume"):
        return []
    c, v = panel.close, panel.field("volume")
    with np.errstate(invalid="ignore"):
        same = np.zeros(c.shape, dtype=bool)
        same[1:] = (c[1:] == c[:-1]) & (v[1:] > 0) & (v[:-1] > 0)
    count = np.cumsum(same, axis=0, dtype=np.int32)
    run = count - np.maximum.accumulate(np.where(same, 0, count), axis=0)  # equalities in a row ending at t
    ends = same & np.vstack([~same[1:], np.ones((1, c.shape[1]), dtype=bool)])
    t, i = np.nonzero(ends & (run >= th.stale_bars - 1))
    out = []
    for tt, ii in zip(t.tolist(), i.tolist()):
        n = int(run[tt, ii]) + 1
        s = tt - n + 1
        out.append(Finding("stale", WARNING, panel.assets[ii], str(panel.dates[s].date()), "close",
                           float(c[tt, ii]), {"bars": n, "until": str(panel.dates[tt].date())},
                           round(n / th.stale_bars, 4), (), (s, ii)))
    return out


def _impossible(panel: Panel, th: Thresholds) -> list[Finding]:
    """Bars no market prints: a price <= 0, volume < 0, high < low, open or close outside [low, high]."""
    T, N = panel.close.shape
    bad = np.zeros((T, N), dtype=bool)
    why = np.zeros((T, N), dtype=np.int8)  # the first reason per bar, for the record
    reasons = []

    def add(mask: np.ndarray, text: str) -> None:
        nonlocal bad
        reasons.append(text)
        new = mask & ~bad
        why[new] = len(reasons) - 1
        bad |= mask

    with np.errstate(invalid="ignore"):
        for p in (p for p in PRICES if panel.has(p)):
            add(panel.field(p) <= 0, f"{p} <= 0")
        if panel.has("volume"):
            add(panel.field("volume") < 0, "volume < 0")
        if panel.has("high") and panel.has("low"):
            hi, lo = panel.field("high"), panel.field("low")
            add(hi < lo * (1 - th.bar_tol), "high < low")
            for p in ("close", "open"):
                if panel.has(p):
                    x = panel.field(p)
                    add((x > hi * (1 + th.bar_tol)) | (x < lo * (1 - th.bar_tol)), f"{p} outside [low, high]")
    t, i = np.nonzero(bad)
    fields = tuple(p for p in (*PRICES, "vwap") if panel.has(p))
    shown = [p for p in ("open", "high", "low", "close", "volume") if panel.has(p)]
    out = []
    for tt, ii in zip(t.tolist(), i.tolist()):
        bar = {p: float(panel.field(p)[tt, ii]) for p in shown}
        reason = reasons[int(why[tt, ii])]
        lo_, hi_ = bar.get("low", np.nan), bar.get("high", np.nan)
        score = 10.0 if "<= 0" in reason or "volume" in reason else float(
            abs(math.log(max(hi_, 1e-12) / max(lo_, 1e-12))) if reason == "high < low" else
            max(math.log(max(bar[reason.split()[0]], 1e-12) / max(hi_, 1e-12)),
                math.log(max(lo_, 1e-12) / max(bar[reason.split()[0]], 1e-12)), 0.0))
        out.append(Finding("impossible", ERROR, panel.assets[ii], str(panel.dates[tt].date()), reason.split()[0],
                           bar.get(reason.split()[0], float("nan")), {"why": reason, **bar}, round(score, 4),
                           (fields, tt, tt), (tt, ii)))
    return out


def _extreme_factors(panel: Panel, th: Thresholds) -> list[Finding]:
    """The data's own factor values many robust SDs (median / MAD per date) from the cross-section: reported only."""
    out = []
    for name in panel.factor_names:
        x = panel.field(name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(x, axis=1, keepdims=True)
            sd = 1.4826 * np.nanmedian(np.abs(x - med), axis=1, keepdims=True)
        n = np.isfinite(x).sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            z = np.abs(x - med) / sd
            hit = (z > th.factor_sigmas) & (sd > 0) & (n >= th.factor_min_assets)
        for tt, ii in zip(*(a.tolist() for a in np.nonzero(hit))):
            out.append(Finding("extreme_factor", WARNING, panel.assets[ii], str(panel.dates[tt].date()), name,
                               float(x[tt, ii]), {"median": float(med[tt, 0]), "robust_sd": float(sd[tt, 0]),
                                                  "z": round(float(z[tt, ii]), 2)},
                               round(float(z[tt, ii]) / th.factor_sigmas, 4), (), (tt, ii)))
    return out


# ------------------------------------------------------------------------------------------------ entry points


def scan(panel: Panel, thresholds: Thresholds | None = None) -> QualityReport:
    """Every check on ``panel``; findings sorted errors first, then by severity (worst first)."""
    th = thresholds or Thresholds()
    t0 = time.perf_counter()
    spikes = _spikes(panel, th)
    at = {f._ti for f in spikes}  # a spike's bar is often impossible too (close outside [low, high]): one finding
    found = [*spikes, *(f for f in _impossible(panel, th) if f._ti not in at), *_splits(panel, th),
             *_stale(panel, th), *_extreme_factors(panel, th)]
    found.sort(key=lambda f: (f.level != ERROR, -f.score, f.date, f.asset))
    return QualityReport(found, panel.meta.get("adjusted"), th, time.perf_counter() - t0)


def check_policy(policy: object) -> str:
    if policy not in POLICIES:
        raise ValueError(f"data_policy must be one of {list(POLICIES)}, got {policy!r}")
    return policy  # type: ignore[return-value]


def masked(panel: Panel, report: QualityReport) -> Panel:
    """A copy of ``panel`` with every error-level finding's prices set to NaN (a split: the asset's prices
    before the step). Warnings (stale runs, extreme factor values) are left as they are."""
    values = panel.values.copy()
    for f in report.errors:
        fields, a, b = f._mask
        i = f._ti[1]
        for name in fields:
            values[a:b + 1, i, panel.fields.index(name)] = np.nan
    return Panel(dates=panel.dates, assets=panel.assets, fields=panel.fields, values=values, name=panel.name,
                 universe=panel.universe, benchmark=panel.benchmark, meta=dict(panel.meta))


def apply_policy(panel: Panel, report: QualityReport, policy: str) -> Panel:
    """The panel a run computes from: as it is ("warn"), errors masked ("mask"), or a DataQualityError naming the
    worst error ("refuse")."""
    check_policy(policy)
    if policy == "refuse" and report.errors:
        worst = report.errors[0]
        raise DataQualityError(f"{panel.name}: data_policy='refuse' and the data-quality scan found "
                               f"{len(report.errors)} error(s); worst: {worst.line()}")
    if policy == "mask" and report.errors:
        return masked(panel, report)
    return panel


def prepare(panel: Panel, policy: str, warn: bool = True,
            thresholds: Thresholds | None = None) -> tuple[Panel, QualityReport]:
    """Scan ``panel`` (with ``thresholds``: the strategy's ``data_thresholds`` applied), apply ``policy`` and, with
    ``warn``, emit one DataQualityWarning with the counts and the five worst findings: the panel a run computes
    from, and the scan's report (every entry point calls this)."""
    report = scan(panel, thresholds)
    out = apply_policy(panel, report, policy)
    if warn and report.findings:
        warnings.warn(report.summary(policy), DataQualityWarning, stacklevel=3)
    return out, report
