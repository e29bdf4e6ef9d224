"""The checks of `seqalpha audit`: does the user's own pipeline read the future? Each returns a Check.

* truncation: at several cut dates, the universe, features, window normalisation and labels computed on
  the panel cut after the date equal the full panel's at every date up to it;
* scores: the strategy's own model, on a short span, scores the same with and without the data after it;
* canaries: a feature equal to the next bar's return (known only tomorrow) gives no edge; the label itself
  as a feature gives a strong one (so the audit can see an edge); every fit ends at least h + 1 bars before
  the first date it scores.

The checks of ``target_weights`` (truncation by replay, and skill) are in weights.py. Each check passes, warns
(it could not judge) or fails.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..backtest.dataset import Dataset
from ..backtest.walkforward import WalkForward, dated, training_dates
from ..data import Panel
from ..strategy import Strategy

STATES = ("pass", "warn", "fail")


@dataclass
class Check:
    """One check's outcome: ``state`` is "pass", "warn" (printed, the audit still exits 0) or "fail" (exit 1).

    A bool (Python's or numpy's) is taken for ``state`` too (True: pass, False: fail); ``passed`` is True unless the check failed."""

    name: str
    state: str
    detail: str
    seconds: float = 0.0
    data: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.state, (bool, np.bool_)):
            self.state = "pass" if self.state else "fail"
        if self.state not in STATES:
            raise ValueError(f"check {self.name!r}: state must be one of {STATES}, got {self.state!r}")

    @property
    def passed(self) -> bool:
        return self.state != "fail"

    def as_dict(self) -> dict:
        return {"check": self.name, "state": self.state, "passed": self.passed, "detail": self.detail,
                "seconds": round(self.seconds, 2), **({"data": self.data} if self.data else {})}


def overall(results: list[Check]) -> str:
    """The audit's state: "fail" if a check failed, else "warn" if one warned, else "pass"."""
    states = {c.state for c in results}
    return "fail" if "fail" in states else ("warn" if "warn" in states else "pass")


def timed(fn):
    def wrapper(*args, **kwargs) -> Check:
        t0 = time.perf_counter()
        check = fn(*args, **kwargs)
        check.seconds = time.perf_counter() - t0
        return check
    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def cut_bars(strategy: Strategy, panel: Panel, n: int = 4) -> list[int]:
    """``n`` cut dates spread over the test period (the dates decisions are made on), latest last."""
    calendar = WalkForward.of(strategy, panel.dates)
    bars = np.linspace(calendar.t0, calendar.t1 - strategy.horizon - 1, n).round().astype(int)
    return sorted({int(b) for b in bars if b > strategy.window})


def _first_difference(a: np.ndarray, b: np.ndarray) -> tuple | None:
    """Index of the first cell where two arrays differ (NaN equals NaN), or None."""
    same = (a == b) | (np.isnan(a) & np.isnan(b)) if a.dtype.kind == "f" else (a == b)
    if same.all():
        return None
    return tuple(int(x[0]) for x in np.nonzero(~same))


@timed
def truncation(strategy: Strategy, panel: Panel, features, cuts: list[int], members=()) -> Check:
    """Universe, features, normalisation and labels known at t are the same on the panel cut after t. ``members``
    (a blend's: ``(label, strategy, feature sets)`` for each member with a Dataset of its own) are checked the
    same way, each on its own features, window and normalisation; a failure names the member."""
    failure, n_features = _truncation_failure(strategy, panel, features, cuts)
    if failure:
        return Check("truncation", False, failure)
    counted = f"{n_features} feature(s)"
    for label, member, member_features in members:
        failure, n_member = _truncation_failure(member, panel, member_features, cuts)
        if failure:
            return Check("truncation", False, f"{label}: {failure}")
        counted += f", {label}'s {n_member}"
    shown = ", ".join(str(panel.dates[c].date()) for c in cuts)
    return Check("truncation", True, f"universe, {counted}, normalisation and labels equal at every date up to "
                 f"each cut ({shown})")


