"""yfinance source with a monkeypatched yfinance.download (no network)."""

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
