"""Report writers work offline, never hand QuantStats a ticker, and write what they promise."""

import json
import logging
import socket
import warnings

import numpy as np
import pandas as pd
import pytest

from analyzers.metrics import compute_metrics
from analyzers.reports import (align_benchmark, format_metrics_table, write_comparison,
                               write_metrics_json, write_returns_csv, write_tearsheet,
                               write_weights_csv)


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
    assert "annual_return" in text and "max_drawdown" in text
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
    assert lines[0].startswith("strategy")
    assert len(lines) == 2 + 3
    assert "%" in table and "Equal weight" in table
    assert format_metrics_table({}) == "(no strategies)"
