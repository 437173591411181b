"""CSV layouts of price files: detect which one a file uses and parse it into one normal form.

Per-ticker files (one file per ticker, in a folder given as ``path``):

* ``yahoo``: ``Date,Open,High,Low,Close,[Adj Close],Volume[,Dividends,Stock Splits]``; the date
  column may be called ``Datetime``, ``Trading Date``, ``timestamp`` and may carry a UTC offset.
* ``yfinance-dump``: ``df.to_csv()`` of a ``yfinance.download`` frame: header lines ``Price,...``
  / ``Ticker,...`` (once or twice) / ``Date,,,`` then data. A second column labelled ``Price``
  is read as ``Adj Close``.
* ``close-only``: a date column plus ``Close`` and/or ``Adj Close`` (optionally ``Volume``), or a
  date column plus exactly one value column (FRED's ``observation_date,DGS10``). Open, high and
  low are set equal to the close and the volume is missing (cleaning makes it 0). It is a *price*
  file unless the ticker is a known yield ticker (``^TNX``, ``DGS10``...): never judged by shape.

Single files (``path`` is the file):

* ``long``: ``date,ticker,open,high,low,close,volume[,asset_class]``; open/high/low/volume may be
  left out together (then as close-only). ``symbol`` is accepted for ``ticker``.
* ``wide``: a date column plus one column per ticker holding closes (how skfolio, PyPortfolioOpt
  and most public sets ship prices). Per ticker it is read as close-only.

The normal form is a frame with columns ``date open high low close volume _line`` (``_line`` =
the 1-based line number in the file, for error messages), numbers as float, dates as text.
A cell that is neither a number nor a missing marker (blank, ``null``, ``NaN``, ``.``) raises
:class:`~feeds.errors.DataError` naming the file, line and column. When a file has both ``Close``
and ``Adj Close``, open/high/low/close are multiplied by ``Adj Close / Close``.
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from feeds.errors import DataError

log = logging.getLogger("feeds.layouts")

DATE_NAMES = ("date", "datetime", "trading date", "observation_date", "timestamp")
OHLC = ("open", "high", "low", "close")
PRICE_FIELDS = ("open", "high", "low", "close", "adj close", "volume", "dividends",
                "stock splits", "capital gains")
NORMAL = ("date", "open", "high", "low", "close", "volume", "_line")
NA_VALUES = ["null", "", ".", "NaN", "nan", "NA", "N/A", "#N/A", "None"]
PER_TICKER_LAYOUTS = ("Yahoo Date,Open,High,Low,Close[,Adj Close],Volume; yfinance multi-row-"
                      "header dump; close-only Date,Close (or Date,Adj Close, or FRED's "
                      "observation_date,SERIES)")
SINGLE_FILE_LAYOUTS = ("long date,ticker,open,high,low,close,volume[,asset_class]; wide "
                       "date,TICKER1,TICKER2,... (closes)")


def open_text(path: Path) -> str:
    """The text of a ``.csv`` or ``.csv.gz`` file (BOM removed)."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt", encoding="utf-8-sig") as fh:
                return fh.read()
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise DataError(f"{path}: cannot read ({exc}); check the file is a readable CSV") from exc


def _fail_parse(label: str, exc: Exception, layouts: str) -> DataError:
    return DataError(f"{label}: malformed CSV ({str(exc).splitlines()[0]}); accepted layouts: "
                     f"{layouts}")


