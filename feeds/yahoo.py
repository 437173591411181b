"""yfinance source with an atomic per-ticker CSV cache that knows the window it holds.

Downloads use ``yfinance.download(ticker, auto_adjust=True)`` (split- and dividend-adjusted
OHLC), one ticker at a time, and are cached as ``<cache_dir>/<TICKER>.csv`` (``date,open,high,
low,close,volume``; ``^`` and ``_`` escaped as ``_5E``/``_5F``) beside ``<TICKER>.json`` holding
the window fetched: ``{"start": "2018-01-01" or null, "end": "2024-12-31"}`` (inclusive dates;
``start`` null = the whole history; ``end`` = the last day asked for, at most the day of the
download). ``cache_dir`` defaults to ``platformdirs.user_cache_dir("bt-rlportfolio")/yfinance``;
the ticker is validated and paths are built with :func:`feeds.names.safe_join`. Files are written
atomically (a temporary file in the same folder, then ``os.replace``); the CSV is written before
its window, so an interruption can only make the cache claim less than it holds.

A request ``[start, end]`` (``end`` None = today) is served from the cache when the window covers
it. Otherwise the missing part is downloaded (overlapping the cached bars by one bar, so an empty
answer means the download failed), merged (new rows win on a shared date) and the window widened.
When that download fails or returns nothing (offline), :class:`~feeds.errors.DataError` names the
ticker, the cached and the missing range and says to reconnect or narrow ``--start/--end``. A
cache without a window file (older versions) is taken to hold its first..last bar. A ticker not
cached at all whose download fails raises DataError naming the tickers and the cache folder.
``python -m feeds download`` refreshes (overwrites) the cache.

Both layouts yfinance returns are handled: flat columns (``Open, High, ...``) and the
``MultiIndex`` (Price, Ticker) columns of ``download()``; tz-aware indexes become the
exchange-local date.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from pathlib import Path

import pandas as pd

from feeds.checks import today_or
from feeds.clean import clean_daily, to_local_dates
from feeds.errors import DataError
from feeds.names import safe_join, validate_ticker
from feeds.universe import ticker_kind

log = logging.getLogger("feeds.yahoo")

APP_NAME = "bt-rlportfolio"


def default_cache_dir() -> Path:
    """``platformdirs.user_cache_dir("bt-rlportfolio")/yfinance``."""
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME)) / "yfinance"


def cache_path(ticker: str, cache_dir=None, suffix: str = ".csv") -> Path:
    """The cache file of ``ticker`` (``^`` and ``_`` escaped as ``_5E``/``_5F``).

    ``suffix=".json"`` gives its window file. Raises DataError for an unsafe ticker.
    """
    validate_ticker(ticker)
    d = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    safe = re.sub(r"[^A-Za-z0-9.\-=]", lambda m: f"_{ord(m.group()):02X}", ticker)
    return safe_join(d, f"{safe}{suffix}")


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

    ``start``/``end`` are inclusive dates (yfinance's own ``end`` is exclusive: a day is added).
    Without ``start`` the whole history is requested (``period="max"``). Download errors are
    logged and give an empty frame.
    """
    import yfinance as yf

    # yfinance defaults to one month when no start is given: ask for the full history instead
    span = {"start": _day(start)} if start is not None else {"period": "max"}
    if end is not None:
        span["end"] = _day(pd.Timestamp(end) + pd.Timedelta(days=1))
    try:
        raw = yf.download(ticker, auto_adjust=True, actions=False, progress=False,
                          threads=False, **span)
    except Exception as exc:  # network errors come in many types
        log.warning("yfinance download of %s failed: %s", ticker, exc)
        return pd.DataFrame()
    if raw is None or len(raw) == 0:
        return pd.DataFrame()
    return normalize_frame(raw, ticker)


def _day(ts) -> str | None:
    return None if ts is None else pd.Timestamp(ts).strftime("%Y-%m-%d")


