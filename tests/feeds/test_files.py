"""User files in Yahoo's layouts (inline slices reproducing the raw files' quirks)."""

import gzip

import pandas as pd
import pytest

from feeds import load_daily
from feeds.errors import DataError
from feeds.files import read_csv_file

NASDAQ = """Date,Open,High,Low,Close,Volume,Dividends,Stock Splits
2020-12-10 00:00:00-05:00,146.0,165.0,141.25,144.71,70447500,0.0,0.0
2020-12-11 00:00:00-05:00,146.55,151.5,135.1,139.25,26980800,0.0,0.0
"""
IDX = """Date,Open,High,Low,Close,Adj Close,Volume
2019-06-18,5100.000000,5115.000000,4980.000000,5000.000000,4500.000000,132039000
2019-06-19,null,null,null,null,null,null
2019-06-20,5040.000000,5230.000000,5040.000000,5200.000000,4680.000000,102220500
"""
ETF = """Price,Price,Close,High,Low,Open,Volume
Ticker,SPY,SPY,SPY,SPY,SPY,SPY
Ticker,SPY,SPY,SPY,SPY,SPY,SPY
Date,,,,,,
1993-01-29 00:00:00,24.313047409057617,43.9375,43.96875,43.75,43.96875,1003200
1993-02-01 00:00:00,24.485950469970703,44.25,44.25,43.96875,43.96875,480500
"""
IHSG = """Trading Date,Open,High,Low,Close,Adj Close,Volume
2019-01-02 00:00:00+07:00,6198,6206,6165,6181,6181,52797800
2019-01-03 00:00:00+07:00,6176,6221,6176,6221,6221,72166700
"""
FRED = """observation_date,DGS10
2005-01-14,4.21
2005-01-17,
2005-01-18,4.18
"""
FRED0 = """observation_date,DGS3MO
2015-09-17,0.01
2015-09-18,0.00
2015-09-21,
"""


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "ABNB.csv").write_text(NASDAQ)
    (tmp_path / "BBCA.csv").write_text(IDX)            # named without .JK as in the raw folder
    (tmp_path / "SPY.csv").write_text(ETF)
    (tmp_path / "^JKSE.csv").write_text(IHSG)
    (tmp_path / "DGS10.csv").write_text(FRED)
    (tmp_path / "DGS3MO.csv").write_text(FRED0)
    with gzip.open(tmp_path / "TON11419-USD.csv.gz", "wt") as fh:
        fh.write(NASDAQ.replace("-05:00", "+00:00"))
    return tmp_path


def test_yahoo_flat_with_tz_offsets(folder):
    d = load_daily(["ABNB"], source="files", path=folder)["ABNB"]
    assert list(d.index.strftime("%Y-%m-%d")) == ["2020-12-10", "2020-12-11"]
    assert list(d.columns) == ["open", "high", "low", "close", "volume"]
    assert d.index.name == "date" and d.index.tz is None and (d.dtypes == float).all()


def test_idx_null_row_dropped_and_adj_close_scaling(folder):
    d = load_daily(["BBCA.JK"], source="files", path=folder)["BBCA.JK"]
    assert pd.Timestamp("2019-06-19") not in d.index
    first = d.iloc[0]
    assert first["close"] == pytest.approx(4500.0)
    assert first["open"] == pytest.approx(5100.0 * 0.9)
    assert first["high"] == pytest.approx(5115.0 * 0.9)


def test_etf_multirow_header_detected(folder):
    raw, kind = read_csv_file(folder / "SPY.csv", "SPY")
    assert kind == "price" and len(raw) == 2
    d = load_daily(["SPY"], source="files", path=folder)["SPY"]
    assert d["close"].iloc[0] == pytest.approx(24.313047409057617)   # the adjusted close
    assert d["open"].iloc[0] == pytest.approx(43.96875 * 24.313047409057617 / 43.9375)


def test_ihsg_trading_date_plus7_and_ints(folder):
    d = load_daily(["^JKSE"], source="files", path=folder)["^JKSE"]
    assert list(d.index.strftime("%Y-%m-%d")) == ["2019-01-02", "2019-01-03"]
    assert d["close"].dtype == float and d["close"].iloc[1] == 6221.0


def test_fred_blank_dropped_zero_kept_and_tnx_alias(folder):
    d = load_daily(["^TNX", "DGS3MO"], source="files", path=folder)
    assert list(d["^TNX"]["close"]) == [4.21, 4.18]
    assert list(d["DGS3MO"]["close"]) == [0.01, 0.0]


def test_ton_alias_and_gz(folder):
    d = load_daily(["TON-USD"], source="files", path=folder)["TON-USD"]
    assert len(d) == 2


def test_long_csv(tmp_path):
    p = tmp_path / "long.csv"
    p.write_text("date,ticker,open,high,low,close,volume\n"
                 "2024-01-02,AAA,1,1,1,1,10\n2024-01-03,AAA,2,2,2,2,10\n"
                 "2024-01-02,BBB,3,3,3,3,10\n")
    d = load_daily(["AAA", "BBB"], source="files", path=p)
    assert len(d["AAA"]) == 2 and d["BBB"]["close"].iloc[0] == 3.0
    with pytest.raises(DataError, match="CCC"):
        load_daily(["CCC"], source="files", path=p)


def _one_line(exc):
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


def test_missing_file_unknown_ticker(folder):
    with pytest.raises(DataError) as ei:
        load_daily(["NOPE"], source="files", path=folder)
    msg = _one_line(ei)
    assert "NOPE" in msg and str(folder) in msg and "add the file" in msg


def test_missing_path():
    with pytest.raises(DataError) as ei:
        load_daily(["AAPL"], source="files", path="/does/not/exist")
    assert "does not exist" in _one_line(ei)
    with pytest.raises(DataError, match="path"):
        load_daily(["AAPL"], source="files", path=None)


@pytest.mark.parametrize("text,what", [
    ("", "empty"),
    ("foo,bar,baz\n1,2,3\n", "no date column"),
    ("Date,Open,Close\n2020-01-01,1,2\n", "missing columns"),
    ("Date,Open,High,Low,Close,Volume\n2020-01-01,1,1,1,1,1\n2020-01-01,1,1,1,1,1\n",
     "duplicate date 2020-01-01"),
    ("Date,Open,High,Low,Close,Volume\nnot-a-date,1,1,1,1,1\n", "date"),
])
def test_malformed_files_one_line_error(tmp_path, text, what):
    (tmp_path / "BAD.csv").write_text(text)
    with pytest.raises(DataError) as ei:
        load_daily(["BAD"], source="files", path=tmp_path)
    msg = _one_line(ei)
    assert what in msg and "BAD" in msg
