"""The run report and the run listing work from a run directory of plain files alone, and render in a browser."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from plotly.offline import get_plotlyjs

from seqalpha.report import build_report
from seqalpha.runs import compare_runs, format_table, list_runs

ALL_CHARTS = {
    "equity", "excess", "drawdown", "ic", "ic_hist", "ic_cumulative", "quantile_returns", "quantile_spread",
    "turnover", "holdings", "training_loss", "clip_rate", "gradient_flow",
}
OPTIONAL_CHARTS = {"training_loss", "clip_rate", "gradient_flow"}
N_DATES, N_ASSETS, HORIZON = 60, 20, 5


def make_fake_run(path: Path, seed: int = 0, *, created: str = "2024-05-01T12:00:00",
                  strategy: str = "LstmTopK", model: str = "lstm") -> Path:
    """Write a small but complete run directory (60 dates x 20 assets) the way the engine does."""
    rng = np.random.default_rng(seed)
    path.mkdir(parents=True, exist_ok=True)
    dates = pd.bdate_range("2020-01-02", periods=N_DATES)
    assets = [f"A{i:02d}" for i in range(N_ASSETS)]
    score = rng.normal(size=(N_DATES, N_ASSETS))
    label = 0.003 * score + rng.normal(scale=0.01, size=score.shape)
    label -= label.mean(axis=1, keepdims=True)
    label[-HORIZON:] = np.nan
    scores = pd.DataFrame({"date": np.repeat(dates, N_ASSETS), "asset": np.tile(assets, N_DATES),
                           "score": score.ravel().astype("float32"), "label": label.ravel()})
    scores.to_parquet(path / "scores.parquet")

    known = scores.dropna(subset=["label"]).groupby("date")
    ic = pd.DataFrame({
        "ic": known.apply(lambda g: g["score"].corr(g["label"])),
        "rank_ic": known.apply(lambda g: g["score"].corr(g["label"], method="spearman")),
    }).rename_axis("date").reset_index()
    ic.to_parquet(path / "ic.parquet")

    rebalance_dates = dates[::5]
    top = scores[scores["date"].isin(rebalance_dates)].sort_values("score", ascending=False)
    weights = top.groupby("date").head(5).assign(weight=0.2)[["date", "asset", "weight"]]
    weights.sort_values(["date", "asset"]).to_parquet(path / "weights.parquet", index=False)
    rebalances = pd.DataFrame({"date": rebalance_dates, "turnover": rng.uniform(0.2, 0.8, len(rebalance_dates)),
                               "n_holdings": rng.integers(4, 6, len(rebalance_dates))})
    rebalances.loc[0, "turnover"] = 1.0
    rebalances.to_parquet(path / "rebalances.parquet", index=False)

    returns = pd.DataFrame({"date": dates, "strategy": rng.normal(0.0008, 0.012, N_DATES),
                            "benchmark": rng.normal(0.0003, 0.010, N_DATES)})
    returns.to_parquet(path / "returns.parquet", index=False)

    retrains = dates[[0, 20, 40]]
    rows = []
    for r, rdate in enumerate(retrains):
        for s in range(2):
            for epoch in range(1, 9 - 2 * s):  # seeds stop early at different epochs; counted from 1
                rows.append({"retrain_date": rdate, "seed": s, "epoch": epoch,
                             "train_loss": 1.0 / epoch + 0.1 * r + 0.05 * s,
                             "valid_loss": 0.5 + 0.02 * (epoch - 5 + s) ** 2 + 0.1 * r,
                             "clip_rate": max(0.0, 0.68 - 0.08 * epoch - 0.1 * r + 0.05 * s),
                             "chosen": epoch == 5 - s})  # as the engine writes it: the epoch whose weights were kept
    pd.DataFrame(rows).to_parquet(path / "training.parquet", index=False)
    lags = np.arange(20)
    grad = pd.DataFrame([{"retrain_date": rdate, "lag": lag, "grad_norm": float(np.exp(-0.2 * lag) * (1 + r)),
                          "model": model} for r, rdate in enumerate(retrains) for lag in lags])
    grad.to_parquet(path / "gradient_flow.parquet", index=False)

    strat = returns["strategy"]
    equity = (1 + strat).cumprod()
    metrics = {
        "ic": float(ic["ic"].mean()), "rank_ic": float(ic["rank_ic"].mean()),
        "icir": float(ic["ic"].mean() / ic["ic"].std()), "rank_icir": float(ic["rank_ic"].mean() / ic["rank_ic"].std()),
        "annual_return": float(equity.iloc[-1] ** (252 / N_DATES) - 1),
        "annual_volatility": float(strat.std() * np.sqrt(252)),
        "sharpe": float(strat.mean() / strat.std() * np.sqrt(252)),
        "max_drawdown": float((equity / equity.cummax() - 1).min()),
        "benchmark_annual_return": 0.05, "excess_annual_return": 0.02, "information_ratio": 0.4,
        "turnover": 25.0, "turnover_per_rebalance": 0.5, "n_rebalances": len(rebalance_dates), "n_retrains": 3,
        "n_assets": N_ASSETS,
        "seconds": {"data": 0.1, "train": 2.0, "predict": 0.2, "simulate": 0.3, "total": 2.6},
    }
    (path / "metrics.json").write_text(json.dumps(metrics))
    config = {
        "strategy": strategy, "strategy_file": "strategies/lstm_topk.py", "data": "synthetic",
        "params": {"model": model, "model_params": {"hidden_size": 64, "num_layers": 2}, "window": 60,
                   "horizon": HORIZON, "rebalance": "W", "retrain": "QS", "portfolio": "topk",
                   "portfolio_params": {"k": 5}, "fees": 0.0015},
        "span": [str(dates[0].date()), str(dates[-1].date())], "created": created, "seed": seed,
    }
    (path / "config.json").write_text(json.dumps(config))
    return path


def chart_names(text: str) -> set[str]:
    """The data-name of every sa-chart div in a page."""
    return set(re.findall(r'<div class="sa-chart" data-name="([^"]+)"', text))


def assert_self_contained(text: str) -> None:
    """No external scripts or styles, and plotly.js inlined exactly once."""
    assert not re.search(r'<script[^>]+src=', text)
    assert '<link rel="stylesheet"' not in text
    assert text.count(get_plotlyjs()[:60]) == 1


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return make_fake_run(tmp_path / "run_a", seed=0)


def test_report_is_self_contained_and_has_every_chart(run_dir: Path) -> None:
    path = build_report(run_dir)
    assert path == run_dir / "report.html" and path.exists()
    text = path.read_text(encoding="utf-8")
    assert_self_contained(text)
    assert chart_names(text) == ALL_CHARTS
    assert 'class="sa-error"' not in text
    assert "kept epoch" in text
    for shown in ("LstmTopK", "hidden_size", "portfolio_params", "2020-01-02", "ddof=1", "238", "seconds.total"):
        assert shown in text, shown


def test_report_counts_epochs_from_one_even_for_runs_written_from_zero(run_dir: Path) -> None:
    """training.parquet counts epochs from 1; a run written before (from 0) is shown counted from 1 too."""
    from seqalpha.report.sections import training_summary

    train = pd.read_parquet(run_dir / "training.parquet")
    new = training_summary(train)
    assert set(new["kept epoch"]) == {"4, 5"} and set(new["epochs run"]) == {8}
    pd.testing.assert_frame_equal(training_summary(train.assign(epoch=train["epoch"] - 1)), new)


def test_report_without_optional_files(run_dir: Path) -> None:
    (run_dir / "training.parquet").unlink()
    (run_dir / "gradient_flow.parquet").unlink()
    text = build_report(run_dir).read_text(encoding="utf-8")
    assert chart_names(text) == ALL_CHARTS - OPTIONAL_CHARTS
    assert "No training curves" in text and "No gradient_flow.parquet" in text
    assert 'class="sa-error"' not in text


def test_report_survives_missing_and_broken_files(run_dir: Path, tmp_path: Path) -> None:
    for name in ("scores", "rebalances", "ic"):
        (run_dir / f"{name}.parquet").unlink()
    (run_dir / "metrics.json").unlink()
    (run_dir / "returns.parquet").write_text("not parquet")
    out = build_report(run_dir, out=tmp_path / "elsewhere.html")
    text = out.read_text(encoding="utf-8")
    assert chart_names(text) == OPTIONAL_CHARTS
    assert "No scores.parquet" in text and "returns.parquet could not be read" in text


def test_report_without_model_column_or_chosen_flag(run_dir: Path) -> None:
    pd.read_parquet(run_dir / "gradient_flow.parquet").drop(columns="model").to_parquet(
        run_dir / "gradient_flow.parquet")
    pd.read_parquet(run_dir / "training.parquet").drop(columns=["chosen", "clip_rate"]).to_parquet(
        run_dir / "training.parquet")
    text = build_report(run_dir).read_text(encoding="utf-8")
    assert chart_names(text) == ALL_CHARTS - {"clip_rate"}
    assert 'class="sa-error"' not in text


def test_report_of_a_missing_directory_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no run directory"):
        build_report(tmp_path / "nope")


@pytest.fixture
def runs_root(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    make_fake_run(root / "old", seed=1, created="2024-01-01T09:00:00")
    make_fake_run(root / "new", seed=2, created="2024-03-01T09:00:00+00:00", model="gru")
    make_fake_run(root / "group" / "mid", seed=3, created="2024-02-01T09:00:00")
    (root / "unfinished").mkdir()
    (root / "unfinished" / "config.json").write_text("{}")
    return root


def test_list_runs_newest_first_and_sortable(runs_root: Path) -> None:
    table = list_runs(runs_root)
    assert list(table["run"]) == ["new", "group/mid", "old"]
    for col in ("run", "strategy", "model", "data", "start", "end", "ic", "rank_ic", "sharpe", "annual_return",
                "excess_annual_return", "max_drawdown", "created"):
        assert col in table.columns, col
    assert table.set_index("run").loc["new", "model"] == "gru"
    assert table["start"].iloc[0] == "2020-01-02"
    by_sharpe = list_runs(runs_root, sort="sharpe")
    assert list(by_sharpe["sharpe"]) == sorted(by_sharpe["sharpe"], reverse=True)
    with pytest.raises(ValueError, match="sharpe"):
        list_runs(runs_root, sort="sharp")
    assert list_runs(runs_root / "absent").empty


def test_format_table_aligns_columns(runs_root: Path) -> None:
    table = list_runs(runs_root)
    text = format_table(table)
    lines = text.splitlines()
    assert len(lines) == len(table) + 2
    header, rule = lines[0], lines[1]
    assert set(rule) <= {"-", " "}
    end = header.index("sharpe") + len("sharpe")
    for line, value in zip(lines[2:], table["sharpe"]):
        assert line[:end].endswith(f"{value:.4f}")
    assert "group/mid" in text
    assert format_table(table.iloc[:0]).startswith("(no rows)")


def test_compare_runs_side_by_side(runs_root: Path, tmp_path: Path) -> None:
    dirs = [runs_root / "old", runs_root / "new"]
    out = tmp_path / "compare.html"
    table = compare_runs(dirs, out_html=out)
    assert list(table.columns) == ["old", "new"]
    assert {"ic", "sharpe", "max_drawdown", "seconds.total"} <= set(table.index)
    metrics = json.loads((runs_root / "new" / "metrics.json").read_text())
    assert table.loc["sharpe", "new"] == pytest.approx(metrics["sharpe"])
    text = out.read_text(encoding="utf-8")
    assert_self_contained(text)
    assert chart_names(text) == {"compare_equity", "compare_ic"}
    assert "model" in text and "gru" in text  # parameters that differ
    assert "seconds.total" in format_table(table)


def test_compare_runs_names_duplicates_apart(tmp_path: Path) -> None:
    a = make_fake_run(tmp_path / "x" / "run", seed=1)
    b = make_fake_run(tmp_path / "y" / "run", seed=2)
    assert list(compare_runs([a, b]).columns) == ["x/run", "y/run"]


# ---------------------------------------------------------------- browser check

CHECK_SCRIPT = """<script>
window.__saErrors = [];
window.addEventListener('error', function (e) { window.__saErrors.push(String(e.message)); });
(function () { var err = console.error; console.error = function () {
  window.__saErrors.push(Array.prototype.join.call(arguments, ' ')); err.apply(console, arguments); }; })();
