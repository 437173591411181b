"""Backtrader adapter: three calendars, one clock, the panel's dates once each."""

import backtrader as bt
import numpy as np
import pandas as pd

from feeds import daily_to_backtrader, to_backtrader, weekly_panel

from .conftest import make_daily


def _three_calendars():
    cal = pd.date_range("2023-12-01", "2024-04-30")
    crypto = make_daily(cal, seed=1)                                     # 7 days a week
    us = make_daily(cal[(cal.day_of_week < 5) & (cal >= "2024-01-08")], seed=2)  # starts later
    idx_days = cal[cal.day_of_week < 5]
    holidays = (idx_days >= "2024-04-08") & (idx_days <= "2024-04-19")  # Lebaran: 2 weeks off
    idx = make_daily(idx_days[~holidays & (idx_days <= "2024-04-24")], seed=3)  # ends early
    return weekly_panel({"BTC-USD": crypto, "AAPL": us, "BBCA.JK": idx},
                        {"BTC-USD": "crypto", "AAPL": "nasdaq100", "BBCA.JK": "idx"})


class Recorder(bt.Strategy):
    def __init__(self):
        self.rows = []

    def next(self):
        self.rows.append((pd.Timestamp(self.datas[0].datetime.date(0)),
                          {d._name: (d.close[0], d.available[0] if hasattr(d.lines, "available") else 1.0)
                           for d in self.datas}))


def test_strategy_sees_panel_index_once_each_with_right_closes():
    p = _three_calendars()
    c = bt.Cerebro(stdstats=False)
    for f in to_backtrader(p):
        c.adddata(f)
    c.addstrategy(Recorder)
    strat = c.run()[0]
    dates = [r[0] for r in strat.rows]
    assert dates == list(p.index)
    for date, vals in strat.rows:
        for t, (close, avail) in vals.items():
            want = p.close.loc[date, t]
            assert (np.isnan(close) and np.isnan(want)) or close == want
            assert avail == float(p.mask.loc[date, t])
    # NaN before AAPL starts, carried after BBCA ends, holiday weeks flagged in mask
    assert np.isnan(strat.rows[0][1]["AAPL"][0]) and strat.rows[0][1]["AAPL"][1] == 0.0
    assert strat.rows[-1][1]["BBCA.JK"][0] == p.close["BBCA.JK"].dropna().iloc[-1]


def test_feed_names_and_lines():
    p = _three_calendars()
    feeds = to_backtrader(p)
    assert [f._name for f in feeds] == p.tickers
    assert "available" in feeds[0].lines.getlinealiases()


def test_daily_feed():
    d = make_daily(pd.bdate_range("2024-01-01", periods=20), seed=9)
    c = bt.Cerebro(stdstats=False)
    c.adddata(daily_to_backtrader(d, "AAPL"))
    c.addstrategy(Recorder)
    strat = c.run()[0]
    assert [r[0] for r in strat.rows] == list(d.index)
    assert [r[1]["AAPL"][0] for r in strat.rows] == list(d["close"])
