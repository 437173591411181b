"""``load_daily``: one API over the three sources (packaged, yfinance, user files)."""

from __future__ import annotations

import pandas as pd

from feeds.errors import ConfigError, DataError

SOURCES = ("packaged", "yfinance", "files")


def load_daily(tickers, source: str = "packaged", path=None, start=None, end=None,
               cache_dir=None, *, kinds: dict | None = None,
               today=None) -> dict[str, pd.DataFrame]:
    """Cleaned daily bars per ticker.

    Args:
        tickers: ticker list (or a single ticker string).
        source: ``packaged`` (offline default), ``yfinance`` (cached downloads) or ``files``.
        path: for ``files``: a directory of per-ticker CSVs or one long CSV.
        start, end: inclusive date bounds (anything ``pd.Timestamp`` accepts), or None.
        cache_dir: for ``yfinance``: cache folder (default: the user cache dir).
        kinds: ticker -> ``price``/``yield`` (default from the ticker name, e.g. ``^TNX`` is a
            yield); for ``files`` this decides whether price cleaning applies.
        today: the current date (default ``pd.Timestamp.today()``): user-file rows after it
            raise; an open ``end`` on yfinance means up to it.

    Returns:
        ``{ticker: DataFrame}`` in the order asked, columns ``open high low close volume``
        (float), tz-naive ``DatetimeIndex`` named ``date``, sorted, unique. Yield tickers
        (``^TNX``, ``DGS10``...) carry the yield in percent in ``close`` (o/h/l equal it,
        volume 0).

    Raises:
        ConfigError: unknown source. DataError: a ticker that is not a safe name, unknown
        ticker, missing/malformed data, or no rows in [start, end].
    """
    from feeds.names import validate_ticker

    if isinstance(tickers, str):
        tickers = [tickers]
    tickers = [validate_ticker(t) for t in tickers]
    if source == "packaged":
        from feeds.packaged import load_packaged
        data = load_packaged(tickers)
    elif source == "yfinance":
        from feeds.yahoo import load_yahoo
        data = load_yahoo(tickers, start=start, end=end, cache_dir=cache_dir, today=today)
    elif source == "files":
        from feeds.files import load_files
        data = load_files(tickers, path, kinds=kinds, today=today)
    else:
        raise ConfigError(f"unknown source {source!r}; choose one of {list(SOURCES)}")
    s = pd.Timestamp(start) if start is not None else None
    e = pd.Timestamp(end) if end is not None else None
    out = {}
    for t in tickers:
        df = data[t]
        if s is not None or e is not None:
            df = df.loc[s:e]
        if df.empty:
            raise DataError(f"{source}: {t}: no rows between {start} and {end}; widen the dates")
        out[t] = df
    return out
