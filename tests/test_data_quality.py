"""The data-quality scan (framework/data/quality.py) and data_policy: planted errors are found, genuine moves are
not, "mask" keeps a bad tick out of every return, "refuse" stops in one line, the run directory and report say so."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seqalpha import Strategy, panel_from_frame, run_backtest
from seqalpha.cli import main
from seqalpha.data.quality import DataQualityError, DataQualityWarning, apply_policy, scan
from seqalpha.engine import equal_weight_benchmark
from seqalpha.report.sections import SECTIONS, section_data_quality
from seqalpha.resolved import resolve_run
from seqalpha.runs.reader import load_run

ROOT = Path(__file__).resolve().parents[1]


def bars(n_dates: int = 200, n_assets: int = 12, seed: int = 0, sd: float = 0.02) -> pd.DataFrame:
    """A long table of consistent OHLCV bars (random walks), volume around 1e6."""
    rng = np.random.default_rng(seed)
    close = 50.0 * np.exp(np.cumsum(rng.standard_normal((n_dates, n_assets)) * sd, axis=0))
    wide = {"close": close, "open": close * (1 + rng.uniform(-0.005, 0.005, close.shape))}
    wide["high"] = np.maximum(wide["close"], wide["open"]) * 1.01
    wide["low"] = np.minimum(wide["close"], wide["open"]) * 0.99
    wide["volume"] = rng.uniform(0.8e6, 1.2e6, close.shape)
    dates = pd.bdate_range("2020-01-01", periods=n_dates)
    frame = pd.DataFrame({"date": np.repeat(dates, n_assets),
                          "asset": np.tile([f"A{i:02d}" for i in range(n_assets)], n_dates)})
    for name, values in wide.items():
        frame[name] = values.ravel()
    return frame


def edit(frame: pd.DataFrame, asset: str, rows, **scale) -> pd.DataFrame:
    """Multiply fields of ``asset`` on the bars ``rows`` (positions in its own series) by the given factors."""
    out = frame.copy()
    idx = out.index[out["asset"] == asset][rows]
    for name, factor in scale.items():
        out.loc[idx, name] *= factor
    return out


def kinds(panel) -> list[tuple[str, str, str]]:
    return [(f.kind, f.asset, f.date) for f in scan(panel).findings]


def day(i: int) -> str:
    return str(pd.bdate_range("2020-01-01", periods=i + 1)[-1].date())


def test_one_bar_spikes_are_found_with_asset_date_and_neighbours():
    frame = edit(edit(bars(), "A03", [100], close=100.0), "A07", [50], close=0.01, open=0.01, high=0.01, low=0.01)
    report = scan(panel_from_frame(frame))
    spikes = [f for f in report.findings if f.kind == "spike"]
    assert {(f.asset, f.date) for f in spikes} == {("A03", day(100)), ("A07", day(50))}
    a03 = next(f for f in spikes if f.asset == "A03")
    assert a03.level == "error" and a03.detail["ratio"] > 50 and a03.detail["prev_date"] == day(99)
    assert next(f for f in spikes if f.asset == "A07").field == "close,open,high,low"  # one finding per bar


def test_genuine_moves_are_not_flagged():
    """A -40% and a -70% crash that do not revert, China's +-10% limit moves back and forth, a +-20% board's,
    a suspension with a carried price (volume 0), a new listing's first days: no finding."""
    frame = bars()
    frame = edit(frame, "A01", slice(80, None), close=0.6, open=0.6, high=0.6, low=0.6)
    frame = edit(frame, "A02", slice(80, None), close=0.3, open=0.3, high=0.3, low=0.3)
    for k in range(60, 70, 2):  # limit up, limit down, ...
        frame = edit(frame, "A04", [k], close=1.1, high=1.1)
        frame = edit(frame, "A05", [k], close=1.2, high=1.2)
        frame = edit(frame, "A06", [k], close=0.9, low=0.9)
    a08 = frame.index[frame["asset"] == "A08"]
    frame.loc[a08[120:135], ["close", "open", "high", "low"]] = frame.loc[a08[119], "close"]
    frame.loc[a08[120:135], "volume"] = 0.0  # suspended, the price carried
    new = frame.index[frame["asset"] == "A09"]
    frame = frame.drop(new[:100])  # lists on bar 100 ...
    frame.loc[new[100], ["close", "high"]] *= 1.44  # ... with China's +44% first-day limit
    assert kinds(panel_from_frame(frame)) == []


