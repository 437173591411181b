"""Report writers work offline, never hand QuantStats a ticker, and write what they promise."""

import json
import logging
import socket
import warnings

import numpy as np
import pandas as pd
import pytest

from analyzers.metrics import compute_metrics
from analyzers.reports import (
    align_benchmark,
    distinct_colors,
    format_metric,
    format_metrics_table,
    growth_curves,
    metric_label,
    write_comparison,
    write_metrics_json,
    write_returns_csv,
    write_tearsheet,
    write_weights_csv,
)


@pytest.fixture
def offline(monkeypatch):
    def no_network(*args, **kwargs):
        raise RuntimeError("network access attempted in an offline test")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    try:
        import yfinance
        monkeypatch.setattr(yfinance, "download", no_network)
    except ImportError:  # pragma: no cover
        pass


def _returns(seed, n=80, name=None):
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2021-01-01", periods=n, freq="W-FRI", name="date")
    return pd.Series(rng.normal(0.002, 0.03, n), index=idx, name=name)


def test_tearsheet_offline_with_series_benchmark_and_weekly_periods(tmp_path, offline):
    filters_before = list(warnings.filters)
    level_before = logging.getLogger("matplotlib").level
    out = write_tearsheet(_returns(1, name="Hybrid"), _returns(2, name="SPY"),
                          tmp_path / "sub" / "tear.html", title="Hybrid vs SPY",
                          periods_per_year=52)
    text = out.read_text(encoding="utf-8")
    assert "Hybrid vs SPY" in text
    assert "Periods/Year: 52" in text
    assert "SPY" in text
    assert list(warnings.filters) == filters_before
    assert logging.getLogger("matplotlib").level == level_before


def test_ticker_string_benchmark_is_refused(tmp_path, offline):
    with pytest.raises(TypeError, match="ticker"):
        write_tearsheet(_returns(1), "SPY", tmp_path / "t.html", title="x")
    with pytest.raises(TypeError, match="ticker"):
        write_tearsheet("SPY", None, tmp_path / "t.html", title="x")


def test_align_benchmark_compounds_and_never_uses_earlier_history_as_one_return():
    idx = pd.date_range("2021-01-01", periods=4, freq="W-FRI")
    daily = pd.Series(0.01, index=pd.date_range("2020-12-01", "2021-01-22", freq="D"))
    b = align_benchmark(daily, idx)
    assert b.iloc[0] == pytest.approx(0.01)  # its own date only, not all history before it
    assert b.iloc[1] == pytest.approx(1.01 ** 7 - 1)
    later = pd.Series(0.02, index=idx[2:])
    b2 = align_benchmark(later, idx)
    assert list(b2.iloc[:2]) == [0.0, 0.0]
    assert b2.iloc[2] == pytest.approx(0.02)
    assert b2.iloc[3] == pytest.approx(0.02)


def _results():
    out = {}
    for i, name in enumerate(["Hybrid Top-5", "Equal weight", "S&P <500>"]):
        r = _returns(10 + i)
        out[name] = {"returns": r, "metrics": compute_metrics(r)}
    out["Equal weight"]["metrics"]["sharpe"] = float("nan")
    return out


def test_comparison_page_is_self_contained(tmp_path, offline):
    res = _results()
    out = write_comparison(res, tmp_path / "cmp.html", title="Test window")
    text = out.read_text(encoding="utf-8")
    assert "data:image/png;base64," in text
    assert "Hybrid Top-5" in text and "S&amp;P &lt;500&gt;" in text
    for label in ("CAGR", "Sharpe", "Max drawdown", "Volatility (ann.)", "Weeks"):
        assert f"<th>{label}</th>" in text
    assert "Sharpe = sqrt(52) x mean / standard deviation" in text
    assert "http://" not in text and "https://" not in text and "<script" not in text


