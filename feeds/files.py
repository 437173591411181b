"""User files: a directory of per-ticker CSVs in Yahoo's layouts, or one long CSV.

Layouts recognised (``.csv`` or ``.csv.gz``; column names are case-insensitive):

* **Yahoo flat**: ``Date,Open,High,Low,Close,[Adj Close],Volume[,Dividends,Stock Splits]``; the
  date column may also be called ``Datetime`` or ``Trading Date`` and may carry a UTC offset.
* **yfinance multi-row header dump** (``df.to_csv()`` of a ``yfinance.download`` frame): three
  header lines ``Price,...`` / ``Ticker,...`` / ``Ticker,...`` (or two) then ``Date,,,,`` and the
  data. Detected from the first cell ``Price`` and a second line starting with ``Ticker``. A
  second column labelled ``Price`` (as in some dumps) is read as ``Adj Close``.
* **FRED**: ``observation_date,DGS10`` (or ``DATE,...``): a yield in percent; blanks are missing.
* **Long**: one file with ``date,ticker,open,high,low,close,volume`` (pass the file, not a folder).

When a file has both ``Close`` and ``Adj Close``, open/high/low/close are multiplied by
``Adj Close / Close`` (split- and dividend-adjusted OHLC), as the packaged dataset does.

File lookup for ticker ``T`` in a directory: ``T.csv``, ``T.csv.gz``; for ``X.JK`` also ``X.csv``;
for ``TON-USD`` also ``TON11419-USD.csv`` (Yahoo's id); for ``^TNX`` also ``DGS10.csv``.
"""

from __future__ import annotations

import gzip
import io
import logging
from pathlib import Path

import pandas as pd

from feeds.clean import clean_daily
from feeds.errors import DataError

log = logging.getLogger("feeds.files")

YAHOO_ALIASES = {"TON-USD": ("TON11419-USD",), "^TNX": ("DGS10", "TNX")}
_DATE_NAMES = ("date", "datetime", "trading date", "observation_date", "timestamp")


def _open_text(path: Path) -> str:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt", encoding="utf-8-sig") as fh:
                return fh.read()
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise DataError(f"{path}: cannot read ({exc}); check the file is a readable CSV") from exc


def _adjust(df: pd.DataFrame) -> pd.DataFrame:
    """Scale O/H/L/C by Adj Close / Close when both are present; drop the adj column."""
    if "adj close" in df.columns:
        adj = pd.to_numeric(df["adj close"], errors="coerce")
        close = pd.to_numeric(df["close"], errors="coerce")
        factor = adj / close
        for c in ("open", "high", "low", "close"):
            df[c] = pd.to_numeric(df[c], errors="coerce") * factor
        df = df.drop(columns=["adj close"])
    return df


def parse_csv_text(text: str, source: str, ticker: str) -> tuple[pd.DataFrame, str]:
    """Parse one per-ticker CSV text in any recognised layout.

    Returns ``(frame, kind)``: the frame has a ``date`` column and ``open high low close volume``
    (adjusted, uncleaned); ``kind`` is ``price`` or ``yield`` (FRED layout).
    """
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise DataError(f"{source}: {ticker}: the file is empty; re-download it")
    first = [c.strip().lower() for c in lines[0].split(",")]
    try:
        if first[0] == "price" and len(lines) > 1 and lines[1].lower().startswith("ticker"):
            # yfinance multi-row header dump
            n_head = 1
            while n_head < len(lines) and lines[n_head].lower().startswith("ticker"):
                n_head += 1
            if n_head < len(lines) and lines[n_head].lower().startswith("date"):
                n_head += 1
            names = ["date"] + [("adj close" if c == "price" else c) for c in first[1:]]
            df = pd.read_csv(io.StringIO(text), header=None, skiprows=n_head, names=names,
                             na_values=["null", ""])
            kind = "price"
        else:
            df = pd.read_csv(io.StringIO(text), na_values=["null", "", "."])
            df.columns = [str(c).strip().lower() for c in df.columns]
            date_col = next((c for c in df.columns if c in _DATE_NAMES), None)
            if date_col is None:
                raise DataError(f"{source}: {ticker}: no date column (found {list(df.columns)}); "
                                f"expected Yahoo's Date,Open,High,Low,Close,Volume")
            df = df.rename(columns={date_col: "date", "adj_close": "adj close",
                                    "adjclose": "adj close"})
            if len(df.columns) == 2 and "close" not in df.columns:
                # FRED: observation_date,<SERIES>
                df.columns = ["date", "close"]
                kind = "yield"
            else:
                kind = "price"
    except (pd.errors.ParserError, ValueError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"{source}: {ticker}: malformed CSV ({str(exc).splitlines()[0]}); "
                        f"expected Yahoo's Date,Open,High,Low,Close,Volume layout") from exc
    if kind == "price":
        missing = [c for c in ("open", "high", "low", "close") if c not in df.columns]
        if missing:
            raise DataError(f"{source}: {ticker}: missing columns {missing}; expected Yahoo's "
                            f"Date,Open,High,Low,Close,[Adj Close],Volume layout")
        if "volume" not in df.columns:
            df["volume"] = 0.0
        df = _adjust(df)
        df = df[["date", "open", "high", "low", "close", "volume"]]
    else:
        df["close"] = pd.to_numeric(df["close"], errors="coerce")
        df = df.assign(open=df["close"], high=df["close"], low=df["close"], volume=0.0)
        df = df[["date", "open", "high", "low", "close", "volume"]]
    return df, kind