def test_an_unadjusted_split_is_found_unless_the_prices_are_adjusted():
    frame = edit(bars(), "A02", slice(120, None), close=0.5, open=0.5, high=0.5, low=0.5, volume=2.0)
    panel = panel_from_frame(frame)
    found = [f for f in scan(panel).findings if f.kind == "split"]
    assert [(f.asset, f.date) for f in found] == [("A02", day(120))]
    assert found[0].detail["ratio"] == 0.5 and 1.5 < found[0].detail["volume_ratio"] < 2.5
    masked = apply_policy(panel, scan(panel), "mask")  # mask: the asset's prices before the step
    assert np.isnan(masked.field("close")[:120, 2]).all() and np.isfinite(masked.field("close")[120:, 2]).all()
    panel.meta["adjusted"] = True
    assert [f for f in scan(panel).findings if f.kind == "split"] == []
    # a -50% crash on a volume surge that fades is not a split
    crash = bars()
    crash = edit(crash, "A02", slice(120, None), close=0.5, open=0.5, high=0.5, low=0.5)
    crash = edit(crash, "A02", [120, 121], volume=8.0)
    assert kinds(panel_from_frame(crash)) == []


def test_stale_prices_with_volume_are_found_suspensions_are_not():
    frame = bars()
    a = frame.index[frame["asset"] == "A05"]
    frame.loc[a[30:45], ["close", "open", "high", "low"]] = 42.0  # 15 bars, volume still positive
    b = frame.index[frame["asset"] == "A06"]
    frame.loc[b[30:45], ["close", "open", "high", "low"]] = 42.0
    frame.loc[b[30:45], "volume"] = 0.0  # suspended: not stale
    found = scan(panel_from_frame(frame)).findings
    assert [(f.kind, f.asset, f.date, f.level, f.detail["bars"]) for f in found] == [
        ("stale", "A05", day(30), "warning", 15)]


def test_impossible_bars_are_found():
    frame = bars()
    frame = edit(frame, "A01", [10], high=0.9)  # high below low
    frame = edit(frame, "A02", [20], close=1.05)  # close above high (5%: no spike)
    a = frame.index[frame["asset"] == "A03"]
    frame.loc[a[30], "volume"] = -5.0
    found = {(f.asset, f.date): f.detail["why"] for f in scan(panel_from_frame(frame)).findings}
    assert found == {("A01", day(10)): "high < low", ("A02", day(20)): "close outside [low, high]",
                     ("A03", day(30)): "volume < 0"}


def test_extreme_factor_values_are_reported_never_masked():
    frame = bars()
    frame["f1"] = np.random.default_rng(1).standard_normal(len(frame))
    frame.loc[frame.index[(frame["asset"] == "A04")][70], "f1"] = 500.0
    panel = panel_from_frame(frame)
    report = scan(panel)
    assert [(f.kind, f.asset, f.date, f.level) for f in report.findings] == [
        ("extreme_factor", "A04", day(70), "warning")]
    assert apply_policy(panel, report, "mask") is panel  # warnings are reported only
    assert apply_policy(panel, report, "refuse") is panel


def test_the_warning_lists_counts_and_the_worst_five():
    frame = bars()
    for k, asset in enumerate(["A00", "A01", "A02", "A03", "A04", "A05", "A06"]):
        frame = edit(frame, asset, [40 + k], close=3.0 + k)
    from seqalpha.data.quality import prepare

    with pytest.warns(DataQualityWarning) as caught:
        prepare(panel_from_frame(frame), "warn")
    assert len(caught) == 1
    text = str(caught[0].message)
    assert "7 finding(s) (7 spike)" in text and "7 error(s)" in text  # not also "impossible": one per bar
    worst = [line for line in text.splitlines() if line.startswith("  error: ")]
    assert len(worst) == 5 and "A06" in worst[0] and "prev" in worst[0] and "next" in worst[0]  # x9 is the worst


class Spiky(Strategy):
    model = "linear"
    window = 5
    horizon = 1
    min_train_bars = 60
    retrain = "QS"
    rebalance = 1
    portfolio_params = {"k": 6}
    cache = False