def read_table(text: str, label: str, layouts: str = PER_TICKER_LAYOUTS
               ) -> tuple[pd.DataFrame, bool]:
    """Raw table of a CSV text: lower-cased stripped names (``date`` renamed), ``_line`` added.

    Returns ``(frame, dump)``; ``dump`` is True for the yfinance multi-row header layout. Blank
    lines are dropped (line numbers still count them).
    """
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise DataError(f"{label}: the file is empty; re-download it or remove it")
    header = [c.strip() for c in next(csv.reader([lines[0]]))]
    lower = [c.lower() for c in header]
    dump = lower[0] == "price" and len(lines) > 1 and lines[1].lower().startswith("ticker")
    try:
        if dump:
            n_head = 1
            while n_head < len(lines) and lines[n_head].lower().startswith("ticker"):
                n_head += 1
            if n_head < len(lines) and lines[n_head].lower().startswith("date"):
                n_head += 1
            names = ["date"] + [("adj close" if c == "price" else c) for c in lower[1:]]
            df = pd.read_csv(io.StringIO(text), header=None, skiprows=n_head, names=names,
                             na_values=NA_VALUES, skip_blank_lines=False)
            first_line = n_head + 1
        else:
            dup = sorted({c for c in header if header.count(c) > 1})
            if dup:
                raise DataError(f"{label}: column names {dup} appear more than once; give each "
                                f"column one name")
            text_cols = {c: str for c in header if c.lower() in ("ticker", "symbol",
                                                                  "asset_class")}
            df = pd.read_csv(io.StringIO(text), na_values=NA_VALUES, skip_blank_lines=False,
                             dtype=text_cols or None)
            df.columns = [str(c).strip() for c in df.columns]
            first_line = 2
    except (pd.errors.ParserError, ValueError) as exc:
        if isinstance(exc, DataError):
            raise
        raise _fail_parse(label, exc, layouts) from exc
    df["_line"] = np.arange(len(df)) + first_line
    df = df[df.drop(columns="_line").notna().any(axis=1)]
    return df, dump


def date_column(columns) -> str | None:
    """The date column's name (``Date``, ``observation_date``, ...; or an unnamed first one)."""
    cols = list(columns)
    found = next((c for c in cols if c.lower() in DATE_NAMES), None)
    if found is None and cols and (cols[0] == "" or cols[0].lower().startswith("unnamed")):
        found = cols[0]
    return found


def numbers(df: pd.DataFrame, cols, label: str) -> pd.DataFrame:
    """``df`` with ``cols`` as float; a cell that is not a number nor a missing marker raises."""
    df = df.copy()
    for c in cols:
        s = df[c]
        if pd.api.types.is_numeric_dtype(s.dtype) and s.dtype != bool:
            df[c] = s.astype(float)
            continue
        num = pd.to_numeric(s, errors="coerce")
        bad = num.isna() & s.notna()
        if bad.any():
            row = df.loc[bad].iloc[0]
            raise DataError(f"{label}: line {int(row['_line'])} (date {row['date']}): column "
                            f"{c!r} holds {str(row[c])[:30]!r}, which is not a number; fix or "
                            f"delete the row (leave a missing value blank)")
        df[c] = num.astype(float)
    return df


def _adjust(df: pd.DataFrame) -> pd.DataFrame:
    """Scale O/H/L/C by Adj Close / Close when both are present; drop the adj column."""
    if "adj close" in df.columns and "close" in df.columns:
        factor = df["adj close"] / df["close"]
        for c in OHLC:
            df[c] = df[c] * factor
    elif "adj close" in df.columns:
        df["close"] = df["adj close"]
    return df.drop(columns=["adj close"], errors="ignore")


def close_only(frame: pd.DataFrame, value: str, label: str) -> pd.DataFrame:
    """Normal form of a date + close column: open = high = low = close, volume missing (NaN)."""
    df = numbers(frame, [value], label).rename(columns={value: "close"})
    vol = df["volume"] if "volume" in df.columns else np.nan
    df = df.assign(open=df["close"], high=df["close"], low=df["close"], volume=vol)
    if "volume" in frame.columns:
        df = numbers(df, ["volume"], label)
    return df[list(NORMAL)]


