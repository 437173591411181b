"""yfinance source with a monkeypatched yfinance.download (no network)."""

import json

import numpy as np
import pandas as pd
import pytest
import yfinance

from feeds import load_daily
from feeds.errors import DataError
from feeds.yahoo import cache_path, download, normalize_frame


def yf_frame(ticker, start="2024-01-02", n=10, tz="America/New_York", multi=True):
    """A frame in yfinance's own download() format: MultiIndex (Price, Ticker), tz-aware."""
    idx = pd.bdate_range(start, periods=n, tz=tz, name="Date")
    rng = np.random.default_rng(0)
    c = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    data = {"Close": c, "High": c * 1.01, "Low": c * 0.99, "Open": c, "Volume": 1e6}
    df = pd.DataFrame(data, index=idx)
    if multi:
        df.columns = pd.MultiIndex.from_product([df.columns, [ticker]], names=["Price", "Ticker"])
    return df


@pytest.fixture
def fake_yf(monkeypatch):
    calls = []

    def fake_download(tickers, *a, **k):
        calls.append((tickers, k))
        assert k.get("auto_adjust") is True
        return yf_frame(tickers)

    monkeypatch.setattr(yfinance, "download", fake_download)
    return calls


@pytest.fixture
def offline(monkeypatch):
    def fake_download(tickers, *a, **k):
        return pd.DataFrame()          # what yfinance returns when offline / unknown ticker
    monkeypatch.setattr(yfinance, "download", fake_download)


def test_normalize_both_layouts():
    for multi in (True, False):
        d = normalize_frame(yf_frame("AAPL", multi=multi), "AAPL")
        assert list(d.columns) == ["open", "high", "low", "close", "volume"] and len(d) == 10


def test_download_writes_cache_then_reused_offline(tmp_path, fake_yf, monkeypatch):
    d = load_daily(["AAPL", "^TNX"], source="yfinance", cache_dir=tmp_path)
    assert len(fake_yf) == 2
    assert fake_yf[0][1].get("period") == "max"          # full history when no start given
    p = cache_path("AAPL", tmp_path)
    assert p.is_file() and cache_path("^TNX", tmp_path).is_file()
    assert "^" not in cache_path("^TNX", tmp_path).name
    assert not list(tmp_path.glob("*.tmp"))              # atomic write leaves no temp file
    a = d["AAPL"]
    assert a.index.tz is None and a.index[0] == pd.Timestamp("2024-01-02")
    assert (a.dtypes == float).all() and a.index.name == "date"
    # offline now: the cache is reused, yfinance is not called
    monkeypatch.setattr(yfinance, "download", lambda *a, **k: pytest.fail("network used"))
    again = load_daily(["AAPL"], source="yfinance", cache_dir=tmp_path)["AAPL"]
    pd.testing.assert_frame_equal(again, a, check_freq=False, atol=1e-8)


def test_offline_without_cache_is_data_error(tmp_path, offline):
    with pytest.raises(DataError) as ei:
        load_daily(["AAPL", "MSFT"], source="yfinance", cache_dir=tmp_path)
    msg = str(ei.value)
    assert "AAPL" in msg and "MSFT" in msg and str(tmp_path) in msg and "\n" not in msg


def test_download_command_refreshes_and_reports_failures(tmp_path, fake_yf, monkeypatch):
    done = download(["AAPL"], cache_dir=tmp_path, progress=False)
    assert done["AAPL"].is_file()
    monkeypatch.setattr(yfinance, "download", lambda *a, **k: pd.DataFrame())
    with pytest.raises(DataError, match="BAD"):
        download(["BAD"], cache_dir=tmp_path, progress=False)


def test_download_exception_is_data_error(tmp_path, monkeypatch):
    def boom(*a, **k):
        raise ConnectionError("no network")
    monkeypatch.setattr(yfinance, "download", boom)
    with pytest.raises(DataError, match="offline"):
        load_daily(["AAPL"], source="yfinance", cache_dir=tmp_path)


