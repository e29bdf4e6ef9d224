"""Write tests/fixtures/qlib_ops/: a tiny Qlib-format folder and pyqlib's own values of every operator on it.

Run in a virtualenv with pyqlib 0.9.7 (never a seqalpha dependency):
    python -m venv /tmp/venv-qlib && /tmp/venv-qlib/bin/pip install pyqlib==0.9.7
    /tmp/venv-qlib/bin/python benchmarks/make_qlib_operator_reference.py
The folder holds 4 instruments over 120 days: one listed late, one delisted early, one with a suspension
(volume 0, price carried), and a field ``x`` with NaNs inside its series. ``expected.csv`` has one column per
expression of EXPRESSIONS (tests/test_expr_operators.py reads both).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "qlib_ops"
DAYS = 120
FIELDS = ("open", "high", "low", "close", "volume", "x")
#: code -> (first day, last day) within the calendar
SPANS = {"SH600000": (0, DAYS - 1), "SH600001": (30, DAYS - 1), "SZ000001": (0, 80), "SZ000002": (0, DAYS - 1)}

EXPRESSIONS = [
    "Ref($close, 1)", "Ref($close, 5)", "Delta($close, 3)", "Delta($x, 2)",
    "Mean($close, 5)", "Mean($x, 5)", "Mean($close, 0)", "Sum($volume, 10)", "Sum($x, 5)",
    "Std($close, 5)", "Std($x, 5)", "Std($volume, 5)", "Var($close, 10)", "Var($x, 5)",
    "Skew($close, 10)", "Skew($x, 5)", "Kurt($close, 10)", "Kurt($x, 6)",
    "Max($high, 5)", "Max($x, 5)", "Min($low, 10)", "Min($x, 5)",
    "IdxMax($high, 5)", "IdxMax($x, 5)", "IdxMin($low, 10)", "IdxMin($x, 5)",
    "Quantile($close, 10, 0.3)", "Quantile($x, 5, 0.8)", "Med($close, 5)", "Med($x, 6)",
    "Mad($close, 10)", "Mad($x, 5)", "Rank($close, 10)", "Rank($x, 5)", "Count($x, 5)", "Count($x, 10)",
    "Slope($close, 10)", "Slope($x, 5)", "Slope($close, 0)", "Rsquare($close, 10)", "Rsquare($x, 5)",
    "Resi($close, 10)", "Resi($x, 5)",
    "WMA($close, 5)", "WMA($x, 5)", "EMA($close, 10)", "EMA($x, 5)", "EMA($close, 0.3)",
    "Corr($close, $volume, 10)", "Corr($x, $close, 5)", "Cov($close, $volume, 10)", "Cov($x, $close, 5)",
    "Abs($x)", "Sign($x)", "Log($volume+1)", "Power($close, 2)", "Greater($open, $close)", "Less($open, $close)",
    "If($close>$open, $high, $low)", "$close>$open", "$close>=Ref($close, 1)", "$close<$open",
    "$close<=Ref($close, 1)", "$close==Ref($close, 1)", "$close!=Ref($close, 1)",
    "($close>$open)&($volume>1000)", "($close>$open)|($volume>1000)",
    "($close-$open)/($high-$low+1e-12)", "Mean($close>Ref($close, 1), 5)", "Std(Abs($close/Ref($close, 1)-1)*$volume, 5)",
]


def make_folder() -> pd.DatetimeIndex:
    rng = np.random.default_rng(21)
    cal = pd.bdate_range("2020-01-01", periods=DAYS)
    (ROOT / "calendars").mkdir(parents=True, exist_ok=True)
    (ROOT / "instruments").mkdir(exist_ok=True)
    (ROOT / "calendars" / "day.txt").write_text("".join(f"{d.date()}\n" for d in cal))
    (ROOT / "instruments" / "all.txt").write_text("".join(
        f"{c}\t{cal[a].date()}\t{cal[b].date()}\n" for c, (a, b) in SPANS.items()))
    for k, (code, (a, b)) in enumerate(SPANS.items()):
        n = b - a + 1
        close = 10 * (k + 1) * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
        open_ = close * np.exp(rng.normal(0, 0.01, n))
        high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.01, n)))
        low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.01, n)))
        volume = rng.lognormal(8, 1, n).round()
        x = rng.normal(0, 1, n)
        x[rng.random(n) < 0.15] = np.nan
        if code == "SZ000002":  # suspended 8 days: volume 0, prices carried
            volume[40:48] = 0
            close[40:48] = close[39]
            open_[40:48] = high[40:48] = low[40:48] = close[39]
            x[60:68] = 1.5  # a flat stretch
        folder = ROOT / "features" / code.lower()
        folder.mkdir(parents=True, exist_ok=True)
        for name, v in zip(FIELDS, (open_, high, low, close, volume, x)):
            np.hstack([[a], v]).astype("<f4").tofile(folder / f"{name}.day.bin")
    return cal


def main() -> None:
    cal = make_folder()
    import qlib
    from qlib.data import D

    qlib.init(provider_uri=str(ROOT), region="cn", kernels=1, expression_cache=None, dataset_cache=None)
    df = D.features(D.instruments("all"), EXPRESSIONS, start_time=str(cal[0].date()), end_time=str(cal[-1].date()))
    df = df.reset_index().rename(columns={"instrument": "asset", "datetime": "date"})
    df.to_csv(ROOT / "expected.csv", index=False, float_format="%.9g")
    print(f"wrote {ROOT / 'expected.csv'}: {df.shape}, qlib {qlib.__version__}, pandas {pd.__version__}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