def per_ticker_layout(columns, dump: bool, label: str) -> str:
    """``yahoo``, ``yfinance-dump`` or ``close-only`` for the lower-cased ``columns``."""
    cols = [c for c in columns if c not in ("date", "_line")]
    values = [c for c in cols if c != "volume"]
    if "ticker" in cols or "symbol" in cols:
        raise DataError(f"{label}: this is a long file (it has a ticker column); pass the file "
                        f"itself as --path, not the folder that holds it")
    have = [c for c in ("open", "high", "low") if c in cols]
    if have and len(have) < 3 or (have and "close" not in cols and "adj close" not in cols):
        missing = [c for c in OHLC if c not in cols]
        raise DataError(f"{label}: missing columns {missing}; accepted layouts: "
                        f"{PER_TICKER_LAYOUTS}")
    if have:
        return "yfinance-dump" if dump else "yahoo"
    if "close" in cols or "adj close" in cols or len(values) == 1:
        return "close-only"
    raise DataError(f"{label}: layout not recognised (columns {cols[:8]}); accepted layouts "
                    f"for a per-ticker file: {PER_TICKER_LAYOUTS}; a date column with one "
                    f"column per ticker is a wide file: pass it as --path itself")


def parse_ticker_text(text: str, label: str) -> tuple[pd.DataFrame, str]:
    """Parse one per-ticker CSV text. Returns ``(normal form, layout)``.

    Raises:
        DataError: empty, no date column, unrecognised layout, or a non-numeric cell.
    """
    df, dump = read_table(text, label)
    df.columns = [c if c == "_line" else c.lower() for c in df.columns]
    dcol = date_column(df.columns)
    if dcol is None:
        raise DataError(f"{label}: no date column (found {list(df.columns)[:8]}); accepted "
                        f"layouts: {PER_TICKER_LAYOUTS}")
    df = df.rename(columns={dcol: "date", "adj_close": "adj close", "adjclose": "adj close"})
    layout = per_ticker_layout(df.columns, dump, label)
    if layout == "close-only":
        cols = [c for c in df.columns if c not in ("date", "_line", "volume")]
        value = "adj close" if "adj close" in cols else "close" if "close" in cols else cols[0]
        return close_only(df[["date", "_line", value] + (["volume"] if "volume" in df.columns
                                                           else [])], value, label), layout
    if "volume" not in df.columns:
        df["volume"] = np.nan
    num = [c for c in ("open", "high", "low", "close", "adj close", "volume") if c in df.columns]
    df = _adjust(numbers(df, num, label))
    return df[list(NORMAL)], layout


def candidates(ticker: str) -> list[str]:
    """Names ``ticker`` may be stored under: itself, ``X`` for ``X.JK``, Yahoo/FRED aliases."""
    names = [ticker]
    if ticker.upper().endswith(".JK"):
        names.append(ticker[:-3])
    return names + list(YAHOO_ALIASES.get(ticker.upper(), ()))


YAHOO_ALIASES = {"TON-USD": ("TON11419-USD",), "^TNX": ("DGS10", "TNX")}
"""Other names a ticker's data may carry (Yahoo's TON id, FRED's name of the 10-year yield)."""


