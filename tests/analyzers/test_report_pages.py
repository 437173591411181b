"""The written report pages, read as a user sees them: in headless Chromium when it is installed.

The pages are written once per module (a weekly tearsheet, a daily tearsheet and a comparison
page of 12 strategies). The text checks always run; the browser checks render each page in
headless Chromium (``apt-get install -y chromium``), read the labels, year captions and key
numbers back from the DOM after the page has loaded, and check that every image and chart drew.
"""

import base64
import html
import io
import json
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from analyzers.metrics import compute_metrics
from analyzers.reports import write_comparison, write_tearsheet

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))
                 if p), None)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium is not installed (apt-get install -y chromium): "
                             "the in-browser checks of the report pages are skipped")

# Run after the page has loaded: what a reader sees, as JSON in <pre id="probe">.
PROBE = r"""<script>
window.addEventListener('load', function () {
  function box(e) { var r = e.getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; }
  var svgs = Array.from(document.querySelectorAll('svg')).map(function (s) {
    return {box: box(s), texts: Array.from(s.querySelectorAll('text')).map(function (t) {
      return {text: t.textContent.replace(/\s+/g, ' ').trim(), box: box(t)}; }),
      bars: Array.from(s.querySelectorAll('g[id^="patch_"] path')).filter(function (p) {
        return !p.closest('g[id^="legend_"]'); }).map(box)};
  });
  var tables = Array.from(document.querySelectorAll('table')).map(function (t) {
    return Array.from(t.rows).map(function (r) {
      return Array.from(r.cells).map(function (c) { return c.textContent.trim(); }); });
  });
  var imgs = Array.from(document.images).map(function (i) {
    return {complete: i.complete, w: i.naturalWidth, h: i.naturalHeight}; });
  var pre = document.createElement('pre');
  pre.id = 'probe';
  pre.textContent = JSON.stringify({svgs: svgs, tables: tables, imgs: imgs,
                                    header: (document.querySelector('h1') || {}).textContent,
                                    text: document.body.innerText});
  document.body.appendChild(pre);
});
</script>"""


def _weekly(seed, n=109, name=None):
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2022-11-11", periods=n, freq="W-FRI", name="date")
    return pd.Series(rng.normal(0.008, 0.035, n), index=idx, name=name)


def _daily(seed, n=400, name=None):
    rng = np.random.default_rng(seed)
    idx = pd.bdate_range("2021-11-29", periods=n, name="date")
    return pd.Series(rng.normal(0.0004, 0.015, n), index=idx, name=name)


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    root = tmp_path_factory.mktemp("pages")
    weekly = _weekly(1)
    weekly.iloc[0] = 0.0  # a strategy that stays in cash on its first bar
    daily = _daily(3)
    write_tearsheet(weekly, _weekly(2), root / "weekly.html", title="hybrid vs equal weight",
                    periods_per_year=52, strategy_title="hybrid", benchmark_title="equal")
    write_tearsheet(daily, _daily(4), root / "daily.html", title="AAPL alpha_ppo vs buy and hold",
                    periods_per_year=252, strategy_title="AAPL alpha_ppo",
                    benchmark_title="AAPL buy&hold")
    results = {f"strategy_{k:02d}": {"returns": _weekly(10 + k)} for k in range(12)}
    for v in results.values():
        v["metrics"] = compute_metrics(v["returns"], 52, costs=v["returns"].abs() * 1000,
                                       capital=1e6)
    write_comparison(results, root / "comparison.html", title="Strategy comparison",
                     periods_per_year=52, start="2022-11-04")
    return {"root": root, "weekly": weekly, "daily": daily, "results": results}


# ----------------------------------------------------------------------------- page text
def test_weekly_tearsheet_is_labelled_by_the_week(pages):
    text = (pages["root"] / "weekly.html").read_text(encoding="utf-8")
    for label in ("Expected Weekly", "Weekly Value-at-Risk", "Best Week", "Worst Week",
                  "Win Weeks", "Weekly Returns (Cumulative Sum)", "Periods/Year: 52",
                  "Sharpe: sqrt(52) x mean / standard deviation"):
        assert label in text, label
    for wrong in ("Expected Daily", "Best Day", "Win Days", "Daily Returns", "\ufe6a"):
        assert wrong not in text, wrong
    assert "11 Nov, 2022 - " in text  # the page starts at the series' first date


def test_daily_tearsheet_keeps_daily_labels(pages):
    text = (pages["root"] / "daily.html").read_text(encoding="utf-8")
    assert "Expected Daily" in text and "Best Day" in text and "Daily Returns" in text
    assert "Sharpe: sqrt(252) x mean" in text and "Expected Weekly" not in text


# ----------------------------------------------------------------------------- the browser
def _render(path):
    """The page's probe (see PROBE) after Chromium has loaded it."""
    probed = path.with_name(path.stem + ".probe.html")
    probed.write_text(path.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"),
                      encoding="utf-8")
    out = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                          "--hide-scrollbars", "--window-size=1200,1600",
                          "--virtual-time-budget=10000", "--dump-dom", probed.as_uri()],
                         capture_output=True, text=True, check=True)
    m = re.search(r'<pre id="probe">(.*?)</pre>', out.stdout, re.S)
    assert m, f"the page did not finish loading in Chromium: {out.stderr[-2000:]}"
    return json.loads(html.unescape(m.group(1)))


def _screenshot(path, png):
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--window-size=1200,2400", f"--screenshot={png}", path.as_uri()],
                   capture_output=True, check=True)
    from PIL import Image
    with Image.open(png) as im:
        im.load()
        assert im.size == (1200, 2400)
        grey = np.asarray(im.convert("L"), dtype=float)
    assert grey.std() > 10, "the screenshot is blank"