window.addEventListener('load', function () { setTimeout(function () {
  var charts = Array.prototype.slice.call(document.querySelectorAll('.sa-chart'));
  var missing = charts.filter(function (c) { return !c.querySelector('.main-svg'); })
                      .map(function (c) { return c.getAttribute('data-name'); });
  var pre = document.createElement('pre'); pre.id = 'sa-check';
  pre.textContent = JSON.stringify({charts: charts.length, missing: missing, errors: window.__saErrors});
  document.body.appendChild(pre);
}, 1000); });
</script>"""

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-dev-shm-usage", "--hide-scrollbars"]


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium once with a throwaway profile."""
    exe = shutil.which("chromium")
    return subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120)


def browser_check(page: Path, tmp_path: Path) -> dict:
    """Load a copy of `page` with the check script injected; return what the script found."""
    probe = tmp_path / f"probe_{page.name}"
    probe.write_text(page.read_text(encoding="utf-8").replace("<head>", "<head>" + CHECK_SCRIPT, 1), encoding="utf-8")
    done = chromium("--virtual-time-budget=10000", "--dump-dom", probe.as_uri(), profile=tmp_path / "profile_dom")
    found = re.search(r'<pre id="sa-check">(.*?)</pre>', done.stdout, re.S)
    assert found, f"check script did not report; chromium stderr:\n{done.stderr[-2000:]}"
    return json.loads(html.unescape(found.group(1)))


