"""Wide and close-only layouts, layout detection and its log line."""

import logging

import numpy as np
import pandas as pd
import pytest

from feeds import load_daily, load_panel
from feeds.errors import DataError
from feeds.files import read_csv_file

WIDE = """Date,AAPL,MSFT,SPY,DGS10
2024-01-02,185.6,370.9,,3.95
2024-01-03,184.2,370.6,468.8,3.91
2024-01-04,181.9,367.9,467.3,0.00
2024-01-05,181.2,367.7,467.9,4.05
2024-01-08,185.6,374.7,474.6,4.01
2024-01-09,185.1,375.8,473.9,4.02
2024-01-12,185.9,388.5,476.7,3.94
"""


def _one_line(ei):
    msg = str(ei.value)
    assert "\n" not in msg
    return msg


@pytest.fixture
def wide(tmp_path):
    p = tmp_path / "prices.csv"
    p.write_text(WIDE)
    return p


def test_wide_closes_become_bars(wide, caplog):
    with caplog.at_level(logging.INFO, logger="feeds.layouts"):
        d = load_daily(["AAPL", "SPY"], source="files", path=wide)
    assert "detected layout wide" in caplog.text
    a = d["AAPL"]
    assert list(a.columns) == ["open", "high", "low", "close", "volume"]
    assert (a["open"] == a["close"]).all() and (a["high"] == a["close"]).all()
    assert (a["low"] == a["close"]).all() and (a["volume"] == 0.0).all()
    assert a["close"].iloc[0] == 185.6 and len(a) == 7
    assert d["SPY"].index[0] == pd.Timestamp("2024-01-03")   # blank before its first price


def test_wide_weekly_panel(wide):
    p = load_panel(["AAPL", "MSFT"], source="files", path=wide)
    assert list(p.index.strftime("%Y-%m-%d")) == ["2024-01-05", "2024-01-12"]
    closes = [185.6, 184.2, 181.9, 181.2]
    wk = p.index[0]
    assert p.open.loc[wk, "AAPL"] == closes[0] and p.close.loc[wk, "AAPL"] == closes[-1]
    assert p.high.loc[wk, "AAPL"] == max(closes) and p.low.loc[wk, "AAPL"] == min(closes)
    assert p.volume.loc[wk, "AAPL"] == 0.0 and p.mask.all().all()
    assert p.returns.loc[p.index[1], "AAPL"] == pytest.approx(185.9 / 181.2 - 1)


def test_wide_yield_column_by_ticker_not_shape(wide):
    d = load_daily(["^TNX", "DGS10"], source="files", path=wide)
    assert 0.0 in d["^TNX"]["close"].values                 # a yield: 0.00 kept
    pd.testing.assert_frame_equal(d["^TNX"], d["DGS10"])


def test_wide_missing_ticker_names_it(wide):
    with pytest.raises(DataError) as ei:
        load_daily(["NVDA"], source="files", path=wide)
    msg = _one_line(ei)
    assert "NVDA" in msg and "wide" in msg and str(wide) in msg and "AAPL" in msg


def test_wide_from_pandas_to_csv_unnamed_index(tmp_path):
    df = pd.DataFrame({"AAA": [1.0, 1.1], "BBB": [2.0, 2.1]},
                      index=pd.to_datetime(["2024-01-02", "2024-01-03"]))
    p = tmp_path / "w.csv.gz"
    df.to_csv(p)                                         # first column has no name
    d = load_daily(["BBB"], source="files", path=p)
    assert list(d["BBB"]["close"]) == [2.0, 2.1]


@pytest.mark.parametrize("header", ["Date,Adj Close", "Date,Close", "date,close,volume",
                                    "observation_date,MYRATE"])
def test_close_only_is_a_price_file(tmp_path, header, caplog):
    # a zero and a -1 price: price cleaning applies to a 2-column file (not read as a yield)
    rows = "2024-01-02,10\n2024-01-03,0\n2024-01-04,-1\n2024-01-05,11\n"
    if "volume" in header:
        rows = "".join(r + ",100\n" for r in rows.splitlines())
    (tmp_path / "ABC.csv").write_text(f"{header}\n{rows}")
    with caplog.at_level(logging.INFO, logger="feeds.files"):
        d = load_daily(["ABC"], source="files", path=tmp_path)["ABC"]
    assert "detected layout close-only" in caplog.text
    assert list(d["close"]) == [10.0, 11.0]
    assert (d["open"] == d["close"]).all() and (d["high"] == d["low"]).all()
    _, kind = read_csv_file(tmp_path / "ABC.csv", "ABC")
    assert kind == "price"


def test_close_only_yield_only_for_yield_tickers(tmp_path):
    text = "observation_date,DGS5\n2015-09-17,0.01\n2015-09-18,0.00\n"
    (tmp_path / "DGS5.csv").write_text(text)
    (tmp_path / "FUND.csv").write_text(text)
    d = load_daily(["DGS5", "FUND"], source="files", path=tmp_path)
    assert list(d["DGS5"]["close"]) == [0.01, 0.0]           # yield ticker: 0.00 kept
    assert list(d["FUND"]["close"]) == [0.01]                # price: zero dropped
    # the caller can declare a kind (a universe's kind)
    d2 = load_daily(["FUND"], source="files", path=tmp_path, kinds={"FUND": "yield"})
    assert list(d2["FUND"]["close"]) == [0.01, 0.0]