def _truncation_failure(strategy: Strategy, panel: Panel, features, cuts: list[int]) -> tuple[str | None, int]:
    """The first difference between the full panel's Dataset and each cut one (None when there is none), and
    the feature count."""
    full = Dataset.build(strategy, panel, features)
    h, dates, assets = strategy.horizon, panel.dates, panel.assets
    for c in cuts:
        cut = Dataset.build(strategy, panel.slice_dates(end=dates[c]), features)
        where = f"on the panel cut after {dates[c].date()}"
        diff = _first_difference(full.universe[:c + 1], cut.universe)
        if diff is not None:
            t, i = diff
            return (f"universe() at {dates[t].date()} for {assets[i]!r} changes {where}: membership must not depend "
                    "on later data (e.g. names that survive to the end)", 0)
        diff = _first_difference(full.features[:c + 1], cut.features)
        if diff is not None:
            t, i, f = diff
            return (f"feature {full.feature_names[f]!r} at {dates[t].date()} for {assets[i]!r} changes {where}: it "
                    "reads rows after its date (a centred window, a statistic over the whole sample, a shift the "
                    "wrong way)", 0)
        known = c - h - 1  # labels whose prices (up to t + 1 + h) are known at the cut
        diff = _first_difference(full.labels[:known + 1], cut.labels[:known + 1])
        if diff is not None:
            t, i = diff
            return f"the label at {dates[t].date()} for {assets[i]!r} changes {where}", 0
        train, _ = training_dates(c, strategy, **dated(strategy, full.panel.dates))
        a, b = full.fit_transform(train), cut.fit_transform(train)
        if a is not None and a.median is not None and not (np.array_equal(a.median, b.median)
                                                           and np.array_equal(a.scale, b.scale)):
            return (f"the window normalisation fitted for the retrain at {dates[c].date()} changes {where}: it is "
                    "fitted on data after the training window", 0)
    return None, len(full.feature_names)


def scrambled_after(panel: Panel, bar: int, seed: int = 0) -> Panel:
    """The panel with every value after ``bar`` replaced (prices and factors times random factors, same gaps):
    the same calendar, so a run over a span ending at ``bar`` decides on the same bars."""
    out = panel.slice_dates()
    out.values = panel.values.copy()
    rng = np.random.default_rng(seed)
    out.values[bar + 1:] *= np.exp(rng.normal(0.0, 0.5, out.values[bar + 1:].shape))
    return out


@timed
def scores(strategy_cls: type[Strategy], overrides: dict, panel: Panel, plugins, span_bars: int = 40) -> Check:
    """The strategy's own model scores a short span the same whatever the data after the span holds."""
    from ..backtest import run_backtest

    strategy = strategy_cls(**overrides)
    calendar = WalkForward.of(strategy, panel.dates)
    start = calendar.t0
    end = min(calendar.t1, start + span_bars)
    span = {"test_start": str(panel.dates[start].date()), "test_end": str(panel.dates[end].date()), "cache": False}
    kwargs = {**overrides, **span}
    cols = ["date", "asset", "score"]
    a = run_backtest(strategy_cls, data=panel, plugins=plugins, progress=False, **kwargs).scores[cols]
    b = run_backtest(strategy_cls, data=scrambled_after(panel, end), plugins=plugins, progress=False,
                     **kwargs).scores[cols]
    merged = a.merge(b, on=["date", "asset"], how="outer", suffixes=("", "_other"), indicator=True)
    same = (merged["score"] == merged["score_other"]) | (merged["score"].isna() & merged["score_other"].isna())
    bad = merged[(merged["_merge"] != "both") | ~same]  # NaN in both: a window without data, unscored in both
    if len(bad):
        first = bad.iloc[0]
        return Check("scores", False, f"the model's score at {pd.Timestamp(first['date']).date()} for "
                     f"{first['asset']!r} changes when the data after {panel.dates[end].date()} changes")
    return Check("scores", True, f"{len(a)} scores from {span['test_start']} to {span['test_end']} equal whatever the "
                 "data after the span holds")


