"""User files: a folder of per-ticker CSVs, or one long or wide CSV (layouts: :mod:`feeds.layouts`).

``path`` is either

* a **folder** of per-ticker files (``yahoo``, ``yfinance-dump`` or ``close-only`` layout, ``.csv``
  or ``.csv.gz``). File lookup for ticker ``T``: ``T.csv``, ``T.csv.gz``; for ``X.JK`` also
  ``X.csv``; for ``TON-USD`` also ``TON11419-USD.csv`` (Yahoo's id); for ``^TNX`` also
  ``DGS10.csv``. The ticker is validated (:func:`feeds.names.validate_ticker`) and every path is
  built with :func:`feeds.names.safe_join`, so nothing outside the folder is read; or
* **one file** in the ``long`` or ``wide`` layout.

The layout detected is logged (logger ``feeds.layouts`` / ``feeds.files``, level INFO). A file is
a yield series only when its ticker is a yield ticker (``kinds`` or :func:`ticker_kind`), never
because of its shape. Every row then passes :func:`feeds.checks.check_rows` (future dates and
impossible prices raise) and the common cleaning (:func:`feeds.clean.clean_daily`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from feeds.checks import check_rows, parse_dates
from feeds.clean import clean_daily
from feeds.errors import DataError
from feeds.layouts import (  # noqa: F401  (YAHOO_ALIASES kept importable from here)
    YAHOO_ALIASES,
    SingleFile,
    candidates,
    open_text,
    parse_ticker_text,
)
from feeds.names import safe_join, validate_ticker

log = logging.getLogger("feeds.files")


def parse_csv_text(text: str, source: str, ticker: str, kind: str | None = None
                   ) -> tuple[pd.DataFrame, str]:
    """Parse one per-ticker CSV text (any per-ticker layout); uncleaned.

    Returns ``(frame, kind)``: the frame has ``date open high low close volume`` (adjusted);
    ``kind`` is the given ``kind`` or :func:`feeds.universe.ticker_kind` of ``ticker`` -- never
    guessed from the file's shape.
    """
    from feeds.universe import ticker_kind

    df, _layout = parse_ticker_text(text, f"{source}: {ticker}")
    return df.drop(columns="_line"), kind or ticker_kind(ticker)


def read_csv_file(path: str | Path, ticker: str, kind: str | None = None
                  ) -> tuple[pd.DataFrame, str]:
    """Read one per-ticker file; uncleaned. See :func:`parse_csv_text`."""
    path = Path(path)
    return parse_csv_text(open_text(path), str(path), ticker, kind)


def find_ticker_file(directory: Path, ticker: str) -> Path | None:
    """The file for ``ticker`` in ``directory`` (names tried: see the module doc), or None.

    Raises:
        DataError: the ticker is not a safe name, or a candidate leads outside ``directory``.
    """
    validate_ticker(ticker)
    for stem in candidates(ticker):
        for ext in (".csv", ".csv.gz"):
            p = safe_join(directory, f"{stem}{ext}")
            if p.is_file():
                return p
    return None


def _existing(path) -> Path:
    if path is None:
        raise DataError("source='files' needs path=<folder of TICKER.csv files, or one long or "
                        "wide CSV>; pass --path")
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"{p}: path does not exist; pass a folder of TICKER.csv files, or one "
                        f"long (date,ticker,open,high,low,close,volume) or wide (date,TICKER1,"
                        f"TICKER2,...) CSV")
    return p


def file_tickers(path) -> list[str] | None:
    """Tickers held by a single long/wide file; None for a folder (ask :func:`has_ticker`)."""
    p = _existing(path)
    return SingleFile(p).tickers() if p.is_file() else None


def has_ticker(path, ticker: str) -> bool:
    """True when the user data at ``path`` (folder or single file) hold ``ticker``."""
    validate_ticker(ticker)
    p = _existing(path)
    if p.is_file():
        return SingleFile(p).column_of(ticker) is not None
    return find_ticker_file(p, ticker) is not None


def file_asset_classes(path) -> dict[str, str]:
    """ticker -> class from a long file's optional ``asset_class`` column ({} otherwise)."""
    if path is None:
        return {}
    p = _existing(path)
    return SingleFile(p).asset_classes() if p.is_file() else {}


def _finish(frame: pd.DataFrame, ticker: str, source: str, kind: str, today) -> pd.DataFrame:
    """Dates parsed, rows checked (user-file rules), then the common cleaning."""
    label = f"{source}: {ticker}"
    frame = parse_dates(frame, label)
    check_rows(frame, label, kind=kind, today=today)
    return clean_daily(frame.drop(columns="_line"), ticker, source, kind=kind)


def load_files(tickers, path, kinds: dict | None = None, today=None) -> dict[str, pd.DataFrame]:
    """Cleaned daily bars for ``tickers`` from ``path`` (a folder, or one long/wide file).

    Args:
        tickers: tickers to read (each must pass :func:`validate_ticker`).
        path: folder of per-ticker files, or one long or wide CSV.
        kinds: ticker -> ``price``/``yield`` (default :func:`feeds.universe.ticker_kind`).
        today: rows dated after this raise (default: the real today).

    Raises:
        DataError: bad ticker name, path missing, file missing/malformed/unrecognised, a
            non-numeric cell, a future-dated or impossible row, a duplicate date.
    """
    from feeds.universe import ticker_kind

    tickers = [validate_ticker(t) for t in tickers]
    p = _existing(path)
    out = {}
    single = SingleFile(p) if p.is_file() else None
    for t in tickers:
        kind = (kinds or {}).get(t) or ticker_kind(t)
        if single is not None:
            out[t] = _finish(single.frame_for(t), t, str(p), kind, today)
            continue
        f = find_ticker_file(p, t)
        if f is None:
            tried = ", ".join(f"{s}.csv" for s in candidates(t))
            raise DataError(f"{p}: no file for ticker {t} (tried {tried}, and .csv.gz); add the "
                            f"file or remove the ticker from the universe")
        frame, layout = parse_ticker_text(open_text(f), f"{f}: {t}")
        log.info("%s: detected layout %s for %s (%s)", f, layout, t, kind)
        out[t] = _finish(frame, t, str(f), kind, today)
    return out


__all__ = [
    "file_asset_classes",
    "file_tickers",
    "find_ticker_file",
    "has_ticker",
    "load_files",
    "parse_csv_text",
    "read_csv_file",
]