def test_close_and_adj_close_uses_adjusted(tmp_path):
    (tmp_path / "ABC.csv").write_text("Date,Close,Adj Close\n2024-01-02,10,9\n2024-01-03,11,10\n")
    d = load_daily(["ABC"], source="files", path=tmp_path)["ABC"]
    assert list(d["close"]) == [9.0, 10.0] and list(d["open"]) == [9.0, 10.0]


def test_long_close_only_and_symbol_column(tmp_path):
    p = tmp_path / "long.csv"
    p.write_text("Date,Symbol,Close\n2024-01-02,0700.HK,300\n2024-01-03,0700.HK,301\n")
    d = load_daily(["0700.HK"], source="files", path=p)["0700.HK"]
    assert list(d["close"]) == [300.0, 301.0] and (d["volume"] == 0).all()


def test_long_numeric_looking_tickers_kept_as_text(tmp_path):
    p = tmp_path / "long.csv"
    p.write_text("date,ticker,open,high,low,close,volume\n2024-01-02,0700,1,1,1,1,1\n")
    assert "0700" in load_daily(["0700"], source="files", path=p)


@pytest.mark.parametrize("name,text,layout", [
    ("Y.csv", "Date,Open,High,Low,Close,Volume\n2024-01-02,1,1,1,1,1\n", "yahoo"),
    ("Y.csv", ("Price,Close,High,Low,Open,Volume\nTicker,Y,Y,Y,Y,Y\nDate,,,,,\n"
               "2024-01-02,1,1,1,1,1\n"), "yfinance-dump"),
    ("Y.csv", "Date,Close\n2024-01-02,1\n", "close-only"),
])
def test_per_ticker_layout_logged(tmp_path, caplog, name, text, layout):
    (tmp_path / name).write_text(text)
    with caplog.at_level(logging.INFO, logger="feeds.files"):
        load_daily(["Y"], source="files", path=tmp_path)
    assert f"detected layout {layout} for Y" in caplog.text


def test_long_layout_logged(tmp_path, caplog):
    p = tmp_path / "l.csv"
    p.write_text("date,ticker,open,high,low,close,volume\n2024-01-02,Y,1,1,1,1,1\n")
    with caplog.at_level(logging.INFO, logger="feeds.layouts"):
        load_daily(["Y"], source="files", path=p)
    assert "detected layout long" in caplog.text


@pytest.mark.parametrize("text,single,what", [
    ("Date,A,B\n2024-01-02,1,2\n", False, "layout not recognised"),
    ("Date,Open,High\n2024-01-02,1,2\n", False, "missing columns"),
    ("Date,Close,Close\n2024-01-02,1,2\n", False, "more than once"),
    ("date,ticker,open,close\n2024-01-02,Y,1,1\n", True, "missing columns"),
    ("Date,Open,High,Low,Close,Volume\n2024-01-02,1,1,1,1,1\n", True, "per-ticker file"),
    ("a,b\n1,2\n", True, "layout not recognised"),
    ("date,ticker,close\n2024-01-02,Y,1\n", False, "long file"),
])
def test_unrecognised_layouts_one_line(tmp_path, text, single, what):
    f = tmp_path / "Y.csv"
    f.write_text(text)
    with pytest.raises(DataError) as ei:
        load_daily(["Y"], source="files", path=f if single else tmp_path)
    msg = _one_line(ei)
    assert what in msg and str(f) in msg
    if what == "layout not recognised":
        assert "layouts" in msg                          # names the layouts accepted


def test_blank_lines_do_not_shift_line_numbers(tmp_path):
    (tmp_path / "Y.csv").write_text("Date,Close\n2024-01-02,1\n\n\n2024-01-03,x\n")
    with pytest.raises(DataError, match="line 5 "):
        load_daily(["Y"], source="files", path=tmp_path)


def test_nan_marker_cells_are_missing_not_garbage(tmp_path):
    (tmp_path / "Y.csv").write_text("Date,Close\n2024-01-02,1\n2024-01-03,null\n2024-01-04,.\n"
                                    "2024-01-05,NaN\n2024-01-08,2\n")
    d = load_daily(["Y"], source="files", path=tmp_path)["Y"]
    assert list(d["close"]) == [1.0, 2.0] and not np.isnan(d.to_numpy()).any()


def test_docs_examples_load(tmp_path):
    """Every 3-line example in docs/DATA.md "Your own data" loads with its layout."""
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "DATA.md").read_text()
    section = doc.split("## Your own data")[1].split("\n## ")[0]
    rows = [r for r in section.splitlines() if r.startswith("| ") and "<br>" in r]
    loaded = 0
    for row in rows:
        cells = re.findall(r"`([^`]*)`", row.split("|")[2])
        layout = row.split("|")[1].strip()
        if layout == "yfinance dump":
            continue                                      # header lines only ("then data")
        assert len(cells) == 3, row
        text = "\n".join(cells) + "\n"
        if layout in ("long", "wide"):
            f = tmp_path / f"{layout}.csv"
            f.write_text(text)
            second = cells[2].split(",")[1] if layout == "long" else cells[0].split(",")[2]
            d = load_daily([second], source="files", path=f, today="2024-06-28")
        else:
            (tmp_path / "AAPL.csv").write_text(text)
            d = load_daily(["AAPL"], source="files", path=tmp_path, today="2024-06-28")
        assert len(next(iter(d.values()))) >= 1
        loaded += 1
    assert loaded == 4