def read_csv_file(path: str | Path, ticker: str) -> tuple[pd.DataFrame, str]:
    """Read one per-ticker file (any recognised layout); uncleaned. See :func:`parse_csv_text`."""
    path = Path(path)
    return parse_csv_text(_open_text(path), str(path), ticker)


def find_ticker_file(directory: Path, ticker: str) -> Path | None:
    """The file for ``ticker`` in ``directory`` (see module doc for the names tried)."""
    stems = [ticker]
    if ticker.upper().endswith(".JK"):
        stems.append(ticker[:-3])
    stems += list(YAHOO_ALIASES.get(ticker.upper(), ()))
    for stem in stems:
        for ext in (".csv", ".csv.gz"):
            p = directory / f"{stem}{ext}"
            if p.is_file():
                return p
    return None


def read_long_csv(path: str | Path) -> pd.DataFrame:
    """Read a long CSV ``date,ticker,open,high,low,close,volume`` (uncleaned)."""
    path = Path(path)
    text = _open_text(path)
    try:
        df = pd.read_csv(io.StringIO(text), na_values=["null", ""])
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(f"{path}: malformed CSV ({str(exc).splitlines()[0]}); expected columns "
                        f"date,ticker,open,high,low,close,volume") from exc
    df.columns = [str(c).strip().lower() for c in df.columns]
    need = ["date", "ticker", "open", "high", "low", "close", "volume"]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing columns {missing}; a single file must be long format "
                        f"date,ticker,open,high,low,close,volume (for per-ticker Yahoo CSVs pass "
                        f"the directory)")
    return df[need]


def load_files(tickers, path, kinds: dict | None = None) -> dict[str, pd.DataFrame]:
    """Cleaned daily bars for ``tickers`` from ``path`` (directory or one long CSV).

    Raises:
        DataError: the path does not exist, a ticker's file is missing or malformed.
    """
    from feeds.universe import ticker_kind

    if path is None:
        raise DataError("source='files' needs path=<directory of TICKER.csv files or one long "
                        "CSV>; pass --path")
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"{p}: path does not exist; pass a directory of TICKER.csv files or a "
                        f"long CSV date,ticker,open,high,low,close,volume")
    out = {}
    if p.is_file():
        long = read_long_csv(p)
        long["ticker"] = long["ticker"].astype(str)
        for t in tickers:
            sub = long[long["ticker"] == t]
            if sub.empty:
                have = sorted(long["ticker"].unique())[:10]
                raise DataError(f"{p}: ticker {t} not found in the long CSV (it has {have}...); "
                                f"add its rows or remove it from the universe")
            kind = (kinds or {}).get(t) or ticker_kind(t)
            out[t] = clean_daily(sub.drop(columns=["ticker"]), t, str(p), kind=kind)
        return out
    for t in tickers:
        f = find_ticker_file(p, t)
        if f is None:
            raise DataError(f"{p}: no file for ticker {t} (tried {t}.csv, {t}.csv.gz); add the "
                            f"file or remove the ticker from the universe")
        df, kind = read_csv_file(f, t)
        kind = (kinds or {}).get(t) or (kind if kind == "yield" else ticker_kind(t))
        out[t] = clean_daily(df, t, str(f), kind=kind)
    return out


__all__ = ["load_files", "read_csv_file", "parse_csv_text", "read_long_csv", "find_ticker_file"]