def screenshot(page: Path, target: Path, tmp_path: Path, height: int = 3000) -> Path:
    """A PNG of `page` at laptop width; also copied to $SEQALPHA_SCREENSHOT_DIR when that is set."""
    chromium(f"--screenshot={target}", f"--window-size=1400,{height}", "--virtual-time-budget=10000",
             page.as_uri(), profile=tmp_path / "profile_shot")
    assert target.exists() and target.stat().st_size > 10_000
    if os.environ.get("SEQALPHA_SCREENSHOT_DIR"):
        keep = Path(os.environ["SEQALPHA_SCREENSHOT_DIR"])
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copy(target, keep / target.name)
    return target


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed")
def test_report_renders_in_headless_chromium(run_dir: Path, tmp_path: Path) -> None:
    page = build_report(run_dir)
    result = browser_check(page, tmp_path)
    assert result["errors"] == []
    assert result["missing"] == []
    assert result["charts"] == len(ALL_CHARTS)
    screenshot(page, tmp_path / "report.png", tmp_path)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed")
def test_comparison_renders_in_headless_chromium(runs_root: Path, tmp_path: Path) -> None:
    page = tmp_path / "compare.html"
    compare_runs([runs_root / "old", runs_root / "new", runs_root / "group" / "mid"], out_html=page)
    result = browser_check(page, tmp_path)
    assert result == {"charts": 2, "missing": [], "errors": []}
    screenshot(page, tmp_path / "compare.png", tmp_path, height=1600)


