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


class ArrayPandasData(bt.feeds.PandasData):
    """``bt.feeds.PandasData`` that reads its frame once into NumPy when the feed starts.

    Backtrader's ``PandasData._load`` reads every value of every bar with a pandas scalar
    ``iloc`` and converts every timestamp on the fly, which made feeding the bars the largest
    cost of a backtest. This class copies the mapped columns to one float array and converts the
    dates once in ``start``; each bar then sets the same values (the same float64 numbers and
    ``date2num`` of the same timestamps: ``tests/feeds/test_perf_btfeeds.py`` compares every
    line with ``PandasData``'s). Parameters and column mapping are ``PandasData``'s.
    """

    def start(self):
        super().start()  # resolves self._colmapping to column positions
        df = self.p.dataname
        fields, cols = [], []
        for name in self.getlinealiases():
            if name == "datetime":
                continue
            col = self._colmapping[name]
            if col is None:
                continue
            fields.append(getattr(self.lines, name))
            cols.append(col)
        self._values = df.iloc[:, cols].to_numpy(dtype=float) if cols else None
        self._targets = fields
        dcol = self._colmapping["datetime"]
        stamps = df.index if dcol is None else df.iloc[:, dcol]
        self._dtnums = [bt.date2num(pd.Timestamp(ts).to_pydatetime()) for ts in stamps]
        self._nrows = len(df)

    def _load(self):
        self._idx += 1
        i = self._idx
        if i >= self._nrows:
            return False
        if self._values is not None:
            row = self._values[i]
            for j, line in enumerate(self._targets):
                line[0] = row[j]
        self.lines.datetime[0] = self._dtnums[i]
        return True


class PanelData(ArrayPandasData):
    """A weekly panel feed: ``PandasData`` with an extra ``available`` line (1.0 investable /
    0.0 not), read through :class:`ArrayPandasData`."""

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
    return ArrayPandasData(dataname=d, name=name, datetime=None, openinterest=None,
                           timeframe=bt.TimeFrame.Days, compression=1)
