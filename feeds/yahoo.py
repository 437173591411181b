"""yfinance source with an atomic per-ticker CSV cache.

Downloads use ``yfinance.download(ticker, auto_adjust=True)`` (split- and dividend-adjusted
OHLC), one ticker at a time, and are cached as ``<cache_dir>/<TICKER>.csv`` (``date,open,high,
low,close,volume``) where ``cache_dir`` defaults to
``platformdirs.user_cache_dir("bt-rlportfolio")/yfinance``. Files are written atomically (a
temporary file in the same folder, then ``os.replace``), so an interrupted download never leaves
a half-written cache. :func:`load_yahoo` reuses the cache when it is there (offline use); when a
ticker is not cached and the download fails or returns nothing, it raises
:class:`~feeds.errors.DataError` naming the tickers and the cache path -- an empty frame is never
passed on. ``python -m feeds download`` refreshes the cache.

Both layouts yfinance returns are handled: flat columns (``Open, High, ...``) and the
``MultiIndex`` (Price, Ticker) columns of ``download()``; tz-aware indexes become the
exchange-local date.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from pathlib import Path

import pandas as pd

from feeds.clean import clean_daily
from feeds.errors import DataError
from feeds.universe import ticker_kind

log = logging.getLogger("feeds.yahoo")

APP_NAME = "bt-rlportfolio"


def default_cache_dir() -> Path:
    """``platformdirs.user_cache_dir("bt-rlportfolio")/yfinance``."""
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME)) / "yfinance"


def cache_path(ticker: str, cache_dir=None) -> Path:
    """The cache file of ``ticker`` (unsafe characters such as ``^`` escaped as ``_5E``)."""
    d = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    safe = re.sub(r"[^A-Za-z0-9.\-=]", lambda m: f"_{ord(m.group()):02X}", ticker)
    return d / f"{safe}.csv"


def normalize_frame(raw: pd.DataFrame, ticker: str) -> pd.DataFrame:
    """yfinance output (flat or MultiIndex (Price, Ticker) columns) -> date,open,...,volume."""
    df = raw.copy()
    if isinstance(df.columns, pd.MultiIndex):
        lv_ticker = None
        for lv in range(df.columns.nlevels):
            if ticker in set(df.columns.get_level_values(lv)):
                lv_ticker = lv
        if lv_ticker is not None:
            df = df.xs(ticker, axis=1, level=lv_ticker)
        else:
            # single ticker frame with an unexpected second level: keep the price level
            price_lv = next(lv for lv in range(df.columns.nlevels)
                            if "Close" in set(df.columns.get_level_values(lv)))
            df.columns = df.columns.get_level_values(price_lv)
    df.columns = [str(c).strip().lower() for c in df.columns]
    if "close" not in df.columns:
        return pd.DataFrame()
    for c in ("open", "high", "low"):
        if c not in df.columns:
            df[c] = df["close"]
    if "volume" not in df.columns:
        df["volume"] = 0.0
    df = df[["open", "high", "low", "close", "volume"]]
    df.index = pd.DatetimeIndex(df.index)
    df.index.name = "date"
    return df.dropna(how="all")


def fetch(ticker: str, start=None, end=None) -> pd.DataFrame:
    """Download one ticker with yfinance (auto-adjusted); may return an empty frame.

    Without ``start`` the whole history is requested (``period="max"``).
    """
    import yfinance as yf

    # yfinance defaults to one month when no start is given: ask for the full history instead
    span = {"start": start, "end": end} if start is not None else {"period": "max", "end": end}
    if span.get("end") is None:
        span.pop("end")
    try:
        raw = yf.download(ticker, auto_adjust=True, actions=False, progress=False,
                          threads=False, **span)
    except Exception as exc:  # network errors come in many types
        log.warning("yfinance download of %s failed: %s", ticker, exc)
        return pd.DataFrame()
    if raw is None or len(raw) == 0:
        return pd.DataFrame()
    return normalize_frame(raw, ticker)


def write_cache(df: pd.DataFrame, path: Path) -> None:
    """Write ``df`` to ``path`` atomically (temp file in the same folder + ``os.replace``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    out = df.copy()
    out.index = pd.DatetimeIndex(out.index).strftime("%Y-%m-%d")
    out.index.name = "date"
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="") as fh:
            out.to_csv(fh, float_format="%.10g")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_cache(path: Path, ticker: str) -> pd.DataFrame:
    df = pd.read_csv(path)
    return clean_daily(df, ticker, str(path), kind=ticker_kind(ticker))


def download(tickers, start=None, end=None, cache_dir=None, progress: bool = True) -> dict:
    """Download ``tickers`` into the cache (overwriting), with a tqdm progress bar.

    Returns ``{ticker: cache path}``. Raises DataError listing the tickers that returned nothing.
    """
    from tqdm import tqdm

    done, failed = {}, []
    for t in tqdm(list(tickers), desc="yfinance", unit="ticker", disable=not progress):
        p = cache_path(t, cache_dir)
        df = fetch(t, start, end)
        if df.empty:
            failed.append(t)
            continue
        clean = clean_daily(df, t, "yfinance", kind=ticker_kind(t))
        write_cache(clean, p)
        done[t] = p
    if failed:
        where = cache_path("X", cache_dir).parent
        raise DataError(f"yfinance returned no data for {failed} (offline, or unknown ticker); "
                        f"cache {where} has {len(done)} downloaded tickers; check the network "
                        f"and the ticker names, or use source='packaged'")
    return done


def load_yahoo(tickers, start=None, end=None, cache_dir=None) -> dict[str, pd.DataFrame]:
    """Cleaned daily bars for ``tickers``: from the cache when present, else downloaded & cached.

    Raises:
        DataError: a ticker is not cached and the download returned nothing (offline).
    """
    out, missing = {}, []
    for t in tickers:
        p = cache_path(t, cache_dir)
        if p.is_file():
            out[t] = read_cache(p, t)
            continue
        df = fetch(t, start, end)
        if df.empty:
            missing.append(t)
            continue
        clean = clean_daily(df, t, "yfinance", kind=ticker_kind(t))
        write_cache(clean, p)
        out[t] = clean
    if missing:
        raise DataError(f"no data for {missing}: not in the cache {cache_path('X', cache_dir).parent} "
                        f"and the yfinance download returned nothing (offline?); connect and run "
                        f"`python -m feeds download`, or use source='packaged'")
    return out
