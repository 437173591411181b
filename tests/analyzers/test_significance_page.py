"""The statistics table of comparison.html, rendered in headless Chromium and read back."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analyzers.metrics import compute_metrics
from analyzers.reports import write_comparison
from analyzers.significance import format_stats_table, stats_table_html
from tests.analyzers.test_report_pages import _render, _screenshot, _weekly, needs_chromium


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    from strategies.pipeline.common import StrategyResult
    from strategies.pipeline.seeds import SeedStudy, comparison_stats

    def result(name, r):
        return StrategyResult(name=name, returns=r.rename(name), weights=pd.DataFrame(),
                              turnover=r * 0, costs=r * 0, orders={},
                              metrics=compute_metrics(r, 52))

    seeds = {s: _weekly(20 + s) + 0.002 for s in range(3)}
    study = SeedStudy(seeds=[0, 1, 2])
    study.runs = {s: {"hybrid_top5": result("hybrid_top5", r)} for s, r in seeds.items()}
    study.fixed = {"equal_weight": result("equal_weight", _weekly(30)),
                   "sp500": result("sp500", _weekly(31))}
    results = study.results()
    stats = comparison_stats(results, study, 52, n_boot=500)
    root = tmp_path_factory.mktemp("sig")
    write_comparison({k: {"returns": v.returns, "metrics": v.metrics}
                      for k, v in results.items()}, root / "comparison.html",
                     periods_per_year=52, start="2022-11-04",
                     extra_html=stats_table_html(stats, 52))
    return root / "comparison.html", stats, study


def test_the_printed_table_has_every_strategy_and_reference(page):
    _, stats, _ = page
    text = format_stats_table(stats, 52)
    lines = text.splitlines()
    assert "ΔSharpe vs equal weight [90% CI]" in lines[0] and "deflated Sharpe" in lines[0]
    assert [ln.split()[0] for ln in lines[2:5]] == ["hybrid_top5", "equal_weight", "sp500"]
    assert "mean block length 5" in text and "500 resamples" in text


@needs_chromium
def test_significance_table_in_the_browser(page, tmp_path):
    path, stats, study = page
    probe = _render(path)
    table = next(t for t in probe["tables"] if t and t[0][0] == "strategy" and
                 any("ΔSharpe" in h for h in t[0]))
    header, rows = table[0], {r[0]: r for r in table[1:]}
    assert set(rows) == {"hybrid_top5", "equal_weight", "sp500"}
    col = {h: k for k, h in enumerate(header)}
    h = rows["hybrid_top5"]
    sh = [study.runs[s]["hybrid_top5"].metrics["sharpe"] for s in study.seeds]
    assert h[col["seeds"]] == "3"
    assert h[col["Sharpe (mean ± std)"]] == f"{np.mean(sh):.2f} ± {np.std(sh, ddof=1):.2f}"
    v = stats["hybrid_top5"]["vs_equal_weight"]
    assert h[col["ΔSharpe vs equal weight [90% CI]"]] == \
        f"{v['diff']:.2f} [{v['ci_low']:.2f}, {v['ci_high']:.2f}]"
    assert h[col["seeds > equal weight"]] == f"{v['beats_reference']}/3"
    assert rows["equal_weight"][col["ΔSharpe vs equal weight [90% CI]"]] == ""  # not vs itself
    assert "paired stationary block bootstrap" in probe["text"]
    assert "mean block length 5" in probe["text"]
    _screenshot(path, tmp_path / "sig.png")
