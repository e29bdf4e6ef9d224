"""Qlib's Alpha158 factors as expressions (``Alpha158DL.get_feature_config`` with the Alpha158 handler's config).

158 factors under Qlib's names: 9 K-bar shapes (KMID ... KSFT2), today's open, high, low and vwap over the
close (OPEN0 ... VWAP0), and 29 rolling groups (ROC, MA, STD, BETA, RSQR, RESI, MAX, MIN, QTLU, QTLD,
RANK, RSV, IMAX, IMIN, IMXD, CORR, CORD, CNTP, CNTN, CNTD, SUMP, SUMN, SUMD, VMA, VSTD, WVMA, VSUMP, VSUMN,
VSUMD) over 5, 10, 20, 30 and 60 bars. Data without a ``vwap`` field (the CSI 300 folder, for one) gets
the other 157: ``VWAP0`` is left out rather than filled with NaN (docs/factors.md).
"""

from __future__ import annotations

from seqalpha.data import Panel
from seqalpha.feature_sets import FeatureSet

WINDOWS = (5, 10, 20, 30, 60)


def alpha158_expressions(vwap: bool = True, windows: tuple[int, ...] = WINDOWS) -> dict[str, str]:
    """{name: expression} of Alpha158, in Qlib's order; ``vwap=False`` leaves out VWAP0."""
    f: dict[str, str] = {
        "KMID": "($close-$open)/$open",
        "KLEN": "($high-$low)/$open",
        "KMID2": "($close-$open)/($high-$low+1e-12)",
        "KUP": "($high-Greater($open, $close))/$open",
        "KUP2": "($high-Greater($open, $close))/($high-$low+1e-12)",
        "KLOW": "(Less($open, $close)-$low)/$open",
        "KLOW2": "(Less($open, $close)-$low)/($high-$low+1e-12)",
        "KSFT": "(2*$close-$high-$low)/$open",
        "KSFT2": "(2*$close-$high-$low)/($high-$low+1e-12)",
    }
    for field in ("open", "high", "low", "vwap"):
        if field != "vwap" or vwap:
            f[f"{field.upper()}0"] = f"${field}/$close"
    groups = {
        "ROC": "Ref($close, {d})/$close",
        "MA": "Mean($close, {d})/$close",
        "STD": "Std($close, {d})/$close",
        "BETA": "Slope($close, {d})/$close",
        "RSQR": "Rsquare($close, {d})",
        "RESI": "Resi($close, {d})/$close",
        "MAX": "Max($high, {d})/$close",
        "MIN": "Min($low, {d})/$close",
        "QTLU": "Quantile($close, {d}, 0.8)/$close",
        "QTLD": "Quantile($close, {d}, 0.2)/$close",
        "RANK": "Rank($close, {d})",
        "RSV": "($close-Min($low, {d}))/(Max($high, {d})-Min($low, {d})+1e-12)",
        "IMAX": "IdxMax($high, {d})/{d}",
        "IMIN": "IdxMin($low, {d})/{d}",
        "IMXD": "(IdxMax($high, {d})-IdxMin($low, {d}))/{d}",
        "CORR": "Corr($close, Log($volume+1), {d})",
        "CORD": "Corr($close/Ref($close,1), Log($volume/Ref($volume, 1)+1), {d})",
        "CNTP": "Mean($close>Ref($close, 1), {d})",
        "CNTN": "Mean($close<Ref($close, 1), {d})",
        "CNTD": "Mean($close>Ref($close, 1), {d})-Mean($close<Ref($close, 1), {d})",
        "SUMP": "Sum(Greater($close-Ref($close, 1), 0), {d})/(Sum(Abs($close-Ref($close, 1)), {d})+1e-12)",
        "SUMN": "Sum(Greater(Ref($close, 1)-$close, 0), {d})/(Sum(Abs($close-Ref($close, 1)), {d})+1e-12)",
        "SUMD": "(Sum(Greater($close-Ref($close, 1), 0), {d})-Sum(Greater(Ref($close, 1)-$close, 0), {d}))"
                "/(Sum(Abs($close-Ref($close, 1)), {d})+1e-12)",
        "VMA": "Mean($volume, {d})/($volume+1e-12)",
        "VSTD": "Std($volume, {d})/($volume+1e-12)",
        "WVMA": "Std(Abs($close/Ref($close, 1)-1)*$volume, {d})/(Mean(Abs($close/Ref($close, 1)-1)*$volume, {d})"
                "+1e-12)",
        "VSUMP": "Sum(Greater($volume-Ref($volume, 1), 0), {d})/(Sum(Abs($volume-Ref($volume, 1)), {d})+1e-12)",
        "VSUMN": "Sum(Greater(Ref($volume, 1)-$volume, 0), {d})/(Sum(Abs($volume-Ref($volume, 1)), {d})+1e-12)",
        "VSUMD": "(Sum(Greater($volume-Ref($volume, 1), 0), {d})-Sum(Greater(Ref($volume, 1)-$volume, 0), {d}))"
                 "/(Sum(Abs($volume-Ref($volume, 1)), {d})+1e-12)",
    }
    for group, template in groups.items():
        for d in windows:
            f[f"{group}{d}"] = template.format(d=d)
    return f


def expressions_for(panel: Panel) -> dict[str, str]:
    """Alpha158 for this panel: VWAP0 only when the data has a ``vwap`` field."""
    return alpha158_expressions(vwap=panel.has("vwap"))


def alpha158(panel: Panel, universe=None, out=None) -> FeatureSet:
    """Qlib's Alpha158 (158 factors; 157 without vwap data), computed as Qlib computes them."""
    from seqalpha.features.expr_engine import evaluate

    return evaluate(expressions_for(panel), panel, universe, out, where="feature set 'alpha158'")


alpha158.expressions_for = expressions_for  # Dataset merges these with a strategy's own expressions