def _table(probe, first_header):
    return next(t for t in probe["tables"] if t and t[0] and t[0][0] == first_header)


def _chart(probe, title):
    return next(s for s in probe["svgs"] if any(t["text"] == title for t in s["texts"]))


def _check_every_chart_drew(probe, at_least):
    assert len(probe["svgs"]) >= at_least
    for s in probe["svgs"]:
        assert s["box"][2] > 100 and s["box"][3] > 100, s["box"]
        assert len(s["texts"]) > 3  # titles and tick labels are there as text


def _check_years_under_bars(probe, years):
    eoy = _chart(probe, "EOY Returns vs Benchmark")
    labels = [t for t in eoy["texts"] if re.fullmatch(r"\d{4}", t["text"])]
    assert [t["text"] for t in labels] == [str(y) for y in years]
    bars = [b for b in eoy["bars"] if 0 < b[2] < eoy["box"][2] / 4 and b[3] > 0]
    centres = sorted(b[0] + b[2] / 2 for b in bars)
    assert len(centres) == 2 * len(years)  # strategy and benchmark bar for each year
    for k, label in enumerate(labels):
        middle = label["box"][0] + label["box"][2] / 2
        pair = centres[2 * k: 2 * k + 2]
        assert pair[0] < middle < pair[1], (label["text"], middle, pair)


@needs_chromium
def test_weekly_tearsheet_in_the_browser(pages, tmp_path):
    path, r = pages["root"] / "weekly.html", pages["weekly"]
    probe = _render(path)
    _check_every_chart_drew(probe, at_least=14)
    metrics = {row[0]: row[1:] for row in _table(probe, "Metric")}
    # [benchmark, strategy] columns; the Sharpe shown is compute_metrics' Sharpe
    assert metrics["Sharpe"][1] == f"{compute_metrics(r, 52)['sharpe']:.2f}"
    assert metrics["CAGR"][1] == f"{100 * compute_metrics(r, 52)['cagr']:.2f}%"
    assert "11 Nov, 2022 - " in probe["header"]  # from the first date, leading 0 included
    for row in ("Expected Weekly", "Best Week", "Win Weeks", "Weekly Value-at-Risk"):
        assert row in metrics
    assert not [k for k in metrics if "Day" in k and "DD" not in k and "Drawdown" not in k]
    assert metrics["3Y (ann.)"] == ["-", "-"] and metrics["10Y (ann.)"] == ["-", "-"]
    assert metrics["Risk-Adjusted Return"][1] == metrics["CAGR"][1]  # always invested
    eoy = _table(probe, "Year")
    assert [row[0] for row in eoy[1:]] == ["2022", "2023", "2024"]
    _check_years_under_bars(probe, [2022, 2023, 2024])
    assert _chart(probe, "Weekly Returns (Cumulative Sum)")
    quantiles = _chart(probe, "hybrid - Return Quantiles")
    assert [t["text"] for t in quantiles["texts"]
            if t["text"].endswith("ly")] == ["Weekly", "Monthly", "Quarterly", "Yearly"]
    heatmap = _chart(probe, "hybrid - Monthly Returns (%)")
    cells = [t["text"] for t in heatmap["texts"] if re.fullmatch(r"-?\d+\.\d\d", t["text"])]
    months = r.groupby(r.index.to_period("M")).size()
    assert len(cells) == len(months)  # one annotated cell per month with data, no 0.00 fillers
    assert "\ufe6a" not in probe["text"]
    _screenshot(path, tmp_path / "weekly.png")


@needs_chromium
def test_daily_tearsheet_in_the_browser(pages):
    probe = _render(pages["root"] / "daily.html")
    _check_every_chart_drew(probe, at_least=14)
    metrics = {row[0]: row[1:] for row in _table(probe, "Metric")}
    assert metrics["Sharpe"][1] == f"{compute_metrics(pages['daily'], 252)['sharpe']:.2f}"
    assert "Expected Daily" in metrics and "Best Day" in metrics
    years = sorted(set(pages["daily"].index.year))
    assert [row[0] for row in _table(probe, "Year")[1:]] == [str(y) for y in years]
    _check_years_under_bars(probe, years)
    assert _chart(probe, "Daily Returns (Cumulative Sum)")


@needs_chromium
def test_comparison_page_in_the_browser(pages, tmp_path):
    path = pages["root"] / "comparison.html"
    probe = _render(path)
    assert probe["imgs"] and all(i["complete"] and i["w"] > 0 and i["h"] > 0
                                 for i in probe["imgs"])
    table = probe["tables"][0]
    header = table[0]
    for label in ("CAGR", "Sharpe", "Max drawdown", "Costs paid", "Costs, % of capital", "Weeks"):
        assert label in header
    col = {h: k for k, h in enumerate(header)}
    for row in table[1:]:
        m = pages["results"][row[0]]["metrics"]
        assert row[col["Sharpe"]] == f"{m['sharpe']:.2f}"
        assert row[col["CAGR"]] == f"{100 * m['cagr']:.2f}%"
        assert row[col["Costs paid"]] == f"{m['costs_paid']:,.0f}"
        assert row[col["Weeks"]] == "109"
        assert re.fullmatch(r"-?\d+\.\d\d%", row[col["Max drawdown"]])
    assert len(table) == 13
    assert "Sharpe = sqrt(52) x mean" in probe["text"]
    # the embedded chart is a valid PNG
    from PIL import Image
    data = re.search(r'src="data:image/png;base64,([^"]+)"', path.read_text()).group(1)
    with Image.open(io.BytesIO(base64.b64decode(data))) as im:
        im.verify()
    _screenshot(path, tmp_path / "comparison.png")
