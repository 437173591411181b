import logging

import numpy as np
import pandas as pd
import pytest

from feeds.clean import clean_daily, spike_mask, to_local_dates
from feeds.errors import DataError


def frame(dates, closes, **extra):
    d = pd.DataFrame({"date": dates, "open": closes, "high": closes, "low": closes,
                      "close": closes, "volume": 1.0})
    for k, v in extra.items():
        d[k] = v
    return d


def test_tz_offsets_keep_local_calendar_date():
    # New York and Jakarta sessions: the local date is kept, not the UTC date
    idx = to_local_dates(["2020-01-02 00:00:00-05:00", "2020-07-01 00:00:00-04:00",
                          "2019-01-02 00:00:00+07:00", "2021-08-27 00:00:00+00:00"])
    assert [d.strftime("%Y-%m-%d") for d in idx] == ["2020-01-02", "2020-07-01", "2019-01-02",
                                                     "2021-08-27"]
    assert idx.tz is None and idx.name == "date"


def test_tz_aware_datetime_index_becomes_local_date():
    idx = pd.DatetimeIndex(["2024-01-02 00:00", "2024-01-03 00:00"]).tz_localize("Asia/Jakarta")
    out = to_local_dates(idx)
    assert list(out.strftime("%Y-%m-%d")) == ["2024-01-02", "2024-01-03"]


def test_null_rows_dropped_and_logged(caplog):
    d = frame(["2019-06-18", "2019-06-19", "2019-06-20"], [1.0, np.nan, 1.1])
    with caplog.at_level(logging.INFO, logger="feeds.clean"):
        out = clean_daily(d, "ASII.JK", "test")
    assert list(out.index.strftime("%Y-%m-%d")) == ["2019-06-18", "2019-06-20"]
    assert "2019-06-19" in caplog.text and "missing prices" in caplog.text


def test_non_positive_prices_dropped():
    d = frame(["2020-01-01", "2020-01-02", "2020-01-03"], [1.0, 0.0, 1.05])
    out = clean_daily(d, "X", "test")
    assert len(out) == 2 and (out["close"] > 0).all()


def test_zero_yield_kept_blank_dropped():
    d = pd.DataFrame({"date": ["2015-09-17", "2015-09-18", "2015-09-21", "2015-09-22"],
                      "close": [0.01, 0.0, np.nan, 0.0]})
    out = clean_daily(d, "DGS3MO", "test", kind="yield")
    assert list(out["close"]) == [0.01, 0.0, 0.0]
    assert (out["open"] == out["close"]).all() and (out["volume"] == 0).all()


def test_duplicate_dates_rejected_with_date_and_ticker():
    d = frame(["2020-01-02", "2020-01-03", "2020-01-03"], [1.0, 1.1, 1.2])
    with pytest.raises(DataError) as ei:
        clean_daily(d, "AAPL", "AAPL.csv")
    msg = str(ei.value)
    assert "AAPL" in msg and "2020-01-03" in msg and "AAPL.csv" in msg and "\n" not in msg


def test_duplicate_after_tz_stripping_rejected():
    d = frame(["2020-01-03 00:00:00-05:00", "2020-01-03 09:30:00-05:00"], [1.0, 1.1])
    with pytest.raises(DataError, match="2020-01-03"):
        clean_daily(d, "X", "x.csv")


def test_unsorted_input_sorted():
    d = frame(["2020-01-03", "2020-01-01", "2020-01-02"], [3.0, 1.0, 2.0])
    out = clean_daily(d, "X", "t")
    assert out.index.is_monotonic_increasing and list(out["close"]) == [1.0, 2.0, 3.0]


def test_spike_that_reverts_dropped_bmri_like(caplog):
    closes = [5062.5, 5175.0, 10225.0, 5162.5, 5262.5]
    d = frame(pd.bdate_range("2023-03-28", periods=5), closes)
    with caplog.at_level(logging.WARNING, logger="feeds.clean"):
        out = clean_daily(d, "BMRI.JK", "t")
    assert 10225.0 not in out["close"].values and len(out) == 4
    assert "spike" in caplog.text


def test_genuine_jump_that_persists_is_kept():
    closes = [10.0, 10.2, 20.0, 20.5, 21.0]          # doubles and stays
    out = clean_daily(frame(pd.bdate_range("2023-01-02", periods=5), closes), "X", "t")
    assert len(out) == 5


def test_spike_rule_reads_exactly_one_bar_ahead():
    c = pd.Series([5000.0, 5100.0, 10200.0])
    assert not spike_mask(c).any()                   # last bar is never judged
    c2 = pd.Series([5000.0, 5100.0, 10200.0, 5120.0])
    assert list(spike_mask(c2)) == [False, False, True, False]


def test_spike_rule_not_applied_to_yields():
    d = pd.DataFrame({"date": pd.bdate_range("2020-03-02", periods=4),
                      "close": [1.0, 0.1, 1.0, 1.0]})
    assert len(clean_daily(d, "DGS3MO", "t", kind="yield")) == 4


def test_missing_columns_and_empty_are_data_errors():
    with pytest.raises(DataError, match="missing columns"):
        clean_daily(pd.DataFrame({"date": ["2020-01-01"], "close": [1.0]}), "X", "t")
    with pytest.raises(DataError, match="no valid rows"):
        clean_daily(frame(["2020-01-01"], [np.nan]), "X", "t")