class SingleFile:
    """One user file holding several tickers, in the ``long`` or the ``wide`` layout.

    Attributes:
        path: the file. layout: ``long`` or ``wide``. frame: the raw table (see
        :func:`read_table`) with the date column named ``date``.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        label = str(self.path)
        df, dump = read_table(open_text(self.path), label, SINGLE_FILE_LAYOUTS)
        dcol = None if dump else date_column(df.columns)
        if dcol is None:
            raise DataError(f"{label}: layout not recognised (no date column in "
                            f"{list(df.columns)[:8]}); a single file must be {SINGLE_FILE_LAYOUTS} "
                            f"(for per-ticker files pass their folder)")
        df = df.rename(columns={dcol: "date"})
        lower = {c.lower(): c for c in df.columns}
        tcol = lower.get("ticker") or lower.get("symbol")
        if tcol is not None:
            self.layout = "long"
            df = df.rename(columns={c: c.lower() for c in df.columns if c != "_line"})
            df = df.rename(columns={"symbol": "ticker"})
            self._check_long(df)
            df["ticker"] = df["ticker"].map(lambda v: v if pd.isna(v) else str(v).strip())
        elif any(c in PRICE_FIELDS for c in lower):
            fields = [c for c in lower if c in PRICE_FIELDS][:5]
            raise DataError(f"{label}: this is a per-ticker file ({fields}); "
                            f"put it in a folder as TICKER.csv and pass the folder, or use one "
                            f"of: {SINGLE_FILE_LAYOUTS}")
        else:
            self.layout = "wide"
        self.frame = df
        log.info("%s: detected layout %s (%d tickers)", label, self.layout, len(self.tickers()))

    def _check_long(self, df: pd.DataFrame) -> None:
        have = [c for c in ("open", "high", "low") if c in df.columns]
        missing = [c for c in ("close",) if c not in df.columns]
        if missing or 0 < len(have) < 3:
            need = [c for c in OHLC if c not in df.columns]
            raise DataError(f"{self.path}: long file missing columns {need}; expected "
                            f"date,ticker,open,high,low,close,volume[,asset_class] (open, high, "
                            f"low and volume may be left out together)")

    def tickers(self) -> list[str]:
        """Tickers in the file (long: the ticker column's values; wide: the column names)."""
        if self.layout == "long":
            return list(dict.fromkeys(self.frame["ticker"].dropna()))
        return [c for c in self.frame.columns
                if c not in ("date", "_line") and not c.startswith("Unnamed:")]

    def column_of(self, ticker: str) -> str | None:
        """The name ``ticker``'s data are stored under in this file, or None."""
        have = set(self.tickers())
        for name in candidates(ticker):
            if name in have:
                return name
        upper = {t.upper(): t for t in have}
        return next((upper[n.upper()] for n in candidates(ticker) if n.upper() in upper), None)

    def frame_for(self, ticker: str) -> pd.DataFrame:
        """``ticker``'s rows in the normal form (see the module doc).

        Raises:
            DataError: ``ticker`` is not in the file, or a cell is not a number.
        """
        name = self.column_of(ticker)
        if name is None:
            have = self.tickers()
            raise DataError(f"{self.path}: ticker {ticker} not found in this {self.layout} file "
                            f"(it has {have[:10]}{'...' if len(have) > 10 else ''}); add its "
                            f"{'rows' if self.layout == 'long' else 'column'} or remove it from "
                            f"the universe")
        label = f"{self.path}: {ticker}"
        if self.layout == "wide":
            return close_only(self.frame[["date", "_line", name]], name, label)
        sub = self.frame[self.frame["ticker"] == name].drop(columns=["ticker"])
        if "open" not in sub.columns:
            return close_only(sub, "close", label)
        if "volume" not in sub.columns:
            sub = sub.assign(volume=np.nan)
        return numbers(sub, ["open", "high", "low", "close", "volume"], label)[list(NORMAL)]

    def asset_classes(self) -> dict[str, str]:
        """ticker -> class from the long layout's optional ``asset_class`` column ({} if none).

        Raises:
            DataError: a ticker has two different classes.
        """
        if self.layout != "long" or "asset_class" not in self.frame.columns:
            return {}
        pairs = self.frame[["ticker", "asset_class"]].dropna()
        pairs = pairs.assign(asset_class=pairs["asset_class"].str.strip().str.lower())
        pairs = pairs[pairs["asset_class"] != ""].drop_duplicates()
        dup = pairs["ticker"][pairs["ticker"].duplicated()]
        if len(dup):
            t = dup.iloc[0]
            vals = sorted(pairs.loc[pairs["ticker"] == t, "asset_class"])
            raise DataError(f"{self.path}: ticker {t} has asset_class values {vals}; give one "
                            f"class per ticker")
        return dict(zip(pairs["ticker"], pairs["asset_class"]))


__all__ = [
    "PER_TICKER_LAYOUTS",
    "SINGLE_FILE_LAYOUTS",
    "YAHOO_ALIASES",
    "SingleFile",
    "candidates",
    "close_only",
    "date_column",
    "numbers",
    "open_text",
    "parse_ticker_text",
    "read_table",
]
