"""The array-backed Backtrader feeds deliver exactly what ``bt.feeds.PandasData`` delivers.

Reference: Backtrader's own ``PandasData`` (with the same extra ``available`` line, as
``PanelData`` was before). Every line of every feed (datetime, OHLCV, available) must hold the
same numbers bit for bit after a run, with preloading and without, and a backtest built on
either gives the same returns.
"""

from __future__ import annotations

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from feeds import daily_to_backtrader, to_backtrader, weekly_panel
from feeds.btfeeds import panel_frame

from .conftest import make_daily


class RefPanelData(bt.feeds.PandasData):
    lines = ("available",)
    params = (("datetime", None), ("open", "open"), ("high", "high"), ("low", "low"),
              ("close", "close"), ("volume", "volume"), ("openinterest", None),
              ("available", "available"))


def _panel():
    cal = pd.date_range("2023-06-01", "2024-04-30")
    crypto = make_daily(cal, seed=1)
    us = make_daily(cal[(cal.day_of_week < 5) & (cal >= "2024-01-08")], seed=2)  # starts late
    idx_days = cal[cal.day_of_week < 5]
    idx = make_daily(idx_days[idx_days <= "2024-03-01"], seed=3)                  # ends early
    return weekly_panel({"BTC-USD": crypto, "AAPL": us, "BBCA.JK": idx},
                        {"BTC-USD": "crypto", "AAPL": "nasdaq100", "BBCA.JK": "idx"})


class Hold(bt.Strategy):
    """Buys every available feed once, so the broker values positions from the feeds."""

    def next(self):
        for d in self.datas:
            if not self.getposition(d).size and d.close[0] == d.close[0]:
                self.buy(d, size=1)


def _run(feeds, preload):
    c = bt.Cerebro(stdstats=False, preload=preload)
    for f in feeds:
        c.adddata(f)
    c.addstrategy(Hold)
    c.addanalyzer(bt.analyzers.TimeReturn, _name="ret")
    strat = c.run()[0]
    return strat, strat.analyzers.ret.get_analysis()


def _same_returns(a, b):
    sa, sb = pd.Series(a, dtype=float), pd.Series(b, dtype=float)
    pd.testing.assert_series_equal(sa, sb, check_exact=True)
    assert np.isfinite(sa).sum() > 10 and (sa != 0).any()  # the broker really moved


def _lines(feed):
    return {name: np.array(getattr(feed.lines, name).array)
            for name in feed.getlinealiases()}


@pytest.mark.parametrize("preload", [True, False])
def test_panel_feeds_hold_the_same_lines_as_pandasdata(preload):
    p = _panel()
    new = to_backtrader(p)
    ref = [RefPanelData(dataname=panel_frame(p, t), name=t, timeframe=bt.TimeFrame.Weeks,
                        compression=1) for t in p.tickers]
    s_new, r_new = _run(new, preload)
    s_ref, r_ref = _run(ref, preload)
    for a, b in zip(s_new.datas, s_ref.datas, strict=True):
        la, lb = _lines(a), _lines(b)
        assert la.keys() == lb.keys() and "available" in la
        for k in la:
            np.testing.assert_array_equal(la[k], lb[k], err_msg=f"{a._name}.{k}")
    _same_returns(r_new, r_ref)


def test_daily_feed_holds_the_same_lines_as_pandasdata():
    df = make_daily(pd.bdate_range("2022-01-03", periods=300), seed=4)
    new = daily_to_backtrader(df, "X")
    d = df[["open", "high", "low", "close", "volume"]].copy()
    d.index = pd.DatetimeIndex(d.index, name="datetime")
    ref = bt.feeds.PandasData(dataname=d, name="X", datetime=None, openinterest=None,
                              timeframe=bt.TimeFrame.Days, compression=1)
    s_new, r_new = _run([new], True)
    s_ref, r_ref = _run([ref], True)
    la, lb = _lines(s_new.datas[0]), _lines(s_ref.datas[0])
    for k in la:
        np.testing.assert_array_equal(la[k], lb[k], err_msg=k)
    _same_returns(r_new, r_ref)
