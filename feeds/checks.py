"""Sanity checks on rows of USER files: obvious garbage fails loudly instead of being cleaned.

The cleaning rules (:mod:`feeds.clean`) quietly drop what real Yahoo/FRED data contain (null rows,
zero prices, one-bar spikes). Rows that no real price series contains are, in a user's file, a
sign the file is wrong, so :func:`check_rows` raises :class:`~feeds.errors.DataError` naming the
file, the line and the date:

* a date after today (``pd.Timestamp.today().normalize()``, injectable as ``today=``);
* a row without a date;
* ``high < low``, or a close outside ``[low, high]``, by more than :data:`ROW_TOLERANCE`
  (relative) -- checked on rows whose prices are all positive (rows with a zero or negative
  price are dropped by cleaning rule 3 instead);
* a negative volume.

Non-numeric cells are caught earlier, while parsing (:func:`feeds.layouts.numbers`). The packaged
dataset and yfinance downloads are not checked here: their cleaning is unchanged.
"""

from __future__ import annotations

import pandas as pd

from feeds.clean import to_local_dates
from feeds.errors import DataError

ROW_TOLERANCE = 0.005
"""Relative slack for high >= low and low <= close <= high (rounding of adjusted prices)."""


def today_or(today=None) -> pd.Timestamp:
    """``today`` as a midnight Timestamp, or the real today (``pd.Timestamp.today()``)."""
    return pd.Timestamp(today if today is not None else pd.Timestamp.today()).normalize()


def _where(row, date) -> str:
    return f"line {int(row['_line'])} (date {date:%Y-%m-%d})"


def _parses(value) -> bool:
    try:
        to_local_dates([value])
        return True
    except DataError:
        return False


def parse_dates(df: pd.DataFrame, label: str) -> pd.DataFrame:
    """``df`` with its text ``date`` column parsed to local calendar dates (see clean rule 1).

    Raises:
        DataError: a row has no date, or a date cannot be parsed (naming the line).
    """
    nodate = df["date"].isna()
    if nodate.any():
        line = int(df.loc[nodate, "_line"].iloc[0])
        raise DataError(f"{label}: line {line} has no date; fill in the date or delete the row")
    try:
        dates = to_local_dates(df["date"].to_numpy())
    except DataError:
        row = next((r for _, r in df.iterrows() if not _parses(r["date"])), df.iloc[0])
        raise DataError(f"{label}: line {int(row['_line'])}: unparseable date {row['date']!r}; "
                        f"dates must look like 2020-01-31 (optionally with a time and UTC "
                        f"offset)") from None
    out = df.copy()
    out["date"] = dates
    return out


def check_rows(df: pd.DataFrame, label: str, kind: str = "price", today=None) -> None:
    """Raise DataError at the first impossible or future-dated row (see the module doc).

    Args:
        df: normal form with parsed dates (``date open high low close volume _line``).
        label: ``file: ticker`` for the message.
        kind: ``price`` or ``yield`` (yields: no positivity filter before the range checks).
        today: the date after which a row is in the future (default: the real today).
    """
    now = today_or(today)
    future = df["date"] > now
    if future.any():
        row = df.loc[future].iloc[0]
        raise DataError(f"{label}: {_where(row, row['date'])} is after today ({now:%Y-%m-%d}); "
                        f"fix the date or delete the row")
    h, lo, c = df["high"], df["low"], df["close"]
    judged = (df[["open", "high", "low", "close"]] > 0).all(axis=1) if kind != "yield" else True
    tests = [
        (judged & (lo - h > ROW_TOLERANCE * h.abs()), "high {high:g} is below low {low:g}"),
        (judged & ((c - h > ROW_TOLERANCE * h.abs()) | (lo - c > ROW_TOLERANCE * lo.abs())),
         "close {close:g} is outside low..high {low:g}..{high:g}"),
        (df["volume"] < 0, "volume {volume:g} is negative"),
    ]
    for bad, what in tests:
        if bad.any():
            row = df.loc[bad].iloc[0]
            raise DataError(f"{label}: {_where(row, row['date'])}: " + what.format(**row.to_dict())
                            + "; fix or delete the row (impossible rows are not guessed at)")


__all__ = ["ROW_TOLERANCE", "check_rows", "parse_dates", "today_or"]
