"""Explicit, logged cleaning of daily bars; the same rules for every source.

Every source (the packaged dataset, yfinance downloads, user files) goes through
:func:`clean_daily`. The rules, in order:

1. **Dates.** Timestamps that carry a UTC offset (``2020-01-02 00:00:00-05:00``, ``+07:00``)
   are turned into the *exchange-local calendar date* by reading the local wall-clock date; they
   are never converted to UTC first (that would move an Asian session to the previous day).
   Times of day are dropped: one bar per calendar date.
2. **Missing prices.** Rows whose open/high/low/close are null/NaN are dropped (the IDX files'
   ``null`` row on 2019-06-19, ``^JKSE``'s 307 null rows, FRED's blank holidays). A missing
   volume becomes 0.
3. **Non-positive prices.** For price assets, rows with any of open/high/low/close <= 0 are
   dropped. Yields (``kind="yield"``) are never tested for positivity: a 0.00 yield is valid.
4. **Duplicate dates** raise :class:`~feeds.errors.DataError` naming the source, the ticker and
   the first duplicated date. They are not silently de-duplicated: which row is right is unknown.
5. **Sort** by date.
6. **One-bar spikes that revert** (price assets only). Bar t is dropped when
   ``|log(C_t / C_{t-1})| > log(1.8)`` and ``|log(C_{t+1} / C_{t-1})| < log(1.1)`` and the move
   into t and the move out of t have opposite signs: an 80 %+ jump that is undone on the next
   bar (BMRI.JK on 2023-03-30 printed 10350 between closes of ~5170). This is the only rule
   that reads one bar ahead: a bad print can only be recognised when the next bar arrives, so
   the cleaned value of the *last* daily bar before a given date may change when the following
   bar is appended. The rule is evaluated once on the raw closes (not iterated); the last bar
   of a series is never judged.

Each rule logs (``logging``, logger ``feeds.clean``) how many rows it removed and which dates.
"""

from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd

from feeds.errors import DataError

log = logging.getLogger("feeds.clean")

PRICE_COLUMNS = ("open", "high", "low", "close")
COLUMNS = ("open", "high", "low", "close", "volume")

SPIKE_JUMP = float(np.log(1.8))
"""A bar whose close moves more than this (in log terms) from the previous close is a candidate."""
SPIKE_REVERT = float(np.log(1.1))
"""...and it is a spike when the next close is within this (log) distance of the previous close."""

_TZ_SUFFIX = re.compile(r"(Z|[+-]\d{2}:?\d{2})$")


def to_local_dates(values) -> pd.DatetimeIndex:
    """Exchange-local calendar dates (tz-naive, midnight) from strings or datetimes.

    Strings with an offset keep their local wall-clock date (the offset is discarded, not
    applied). tz-aware datetimes are made naive in their own zone (``tz_localize(None)``).
    """
    if isinstance(values, pd.DatetimeIndex):
        idx = values
    else:
        s = pd.Series(values)
        if pd.api.types.is_datetime64_any_dtype(s.dtype):
            idx = pd.DatetimeIndex(s)
        else:
            txt = s.astype(str).str.strip()
            txt = txt.str.replace(_TZ_SUFFIX, "", regex=True)
            try:
                try:
                    idx = pd.DatetimeIndex(pd.to_datetime(txt))
                except (ValueError, TypeError):
                    idx = pd.DatetimeIndex(pd.to_datetime(txt, format="mixed"))
            except (ValueError, TypeError) as exc:
                bad = next((v for v in txt if pd.isna(pd.to_datetime(v, errors="coerce"))), "?")
                raise DataError(f"unparseable date {bad!r} ({exc})") from exc
    if idx.tz is not None:
        idx = idx.tz_localize(None)
    return pd.DatetimeIndex(idx.normalize(), name="date")


def spike_mask(close: pd.Series) -> pd.Series:
    """True at bars that are one-bar spikes reverting on the next bar (see module doc, rule 6).

    Reads ``close[t+1]``: the one look-ahead of the cleaning rules.
    """
    c = close.astype(float).to_numpy()
    out = np.zeros(len(c), dtype=bool)
    if len(c) >= 3:
        lc = np.log(c)
        into = lc[1:-1] - lc[:-2]          # log C_t / C_{t-1}
        back = lc[2:] - lc[:-2]            # log C_{t+1} / C_{t-1}
        out_of = lc[2:] - lc[1:-1]         # log C_{t+1} / C_t
        hit = (np.abs(into) > SPIKE_JUMP) & (np.abs(back) < SPIKE_REVERT) & (
            np.sign(into) == -np.sign(out_of))
        out[1:-1] = hit
    return pd.Series(out, index=close.index)