def test_metrics_json_weights_and_returns_csv(tmp_path):
    res = _results()
    metrics = {k: v["metrics"] for k, v in res.items()}
    data = json.loads(write_metrics_json(metrics, tmp_path / "m.json").read_text())
    assert data["Equal weight"]["sharpe"] is None
    assert data["Hybrid Top-5"]["n_periods"] == 80

    idx = pd.date_range("2021-01-01", periods=3, freq="W-FRI")
    w = {"EW": pd.DataFrame({"A": [0.5, 0.5, 0.5], "B": [0.5, 0.4, 0.0]}, index=idx),
         "BH": pd.DataFrame({"A": [1.0, 1.0, 1.0]}, index=idx)}
    long = pd.read_csv(write_weights_csv(w, tmp_path / "w.csv"))
    assert list(long.columns) == ["date", "strategy", "ticker", "weight"]
    assert len(long) == 9
    assert long.iloc[0].to_dict() == {"date": "2021-01-01", "strategy": "EW", "ticker": "A",
                                      "weight": 0.5}

    rets = {k: v["returns"] for k, v in res.items()}
    rets["short"] = rets["Hybrid Top-5"].iloc[10:]
    wide = pd.read_csv(write_returns_csv(rets, tmp_path / "r.csv"), index_col="date",
                       parse_dates=True)
    assert list(wide.columns) == list(rets)
    assert len(wide) == 80 and wide["short"].isna().sum() == 10
    np.testing.assert_allclose(wide["Hybrid Top-5"], rets["Hybrid Top-5"].to_numpy())


def test_format_metrics_table():
    table = format_metrics_table({k: v["metrics"] for k, v in _results().items()})
    lines = table.splitlines()
    assert lines[0].startswith("strategy") and "Sharpe" in lines[0] and "Weeks" in lines[0]
    assert len(lines) == 2 + 3 + 1
    assert lines[-1].startswith("Sharpe = sqrt(52) x mean")
    assert "%" in table and "Equal weight" in table
    assert format_metrics_table({}) == "(no strategies)"
    daily = format_metrics_table({"x": compute_metrics(_returns(1), 252)}, 252)
    assert "Days" in daily.splitlines()[0] and "sqrt(252)" in daily and "daily" in daily


@pytest.mark.parametrize("name, value, text", [
    ("cagr", 0.55789, "55.79%"), ("max_drawdown", -0.12791, "-12.79%"),
    ("mean_turnover", 1.29619, "129.62%"), ("costs_pct", 0.2023, "20.23%"),
    ("sharpe", 1.851390, "1.85"), ("calmar", 4.3605, "4.36"),
    ("costs_paid", 202345.678, "202,346"), ("n_periods", 109, "109"),
    ("rejected_orders", 0.0, "0"), ("total_turnover", 141.2896, "141.29x"),
    ("sharpe", float("nan"), "-"), ("sharpe", None, "-"), ("cagr", float("inf"), "-"),
])
def test_one_format_per_kind(name, value, text):
    assert format_metric(name, value) == text


def test_labels_name_the_bar():
    assert metric_label("mean_turnover", 52) == "Turnover / week"
    assert metric_label("mean_turnover", 252) == "Turnover / day"
    assert metric_label("n_periods", 52) == "Weeks" and metric_label("n_periods", 252) == "Days"
    assert metric_label("costs_pct") == "Costs, % of capital"


@pytest.mark.parametrize("n", [1, 3, 10, 11, 12, 24, 50])
def test_distinct_colors_for_any_number(n):
    from matplotlib.colors import to_rgb
    colors = distinct_colors(n)
    assert len(colors) == n and len(set(colors)) == n
    rgb = np.array([to_rgb(c) for c in colors])
    if n > 1:
        d = np.sqrt(((rgb[:, None, :] - rgb[None, :, :]) ** 2).sum(-1))
        d[np.diag_indices(n)] = np.inf
        assert d.min() > (0.1 if n <= 24 else 0.04)
    assert distinct_colors(0) == []


def test_every_curve_starts_at_one():
    a = _returns(1)
    b = _returns(2).iloc[5:]
    curves = growth_curves({"a": a, "b": b}, start=a.index[0] - pd.Timedelta(days=7))
    assert curves["a"].iloc[0] == 1.0 and curves["a"].index[0] == a.index[0] - pd.Timedelta(days=7)
    assert curves["a"].iloc[1] == pytest.approx(1 + a.iloc[0])
    assert curves["b"].iloc[0] == 1.0 and curves["b"].index[0] == b.index[0] - pd.Timedelta(days=7)
    assert curves["a"].iloc[-1] == pytest.approx(float((1 + a).prod()))
    no_start = growth_curves({"a": a})
    assert no_start["a"].index[0] == a.index[0] - (a.index[1] - a.index[0])
    # daily bars starting on a Monday: the 1 sits at the Friday close given as start
    d = pd.Series(0.01, index=pd.bdate_range("2021-11-29", periods=5))
    friday = pd.Timestamp("2021-11-26")
    assert growth_curves({"d": d}, start=friday)["d"].index[0] == friday
