"""WeeklyPanel -> Backtrader data feeds, all on exactly ``panel.index``.

Each ticker becomes a :class:`PanelData` (a ``bt.feeds.PandasData`` subclass with one extra line,
``available``: 1.0 where ``panel.mask`` is True, else 0.0), named after the ticker, with one row
per panel week: NaN before the asset's first bar, the last close carried after its end (as in the
panel). Because every feed has the same rows, Backtrader's clock advances all of them together:
it cannot skip, duplicate or misdate a week, whatever each market's own calendar.
"""

from __future__ import annotations

import backtrader as bt
import pandas as pd

from feeds.errors import DataError


class PanelData(bt.feeds.PandasData):
    """``PandasData`` with an extra ``available`` line (1.0 investable / 0.0 not)."""

    lines = ("available",)
    params = (
        ("datetime", None),          # the index holds the dates
        ("open", "open"),
        ("high", "high"),
        ("low", "low"),
        ("close", "close"),
        ("volume", "volume"),
        ("openinterest", None),      # not provided
        ("available", "available"),  # column name of the availability flag
    )


def panel_frame(panel, ticker: str) -> pd.DataFrame:
    """The per-ticker frame fed to Backtrader (open..volume, available) on ``panel.index``."""
    if ticker not in panel.close.columns:
        raise DataError(f"{ticker} is not in the panel; available: {panel.tickers}")
    df = pd.DataFrame({
        "open": panel.open[ticker], "high": panel.high[ticker], "low": panel.low[ticker],
        "close": panel.close[ticker], "volume": panel.volume[ticker],
        "available": panel.mask[ticker].astype(float),
    }, index=pd.DatetimeIndex(panel.index, name="datetime"))
    return df


def to_backtrader(panel, tickers=None) -> list:
    """One :class:`PanelData` per ticker (``name=ticker``), all on ``panel.index`` (weekly)."""
    out = []
    for t in tickers or panel.tickers:
        out.append(PanelData(dataname=panel_frame(panel, t), name=t,
                             timeframe=bt.TimeFrame.Weeks, compression=1))
    return out


def daily_to_backtrader(df: pd.DataFrame, name: str):
    """A plain daily ``PandasData`` for one cleaned daily frame (System 2)."""
    if df.empty:
        raise DataError(f"{name}: no daily rows to feed to Backtrader")
    d = df[["open", "high", "low", "close", "volume"]].copy()
    d.index = pd.DatetimeIndex(d.index, name="datetime")
    return bt.feeds.PandasData(dataname=d, name=name, datetime=None, openinterest=None,
                               timeframe=bt.TimeFrame.Days, compression=1)
