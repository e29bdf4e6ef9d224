"""`seqalpha data check URI [--json] [--out DIR]` (framework/data/check.py): exit 0 with only warnings, 1 with an
error-level finding, 2 on a bad URI; --json parses; --out writes an offline page with a chart per finding."""

from __future__ import annotations

import json

import pytest

from seqalpha.cli import main
from tests.test_data_quality import bars, day, edit


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A spiked panel (errors) and a stale-only panel (warnings), as parquet files."""
    root = tmp_path_factory.mktemp("check")
    spiked = edit(edit(bars(n_dates=120, n_assets=8), "A03", [60], close=100.0, high=100.0),
                  "A05", [80], close=0.01)
    spiked.to_parquet(root / "spiked.parquet")
    stale = bars(n_dates=120, n_assets=8)
    a = stale.index[stale["asset"] == "A02"]
    stale.loc[a[30:45], ["close", "open", "high", "low"]] = 42.0
    stale.to_parquet(root / "stale.parquet")
    return root


def test_an_error_exits_1_and_lists_asset_and_date(files, capsys):
    assert main(["data", "check", f"parquet:{files / 'spiked.parquet'}"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert "2 finding(s): 2 spike; 2 error(s), 0 warning(s)" in out[1]
    rows = [line.split()[:4] for line in out[3:]]
    assert sorted(rows) == sorted([["error", "spike", "A03", day(60)], ["error", "spike", "A05", day(80)]])
    assert "prev" in out[3] and "next" in out[3]


def test_warnings_only_exit_0_and_are_printed(files, capsys):
    assert main(["data", "check", f"parquet:{files / 'stale.parquet'}"]) == 0
    out = capsys.readouterr().out
    assert "1 stale; 0 error(s), 1 warning(s)" in out and "A02" in out and day(30) in out


def test_a_bad_uri_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["data", "check", f"parquet:{tmp_path / 'missing.parquet'}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.parquet" in err[0] and "Traceback" not in err[0]
    assert main(["data", "check", "nosuchsource:x"]) == 2
    with pytest.raises(SystemExit) as exc:  # argparse: no URI
        main(["data", "check"])
    assert exc.value.code == 2


def test_json_parses_and_out_writes_a_page_with_a_chart_per_finding(files, tmp_path, capsys):
    code = main(["data", "check", f"parquet:{files / 'spiked.parquet'}", "--json", "--out", str(tmp_path / "o")])
    body = json.loads(capsys.readouterr().out)
    assert code == 1 and body["counts"] == {"spike": 2} and body["errors"] == 2
    assert {(f["asset"], f["date"]) for f in body["findings"]} == {("A03", day(60)), ("A05", day(80))}
    page = (tmp_path / "o" / "data_check.html").read_text()
    assert body["page"] == str(tmp_path / "o" / "data_check.html")
    assert page.count('class="sa-chart"') == 2 and page.count("Plotly.newPlot") == 2  # the charts' JSON
    assert '"flagged (spike)"' in page and "A03" in page and "<tbody><tr>" in page
    assert json.loads((tmp_path / "o" / "data_quality.json").read_text())["counts"] == {"spike": 2}


def test_the_page_caps_its_charts_and_counts_the_rest(files):
    from seqalpha import panel_from_frame
    from seqalpha.data.quality import scan
    from seqalpha.report.quality_page import quality_page

    frame = bars(n_dates=120, n_assets=8)
    for k in range(5):
        frame = edit(frame, f"A0{k}", [40 + 5 * k], close=50.0)
    panel = panel_from_frame(frame)
    page = quality_page(panel, scan(panel), "test", charts=3)
    assert page.count('class="sa-chart"') == 3 and "and 2 more finding(s) not drawn" in page