def _dates_str(idx, n=5) -> str:
    ds = [d.strftime("%Y-%m-%d") for d in idx[:n]]
    return ", ".join(ds) + (f" (+{len(idx) - n} more)" if len(idx) > n else "")


def clean_daily(df: pd.DataFrame, ticker: str, source: str = "?", kind: str = "price",
                spikes: bool = True) -> pd.DataFrame:
    """Apply the cleaning rules to one ticker's daily bars.

    Args:
        df: columns ``open high low close volume`` (any case), index or a ``date`` column with
            dates (strings with offsets allowed).
        ticker: for messages.
        source: where the data came from (a file path, ``packaged``, ``yfinance``) for messages.
        kind: ``price`` or ``yield`` (yields: no positivity rule, no spike rule).
        spikes: apply the spike rule (price assets only).

    Returns:
        float columns ``open high low close volume``, tz-naive ``DatetimeIndex`` named ``date``,
        sorted and unique.

    Raises:
        DataError: missing columns, unparseable dates, duplicate dates, or nothing left.
    """
    d = df.copy()
    d.columns = [str(c).strip().lower() for c in d.columns]
    if "date" in d.columns:
        d = d.set_index("date")
    if kind == "yield":
        if "close" not in d.columns:
            raise DataError(f"{source}: {ticker}: no close/yield column; columns are "
                            f"{list(d.columns)}")
        for c in PRICE_COLUMNS:
            if c not in d.columns or d[c].isna().all():
                d[c] = d["close"]
        if "volume" not in d.columns:
            d["volume"] = 0.0
    missing = [c for c in COLUMNS if c not in d.columns]
    if missing:
        raise DataError(f"{source}: {ticker}: missing columns {missing}; expected "
                        f"date,open,high,low,close,volume")
    d = d[list(COLUMNS)]
    try:
        d.index = to_local_dates(d.index)
    except DataError as exc:
        raise DataError(f"{source}: {ticker}: {exc}; dates must look like 2020-01-31 "
                        f"(optionally with a time and UTC offset)") from exc
    for c in COLUMNS:
        d[c] = pd.to_numeric(d[c], errors="coerce").astype(float)

    if kind == "yield":
        # a blank yield leaves o/h/l NaN too only if close is NaN; fill o/h/l from close
        for c in ("open", "high", "low"):
            d[c] = d[c].where(d[c].notna(), d["close"])
    bad = d[list(PRICE_COLUMNS)].isna().any(axis=1)
    if bad.any():
        log.info("%s %s: dropped %d rows with missing prices: %s", source, ticker, int(bad.sum()),
                 _dates_str(d.index[bad.to_numpy()]))
        d = d[~bad.to_numpy()]
    d["volume"] = d["volume"].fillna(0.0)

    if kind != "yield":
        nonpos = (d[list(PRICE_COLUMNS)] <= 0).any(axis=1)
        if nonpos.any():
            log.info("%s %s: dropped %d rows with non-positive prices: %s", source, ticker,
                     int(nonpos.sum()), _dates_str(d.index[nonpos.to_numpy()]))
            d = d[~nonpos.to_numpy()]

    dup = d.index.duplicated(keep=False)
    if dup.any():
        first = d.index[dup][0].strftime("%Y-%m-%d")
        raise DataError(f"{source}: {ticker}: duplicate date {first} ({int(dup.sum())} rows share "
                        f"a date); fix the file so each date appears once")
    d = d.sort_index()

    if spikes and kind != "yield" and len(d) >= 3:
        sp = spike_mask(d["close"])
        if sp.any():
            log.warning("%s %s: dropped %d one-bar spike(s) that revert next bar: %s", source,
                        ticker, int(sp.sum()), _dates_str(d.index[sp.to_numpy()]))
            d = d[~sp.to_numpy()]
    if d.empty:
        raise DataError(f"{source}: {ticker}: no valid rows after cleaning; check the file has "
                        f"dated numeric prices")
    d.index.name = "date"
    return d
