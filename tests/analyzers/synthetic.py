"""Seeded synthetic Backtrader feeds for the strategy and analyzer tests.

Stand-in for ``feeds.btfeeds.to_backtrader`` with the same contract: one feed per ticker, all on
one index, NaN prices before an asset's first bar, the last price carried after its end, and an
extra line ``available`` (1.0/0.0).
"""

from __future__ import annotations

import backtrader as bt
import numpy as np
import pandas as pd


class AvailPandasData(bt.feeds.PandasData):
    lines = ("available",)
    params = (("available", -1),)


def make_close(n_bars=60, tickers=("A", "B", "C"), seed=0, start=100.0, vol=0.03,
               freq="W-FRI", start_date="2020-01-03") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    idx = pd.date_range(start_date, periods=n_bars, freq=freq, name="date")
    rets = rng.normal(0.002, vol, size=(n_bars, len(tickers)))
    rets[0] = 0.0
    close = start * np.exp(np.cumsum(rets, axis=0))
    return pd.DataFrame(close, index=idx, columns=list(tickers))


def make_feeds(close: pd.DataFrame, open_: pd.DataFrame | None = None,
               available: pd.DataFrame | None = None) -> list[bt.feeds.PandasData]:
    """Feeds from closes; open defaults to the previous close (first bar: the close)."""
    close = close.astype(float)
    carried = close.ffill()
    if open_ is None:
        prev = carried.shift(1)
        open_ = prev.where(prev.notna(), carried)
    open_ = open_.astype(float).where(carried.notna())
    if available is None:
        available = carried.notna()
    feeds = []
    for t in close.columns:
        df = pd.DataFrame({
            "open": open_[t], "high": np.fmax(open_[t], carried[t]),
            "low": np.fmin(open_[t], carried[t]), "close": carried[t],
            "volume": np.where(carried[t].notna(), 1e6, np.nan),
            "openinterest": 0.0,
            "available": available[t].astype(float),
        }, index=close.index)
        feeds.append(AvailPandasData(dataname=df, name=t))
    return feeds


def make_cerebro(feeds, cash=100_000.0, tc=0.001, stdstats=False) -> bt.Cerebro:
    from strategies.commission import ProportionalCommission

    cerebro = bt.Cerebro(stdstats=stdstats)
    for f in feeds:
        cerebro.adddata(f, name=f._name)
    cerebro.broker.setcash(cash)
    cerebro.broker.addcommissioninfo(ProportionalCommission(commission=tc))
    return cerebro