def spiked_frame() -> pd.DataFrame:
    """Every other asset's close x100 for one bar inside the test span: trading or valuing at it is a huge return."""
    frame = bars(n_dates=160)
    frame["noise"] = np.random.default_rng(2).standard_normal(len(frame))  # the model's input
    for i in range(0, 12, 2):
        frame = edit(frame, f"A{i:02d}", [130], close=100.0, high=100.0)
    return frame


def test_mask_never_books_a_return_through_a_bad_tick_warn_does(tmp_path):
    panel = panel_from_frame(spiked_frame())
    bench = equal_weight_benchmark(panel.close, panel.listed())
    assert np.abs(bench).max() > 10  # the planted ticks move the equal-weight benchmark by +4950%
    with pytest.warns(DataQualityWarning):
        warn = run_backtest(Spiky, data=panel_from_frame(spiked_frame()))
    assert warn.returns["benchmark"].abs().max() > 10
    with pytest.warns(DataQualityWarning, match="masked"):
        masked = run_backtest(Spiky, data=panel, data_policy="mask")
    assert masked.returns["strategy"].abs().max() < 0.2 and masked.returns["benchmark"].abs().max() < 0.2
    assert not (masked.weights["date"] == panel.dates[129]).empty  # decided the bar before: held through it
    masked.write(tmp_path / "run", report=False)  # what run_backtest(out=...) writes (the charts cost 2 s)
    dq = json.loads((tmp_path / "run" / "data_quality.json").read_text())
    assert dq["policy"] == "mask" and dq["counts"] == {"spike": 6} and len(dq["findings"]) == 6
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["data_quality"] == {"policy": "mask", "scan": dq["digest"]}
    assert ("data-quality", "Data quality", section_data_quality) in SECTIONS
    section = section_data_quality(load_run(tmp_path / "run"))
    assert "6 finding(s): 6 spike" in section and section.count("<tr>") == 7 and "A10" in section


def test_refuse_stops_in_one_line_with_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    path = tmp_path / "data.parquet"
    spiked_frame().to_parquet(path)
    strategy = tmp_path / "spiky.py"
    strategy.write_text("from tests.test_data_quality import Spiky\n\n\nclass SpikyCli(Spiky):\n    pass\n")
    code = main(["run", str(strategy), "--data", f"parquet:{path}", "--set", "data_policy=refuse", "-q",
                 "--out", str(tmp_path / "r")])
    err = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("[")]
    assert code == 2 and len(err) == 1 and "Traceback" not in err[0], err
    assert "data_policy='refuse'" in err[0] and "6 error(s); worst: spike A" in err[0] and "prev" in err[0]
    with pytest.raises(DataQualityError):
        run_backtest(Spiky, data=panel_from_frame(spiked_frame()), data_policy="refuse")


def test_the_policy_and_the_scan_are_identity_fields():
    warn, mask = resolve_run(Spiky), resolve_run(Spiky, {"data_policy": "mask"})
    assert warn.identity_digest(with_data=False) != mask.identity_digest(with_data=False)
    panel = panel_from_frame(bars())
    a = warn.with_data(panel, ["close"], quality_digest=scan(panel).digest)
    b = warn.with_data(panel, ["close"], quality_digest="0" * 64)
    assert a.identity_digest() != b.identity_digest()
    assert a.identity_digest(with_data=False) == b.identity_digest(with_data=False)
    with pytest.raises(Exception, match="data_policy must be"):
        Spiky(data_policy="drop")


def test_the_scan_is_silent_on_clean_data():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataQualityWarning)
        from seqalpha.data.quality import prepare

        prepare(panel_from_frame(bars()), "warn")