def test_default_cache_dir_under_user_cache(monkeypatch, tmp_path):
    import platformdirs
    monkeypatch.setattr(platformdirs, "user_cache_dir", lambda app: str(tmp_path / app))
    assert cache_path("AAPL").parent == tmp_path / "bt-rlportfolio" / "yfinance"


# --- the cache knows the window it holds -----------------------------------------------------

LISTED = pd.Timestamp("2023-01-02")      # first bar yfinance has for the fake tickers


def ranged_frame(ticker, start=None, end=None, period=None):
    """What yfinance.download returns for [start, end) (end exclusive), MultiIndex, tz-aware."""
    lo = max(pd.Timestamp(start), LISTED) if start is not None else LISTED
    hi = pd.Timestamp(end) - pd.Timedelta(days=1) if end is not None else pd.Timestamp("2024-12-31")
    idx = pd.bdate_range(lo, hi, name="Date").tz_localize("America/New_York")
    c = 100.0 + (idx.dayofyear.to_numpy() % 7)             # deterministic, depends on the date
    df = pd.DataFrame({"Close": c, "High": c + 1, "Low": c - 1, "Open": c, "Volume": 1e6},
                      index=idx)
    df.columns = pd.MultiIndex.from_product([df.columns, [ticker]], names=["Price", "Ticker"])
    return df


@pytest.fixture
def ranged_yf(monkeypatch):
    calls = []

    def fake_download(tickers, *a, **k):
        calls.append({key: k.get(key) for key in ("start", "end", "period")})
        return ranged_frame(tickers, k.get("start"), k.get("end"), k.get("period"))

    monkeypatch.setattr(yfinance, "download", fake_download)
    return calls


def _go_offline(monkeypatch, how="empty"):
    def fake(*a, **k):
        if how == "raise":
            raise ConnectionError("no network")
        return pd.DataFrame()
    monkeypatch.setattr(yfinance, "download", fake)


def _window(tmp_path, t="AAPL"):
    return json.loads(cache_path(t, tmp_path, ".json").read_text())


def test_window_is_stored_beside_the_cache(tmp_path, ranged_yf):
    d = load_daily(["AAPL"], source="yfinance", start="2024-01-02", end="2024-01-31",
                   cache_dir=tmp_path, today="2024-06-30")["AAPL"]
    assert _window(tmp_path) == {"start": "2024-01-02", "end": "2024-01-31"}
    assert ranged_yf == [{"start": "2024-01-02", "end": "2024-02-01", "period": None}]
    assert d.index[0] == pd.Timestamp("2024-01-02") and d.index[-1] == pd.Timestamp("2024-01-31")
    assert not list(tmp_path.glob("*.tmp"))


def test_covered_request_served_offline(tmp_path, ranged_yf, monkeypatch):
    load_daily(["AAPL"], source="yfinance", start="2024-01-02", end="2024-01-31",
               cache_dir=tmp_path, today="2024-06-30")
    monkeypatch.setattr(yfinance, "download", lambda *a, **k: pytest.fail("network used"))
    d = load_daily(["AAPL"], source="yfinance", start="2024-01-10", end="2024-01-20",
                   cache_dir=tmp_path, today="2024-06-30")["AAPL"]
    assert d.index[0] == pd.Timestamp("2024-01-10") and d.index[-1] == pd.Timestamp("2024-01-19")


def test_wider_request_online_fetches_only_the_missing_part(tmp_path, ranged_yf):
    kw = {"source": "yfinance", "cache_dir": tmp_path, "today": "2024-06-30"}
    load_daily(["AAPL"], start="2024-01-02", end="2024-01-31", **kw)
    ranged_yf.clear()
    d = load_daily(["AAPL"], start="2023-12-01", end="2024-02-29", **kw)["AAPL"]
    # one download before (overlapping the first cached bar), one after (from the last bar)
    assert ranged_yf == [{"start": "2023-12-01", "end": "2024-01-03", "period": None},
                         {"start": "2024-01-31", "end": "2024-03-01", "period": None}]
    assert d.index[0] == pd.Timestamp("2023-12-01") and d.index[-1] == pd.Timestamp("2024-02-29")
    assert d.index.is_unique and len(d) == len(pd.bdate_range("2023-12-01", "2024-02-29"))
    assert _window(tmp_path) == {"start": "2023-12-01", "end": "2024-02-29"}
    # and now the whole range is served from the cache
    ranged_yf.clear()
    load_daily(["AAPL"], start="2023-12-15", end="2024-02-15", **kw)
    assert ranged_yf == []