def _atomic_write(path: Path, write) -> None:
    """Call ``write(fh)`` on a temp file in ``path``'s folder, then ``os.replace`` it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_cache(df: pd.DataFrame, path: Path, window: tuple | None = None) -> None:
    """Write ``df`` to ``path`` atomically, then its window ``(start|None, end)`` beside it.

    The old window file is removed first and the new one written last, so an interruption
    leaves a cache that claims at most what it holds.
    """
    out = df.copy()
    out.index = pd.DatetimeIndex(out.index).strftime("%Y-%m-%d")
    out.index.name = "date"
    side = _side(path)
    if side.exists():
        side.unlink()
    _atomic_write(path, lambda fh: out.to_csv(fh, float_format="%.10g"))
    if window is not None:
        doc = {"start": _day(window[0]), "end": _day(window[1])}
        _atomic_write(side, lambda fh: json.dump(doc, fh))


def _side(path: Path) -> Path:
    """The window file beside the cache CSV ``path`` (``AAPL.csv`` -> ``AAPL.json``)."""
    return safe_join(path.parent, path.with_suffix(".json").name)


def read_cache(path: Path, ticker: str) -> pd.DataFrame:
    df = pd.read_csv(path)
    return clean_daily(df, ticker, str(path), kind=ticker_kind(ticker))


def read_window(path: Path, cached: pd.DataFrame) -> tuple:
    """``(start|None, end)`` the cache at ``path`` holds (no window file: first..last bar)."""
    side = _side(path)
    try:
        doc = json.loads(side.read_text())
        start = pd.Timestamp(doc["start"]) if doc.get("start") else None
        return start, pd.Timestamp(doc["end"])
    except (OSError, ValueError, KeyError, TypeError):
        log.info("%s: no valid window file; taking the cached bars' range", path)
        return cached.index[0], cached.index[-1]


def missing_ranges(window: tuple, start, end) -> list[tuple]:
    """Parts of ``[start, end]`` (start None = all history) outside the cached ``window``."""
    w_start, w_end = window
    gaps = []
    if w_start is not None and (start is None or start < w_start):
        gaps.append((start, w_start - pd.Timedelta(days=1)))
    if end > w_end:
        gaps.append((w_end + pd.Timedelta(days=1), end))
    return gaps



def _fetch_to_cache(t: str, p, s, e):
    """Download ``t`` for ``[s, e)``, clean it and write the cache at ``p`` with its window;
    the cleaned frame, or None when the download returned nothing."""
    df = fetch(t, s, e)
    if df.empty:
        return None
    clean = clean_daily(df, t, "yfinance", kind=ticker_kind(t))
    write_cache(clean, p, (s, e))
    return clean

def download(tickers, start=None, end=None, cache_dir=None, progress: bool = True,
             today=None) -> dict:
    """Download ``tickers`` into the cache (overwriting), with a tqdm progress bar.

    Returns ``{ticker: cache path}``. Raises DataError listing the tickers that returned nothing.
    """
    from tqdm import tqdm

    s, e = _request(start, end, today)
    done, failed = {}, []
    for t in tqdm(list(tickers), desc="yfinance", unit="ticker", disable=not progress):
        p = cache_path(t, cache_dir)
        if _fetch_to_cache(t, p, s, e) is None:
            failed.append(t)
            continue
        done[t] = p
    if failed:
        where = cache_path("X", cache_dir).parent
        raise DataError(f"yfinance returned no data for {failed} (offline, or unknown ticker); "
                        f"cache {where} has {len(done)} downloaded tickers; check the network "
                        f"and the ticker names, or use source='packaged'")
    return done


def _request(start, end, today) -> tuple:
    """The inclusive request: start (None = all history), end capped at today."""
    now = today_or(today)
    s = pd.Timestamp(start).normalize() if start is not None else None
    e = min(pd.Timestamp(end).normalize(), now) if end is not None else now
    return s, e


def _extend(t: str, p: Path, cached: pd.DataFrame, window: tuple, gaps: list) -> pd.DataFrame:
    """Download the ``gaps`` (each overlapping the cached bars), merge, write; or DataError."""
    parts = []
    for g_start, g_end in gaps:
        # overlap one cached bar, so that an online answer can never be empty
        if g_end < cached.index[0]:
            lo, hi = g_start, cached.index[0]
        else:
            lo, hi = cached.index[-1], g_end
        new = fetch(t, lo, hi)
        if new.empty:
            have = f"{_day(window[0]) or 'all history'}..{_day(window[1])}"
            want = f"{_day(g_start) or 'the start of its history'}..{_day(g_end)}"
            raise DataError(f"yfinance: {t}: the cache {p} holds {have} but {want} is missing "
                            f"and the download returned nothing (offline?); reconnect, or "
                            f"narrow --start/--end to {have}")
        new.index = to_local_dates(new.index)
        parts.append(new)
    merged = pd.concat([cached] + parts)
    merged = merged[~merged.index.duplicated(keep="last")].sort_index()
    clean = clean_daily(merged, t, "yfinance", kind=ticker_kind(t))
    starts = [window[0]] + [g[0] for g in gaps]
    start = None if any(x is None for x in starts) else min(starts)
    write_cache(clean, p, (start, max([window[1]] + [g[1] for g in gaps])))
    log.info("yfinance %s: cache extended to %s..%s", t, _day(start) or "all",
             _day(clean.index[-1]))
    return clean


def load_yahoo(tickers, start=None, end=None, cache_dir=None, today=None
               ) -> dict[str, pd.DataFrame]:
    """Cleaned daily bars for ``tickers``: from the cache when it covers ``[start, end]``, else
    the missing part is downloaded and the cache extended (see the module doc).

    Raises:
        DataError: a ticker is not cached and the download returned nothing (offline), or the
            cache does not cover the request and the download of the missing part failed.
    """
    s, e = _request(start, end, today)
    out, missing = {}, []
    for t in tickers:
        p = cache_path(t, cache_dir)
        if p.is_file():
            cached = read_cache(p, t)
            window = read_window(p, cached)
            gaps = missing_ranges(window, s, e)
            out[t] = _extend(t, p, cached, window, gaps) if gaps else cached
            continue
        clean = _fetch_to_cache(t, p, s, e)
        if clean is None:
            missing.append(t)
            continue
        out[t] = clean
    if missing:
        where = cache_path("X", cache_dir).parent
        raise DataError(f"no data for {missing}: not in the cache {where} "
                        f"and the yfinance download returned nothing (offline?); connect and run "
                        f"`python -m feeds download`, or use source='packaged'")
    return out