@timed
def canaries(strategy_cls: type[Strategy], overrides: dict, panel: Panel, plugins, feature_sets,
             span_bars: int = 120, strong: float = 0.5) -> Check:
    """Tomorrow's return as a feature gives no edge; the label itself gives a strong one (the control).

    "No edge" is |rank IC| < max(0.1, 0.5 / sqrt(h)): a pipeline that reads one bar ahead turns tomorrow's
    return into one of the label's h bars, a rank IC of about 1 / sqrt(h); real returns' short-term reversal
    alone gives about -0.09 on the CSI 300's daily bars, which must not fail a clean strategy."""
    from ..backtest import run_backtest
    from ..hookspecs import hookimpl
    from .canary import CanaryModel, with_canary

    class Plugin:
        @staticmethod
        @hookimpl
        def register_models(register):
            register("audit_canary", CanaryModel)

    strategy = strategy_cls(**overrides)
    no_edge = max(0.1, 0.5 / np.sqrt(strategy.horizon))
    calendar = WalkForward.of(strategy, panel.dates)
    end = min(calendar.t1, calendar.t0 + span_bars)
    span = {"test_start": str(panel.dates[calendar.t0].date()), "test_end": str(panel.dates[end].date()),
            "cache": False, "retrain": None}
    found = {}
    for kind in ("tomorrow", "label"):
        cls = with_canary(strategy_cls, kind, feature_sets)
        kwargs = {k: v for k, v in {**overrides, **span}.items() if k not in ("model", "model_params", "factors")}
        res = run_backtest(cls, data=panel, plugins=[*plugins, Plugin], progress=False, **kwargs)
        found[kind] = res.metrics["rank_ic"]
    ok = abs(found["tomorrow"]) < no_edge and found["label"] > strong
    detail = (f"tomorrow's return as a feature: rank IC {found['tomorrow']:+.3f} (must stay within "
              f"+-{no_edge:.2f}); "
              f"the label itself: rank IC {found['label']:+.3f} (must exceed {strong}, or the audit could not see "
              "an edge)")
    if abs(found["tomorrow"]) >= no_edge:
        detail = "a feature known only tomorrow predicts the label: the pipeline reads ahead. " + detail
    elif found["label"] <= strong:
        detail = "the label itself gives no edge: the pipeline loses its features (the audit is blind). " + detail
    return Check("canaries", ok, detail, data=found)


@timed
def embargo(strategy: Strategy, recorder, dates: pd.DatetimeIndex, longest: int | None = None) -> Check:
    """Every prediction's first scored date is at least h + 1 bars after the latest sample its model saw (h the
    longest horizon the model trains on, auxiliary heads included)."""
    gaps = recorder.gaps()
    if not gaps:
        return Check("embargo", False, "the model was never fitted and used: nothing to check")
    need = (longest or strategy.horizon) + 1
    worst = min(gaps)
    if worst < need:
        return Check("embargo", False, f"a model scored {worst} bar(s) after the latest sample it trained on; labels "
                     f"need {need} (the longest horizon + 1) to be known")
    return Check("embargo", True, f"{len(gaps)} prediction(s), each at least {worst} bars after the model's latest "
                 f"training or validation sample (horizon + 1 = {need})")


@timed
def data(strategy: Strategy, panel: Panel, report) -> Check:
    """The data as the run would take it: the data-quality scan (``report``, made with the strategy's thresholds)
    under its ``data_policy``, and whether the benchmark's return over the test span rests on a few bars (the
    run's concentration check). Errors the run keeps ("warn") or a concentrated benchmark warn; errors the run
    would refuse fail; masked errors pass, named."""
    from ..backtest.dataset import benchmark_prices
    from ..engine.market import equal_weight_benchmark
    from ..metrics import periods_per_year
    from ..metrics.concentration import concentration

    errors, warnings_ = _levels(report)
    policy = strategy.data_policy
    calendar = WalkForward.of(strategy, panel.dates)
    span = slice(calendar.t0 + 1, calendar.t1 + 2)
    bench = benchmark_prices(strategy, panel)
    if bench is None:
        r = equal_weight_benchmark(panel.close, np.asarray(strategy.universe(panel), dtype=bool))
    else:
        b = np.asarray(bench, dtype=np.float64)
        r = np.r_[np.nan, b[1:] / b[:-1] - 1.0]
    found = concentration(pd.Series(r[span], index=panel.dates[span]), periods_per_year(panel.dates))
    parts = [f"{errors} error(s), {warnings_} warning(s) in the data (data_policy={policy!r})"]
    state = "pass"
    if errors and policy == "refuse":
        state = "fail"
        parts.append("the run would refuse this data")
    elif errors and policy == "warn":
        state = "warn"
        parts.append("the run uses the flagged prices as they are: `seqalpha data check` lists them; "
                     "data_policy='mask' leaves them out")
    elif errors:
        parts.append("the run masks them")
    if warnings_ and state == "pass":
        state = "warn"
    if found["concentrated"]:
        state = "fail" if state == "fail" else "warn"
        bars = ", ".join(f"{b['date']} {b['return']:+.2%}" for b in found["bars"])
        parts.append(f"the benchmark's annual return {found['annual_return']:+.2%} over the test span is "
                     f"{found['without']:+.2%} without its {len(found['bars'])} largest bars ({bars})")
    return Check("data", state, "; ".join(parts),
                 data={"errors": errors, "warnings": warnings_, "policy": policy, "concentration": found})


def _levels(report) -> tuple[int, int]:
    """(errors, warnings) among a scan's findings."""
    levels = [f.level for f in report.findings]
    return levels.count("error"), levels.count("warning")