def test_full_history_request_after_a_window(tmp_path, ranged_yf):
    kw = {"source": "yfinance", "cache_dir": tmp_path, "today": "2024-06-30"}
    load_daily(["AAPL"], start="2024-01-02", end="2024-01-31", **kw)
    ranged_yf.clear()
    d = load_daily(["AAPL"], end="2024-01-31", **kw)["AAPL"]
    assert ranged_yf == [{"start": None, "end": "2024-01-03", "period": "max"}]
    assert d.index[0] == LISTED and _window(tmp_path)["start"] is None


@pytest.mark.parametrize("how", ["empty", "raise"])
def test_wider_request_offline_says_what_is_cached_and_missing(tmp_path, ranged_yf,
                                                                monkeypatch, how):
    kw = {"source": "yfinance", "cache_dir": tmp_path, "today": "2024-06-30"}
    load_daily(["AAPL"], start="2024-01-02", end="2024-01-31", **kw)
    before = cache_path("AAPL", tmp_path).read_bytes()
    _go_offline(monkeypatch, how)
    with pytest.raises(DataError) as ei:
        load_daily(["AAPL"], start="2024-01-02", end="2024-03-29", **kw)
    msg = str(ei.value)
    assert "\n" not in msg and "AAPL" in msg
    assert "2024-01-02..2024-01-31" in msg                 # the cached range
    assert "2024-02-01..2024-03-29" in msg                 # the missing range
    assert "reconnect" in msg and "--start/--end" in msg
    assert cache_path("AAPL", tmp_path).read_bytes() == before   # cache untouched
    assert _window(tmp_path) == {"start": "2024-01-02", "end": "2024-01-31"}


def test_open_end_means_today(tmp_path, ranged_yf, monkeypatch):
    kw = {"source": "yfinance", "cache_dir": tmp_path}
    load_daily(["AAPL"], start="2024-01-02", today="2024-03-15", **kw)
    assert _window(tmp_path) == {"start": "2024-01-02", "end": "2024-03-15"}
    _go_offline(monkeypatch)
    # same day: covered; a later day: the new days are missing -> loud, with the way out
    load_daily(["AAPL"], start="2024-01-02", today="2024-03-15", **kw)
    with pytest.raises(DataError, match="2024-03-16..2024-03-20 is missing"):
        load_daily(["AAPL"], start="2024-01-02", today="2024-03-20", **kw)
    # an explicit end inside the cache still works offline
    d = load_daily(["AAPL"], start="2024-01-02", end="2024-03-15", today="2024-03-20", **kw)
    assert d["AAPL"].index[-1] == pd.Timestamp("2024-03-15")


def test_end_after_today_is_capped(tmp_path, ranged_yf):
    load_daily(["AAPL"], source="yfinance", start="2024-01-02", end="2031-12-31",
               cache_dir=tmp_path, today="2024-03-15")
    assert _window(tmp_path)["end"] == "2024-03-15"


def test_cache_without_window_file_holds_its_bars(tmp_path, ranged_yf, monkeypatch):
    kw = {"source": "yfinance", "cache_dir": tmp_path, "today": "2024-06-30"}
    load_daily(["AAPL"], start="2024-01-02", end="2024-01-31", **kw)
    cache_path("AAPL", tmp_path, ".json").unlink()          # a cache written by an older version
    _go_offline(monkeypatch)
    assert len(load_daily(["AAPL"], start="2024-01-05", end="2024-01-31", **kw)["AAPL"]) > 10
    with pytest.raises(DataError, match="holds 2024-01-02..2024-01-31"):
        load_daily(["AAPL"], start="2023-06-01", end="2024-01-31", **kw)