def test_quantile_labels_put_top_scores_in_the_top_bucket() -> None:
    from seqalpha.report.sections import quantile_labels

    dates = np.repeat(pd.to_datetime(["2020-01-02", "2020-01-03", "2020-01-06"]), 10)
    score = np.tile(np.arange(10.0), 3)
    frame = pd.DataFrame({"date": dates, "asset": np.tile(list("abcdefghij"), 3), "score": score,
                          "label": score / 100})
    frame.loc[frame["date"] == "2020-01-06", "label"] = np.nan  # unknown labels: the date drops out
    table = quantile_labels(frame)
    assert list(table.columns) == [1, 2, 3, 4, 5] and len(table) == 2
    assert table.iloc[0].tolist() == pytest.approx([0.005, 0.025, 0.045, 0.065, 0.085])


# ---------------------------------------------------------------- runs written by the real writer


def _real_runs(tmp_path: Path) -> tuple[Path, Path]:
    """Two tiny walk-forward runs (LSTM, GRU) written by run_backtest itself."""
    from seqalpha import Strategy, run_backtest

    class Tiny(Strategy):
        data = "synthetic?assets=16&days=240&seed=1"
        model = "lstm"
        model_params = {"hidden_size": 8, "epochs": 2, "patience": 1, "batch_size": 256}
        window = 10
        horizon = 1
        retrain = "QS"
        min_train_bars = 80
        portfolio_params = {"k": 4}

    a = tmp_path / "real" / "lstm"
    b = tmp_path / "real" / "gru"
    run_backtest(Tiny, progress=False, out=a, cache=False)
    run_backtest(Tiny, progress=False, out=b, cache=False, model="gru",
                 model_params={"hidden_size": 6, "epochs": 2, "patience": 1, "batch_size": 256})
    return a, b


@pytest.fixture(scope="module")
def real_runs(tmp_path_factory) -> tuple[Path, Path]:
    return _real_runs(tmp_path_factory.mktemp("real_runs"))


def test_report_of_a_real_run_has_every_chart(real_runs) -> None:
    """run_backtest(out=...) writes report.html itself; it has every chart, and the tables match the schema."""
    from seqalpha.runs import schema

    run = real_runs[0]
    text = (run / "report.html").read_text(encoding="utf-8")
    assert_self_contained(text)
    assert chart_names(text) == ALL_CHARTS
    for name, columns in schema.TABLES.items():
        assert list(pd.read_parquet(run / f"{name}.parquet").columns) == list(columns), name
    metrics = json.loads((run / "metrics.json").read_text())
    from seqalpha.metrics import BY_NAME

    assert set(metrics) <= set(BY_NAME)  # every metric written is in the catalogue


def test_comparison_lists_only_parameters_that_differ(real_runs, tmp_path: Path) -> None:
    """Two runs that differ only in model and model_params: exactly those two rows, none that are None in both."""
    from seqalpha.runs import differing_params, load_run

    runs = [load_run(p) for p in real_runs]
    params = differing_params(runs, ["lstm", "gru"])
    assert set(params.index) == {"model", "model_params"}
    page = tmp_path / "cmp.html"
    compare_runs(real_runs, out_html=page)
    text = page.read_text(encoding="utf-8")
    section = text[text.index('id="params"'):text.index('id="equity"')]
    assert "test_end" not in section and "benchmark" not in section and "limit_threshold" not in section
    metrics = text[text.index('id="metrics"'):]
    assert '<th class="num">lstm</th><th class="num">gru</th>' in metrics  # headers aligned with their numbers
    assert '<div class="sa-table">' in metrics  # wide tables scroll inside their card