def test_a_result_recovers_under_mask_warn_is_far():
    """benchmarks/quality_recovery.py on a tiny panel: 3 x100 spikes move the equal-weight benchmark's annual
    return by more than 5 points under "warn"; "mask" brings it within 0.5 points of the clean panel's."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("quality_recovery", ROOT / "benchmarks" / "quality_recovery.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)

    class Tiny(bench.Recovery):
        min_train_bars = 40
        retrain = "YS"
        rebalance = 5  # the benchmark is rebalanced every bar whatever this is; fewer decisions are faster

    r = bench.recovery(0, assets=40, days=110, spikes=3, strategy=Tiny)
    assert len(r["cells"]) == 3
    assert abs(r["warn"]["benchmark"] - r["clean"]["benchmark"]) > 0.05
    assert abs(r["mask"]["benchmark"] - r["clean"]["benchmark"]) < 0.005


def test_a_result_resting_on_a_few_outsized_bars_warns_and_the_report_shows_them():
    """Concentration check: the spiked panel's equal-weight benchmark gains thousands of percent on the spike's
    bar; without its 5 largest bars the annual return collapses, so the run warns naming the bar, and the report's
    table lists it. An ordinary series whose best days halve a short span's return does not warn."""
    from seqalpha.backtest.run import ConcentrationWarning
    from seqalpha.metrics.concentration import concentration
    from seqalpha.report.sections import concentration_table

    with pytest.warns(ConcentrationWarning, match="benchmark's annual return") as caught:
        result = run_backtest(Spiky, data=panel_from_frame(spiked_frame()))
    message = str(next(w.message for w in caught if w.category is ConcentrationWarning))
    assert f"{day(130)} +" in message and "largest single-bar returns" in message
    table = concentration_table(result.returns.set_index("date"), result.metrics["periods_per_year"])
    assert "Concentrated: the" in table and day(130) in table and table.count("<tr>") == 3
    dates = pd.bdate_range("2020-01-01", periods=300)
    ordinary = pd.Series(np.random.default_rng(0).normal(0.0008, 0.013, 300), index=dates)
    c = concentration(ordinary, 252)
    assert c["flips_or_halves"] and not c["outsized"] and not c["concentrated"] and len(c["bars"]) == 5
    ordinary.iloc[200] = 0.9  # one bad-tick day
    assert concentration(ordinary, 252)["concentrated"]


def test_a_strategy_changes_the_thresholds_with_data_thresholds(tmp_path):
    """`data_thresholds` reaches the scan of a run (a 1.5x spike the default lets pass is masked at a lower jump),
    is an identity field, and a name that is not a threshold is refused with "did you mean" before any data."""
    from seqalpha.data.quality import prepare

    panel = panel_from_frame(edit(bars(), "A03", [100], close=1.5, open=1.5, high=1.5, low=1.5))
    assert not [f for f in scan(panel).findings if f.kind == "spike"]
    loose = Spiky(data_thresholds={"spike_min_jump": 0.3, "spike_sigmas": 3.0}, data_policy="mask")
    masked, report = prepare(panel, loose.data_policy, warn=False, thresholds=loose.quality_thresholds())
    assert [(f.kind, f.asset, f.date) for f in report.findings if f.kind == "spike"] == [("spike", "A03", day(100))]
    assert np.isnan(masked.close[100, list(panel.assets).index("A03")])
    assert resolve_run(Spiky).identity_digest(with_data=False) != \
        resolve_run(Spiky, {"data_thresholds": {"spike_sigmas": 3.0}}).identity_digest(with_data=False)
    with pytest.raises(Exception, match="not a threshold of the data-quality scan. Did you mean 'spike_sigmas'"):
        Spiky(data_thresholds={"spike_sigma": 3.0})
    with pytest.raises(Exception, match="must be a positive int"):
        Spiky(data_thresholds={"stale_bars": 2.5})


def test_the_audit_reports_the_data_as_the_run_takes_it():
    """`seqalpha audit`'s "data" check: errors the run would keep warn (with the benchmark's concentration named),
    masked errors pass, errors the run would refuse fail; clean data passes."""
    from seqalpha.audit import checks
    from seqalpha.data.quality import prepare

    spiked = panel_from_frame(spiked_frame())
    results = {}
    for policy in ("warn", "mask", "refuse"):
        strategy = Spiky(data_policy=policy)
        panel, report = prepare(spiked, "warn" if policy == "refuse" else policy, warn=False)
        results[policy] = checks.data(strategy, panel, report)
    assert results["warn"].state == "warn" and "uses the flagged prices" in results["warn"].detail
    assert results["warn"].data["concentration"]["concentrated"] and "largest bars" in results["warn"].detail
    assert results["mask"].state == "pass" and "masks them" in results["mask"].detail
    assert results["refuse"].state == "fail" and "would refuse" in results["refuse"].detail
    clean = panel_from_frame(bars(n_dates=160))
    assert checks.data(Spiky(), clean, scan(clean)).state == "pass"
