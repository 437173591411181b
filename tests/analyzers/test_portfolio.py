"""Backtrader analyzers on synthetic feeds: returns, weights, turnover/costs, order counts."""

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from analyzers.portfolio import OrderStats, PortfolioReturns, TurnoverCosts, WeightsRecorder
from strategies.engine import FixedWeightStrategy
from tests.analyzers.synthetic import make_cerebro, make_close, make_feeds


class Fills(FixedWeightStrategy):
    params = (("warmup", 0),)

    def __init__(self):
        super().__init__()
        self.comms = []
        self.traded = []
        if self.p.warmup:
            self.sma = bt.indicators.SMA(self.datas[0].close, period=self.p.warmup)

    def notify_order(self, order):
        super().notify_order(order)
        if order.status == order.Completed:
            self.comms.append((order.data.datetime.date(0), order.executed.comm))
            self.traded.append(abs(order.executed.size) * order.executed.price)


def run(close, cash=100_000.0, open_=None, **params):
    cerebro = make_cerebro(make_feeds(close, open_=open_), cash=cash)
    cerebro.addstrategy(Fills, **params)
    cerebro.addanalyzer(PortfolioReturns, _name="returns")
    cerebro.addanalyzer(WeightsRecorder, _name="weights")
    cerebro.addanalyzer(TurnoverCosts, _name="costs")
    cerebro.addanalyzer(OrderStats, _name="orders")
    return cerebro.run()[0], cerebro


@pytest.fixture(scope="module")
def result():
    close = make_close(50, tickers=("A", "B", "LATE"), seed=21, vol=0.04)
    close.iloc[:12, 2] = np.nan
    strat, cerebro = run(close)
    return close, strat, cerebro


def test_returns_on_bar_dates_first_zero_and_compound_to_final_value(result):
    close, strat, cerebro = result
    r = strat.analyzers.returns.get_analysis()
    assert isinstance(r, pd.Series)
    assert list(r.index) == list(close.index)
    assert r.iloc[0] == 0.0
    assert r.notna().all()
    assert (1.0 + r).prod() == pytest.approx(cerebro.broker.getvalue() / 100_000.0, rel=1e-12)
    v = strat.analyzers.returns.values()
    assert v.iloc[-1] == pytest.approx(cerebro.broker.getvalue())


def test_weights_are_nonnegative_and_sum_at_most_one(result):
    close, strat, _ = result
    w = strat.analyzers.weights.get_analysis()
    assert list(w.columns) == ["A", "B", "LATE"]
    assert list(w.index) == list(close.index)
    assert (w.to_numpy() >= 0.0).all()
    assert (w.sum(axis=1) <= 1.0 + 1e-9).all()
    assert (w["LATE"].iloc[:13] == 0.0).all()
    assert w["LATE"].iloc[-1] > 0.3
    last = strat.current_weights()
    assert w.iloc[-1].to_dict() == pytest.approx(last)


def test_costs_equal_sum_of_order_commissions(result):
    close, strat, _ = result
    tc = strat.analyzers.costs.get_analysis()
    assert tc["total_costs"] == pytest.approx(sum(c for _, c in strat.comms), rel=1e-12)
    assert tc["total_traded_value"] == pytest.approx(sum(strat.traded), rel=1e-12)
    per_day = pd.Series([c for _, c in strat.comms],
                        index=pd.DatetimeIndex([d for d, _ in strat.comms])).groupby(level=0).sum()
    got = tc["costs"][tc["costs"] > 0]
    pd.testing.assert_series_equal(got, per_day.reindex(got.index), check_names=False,
                                   check_freq=False, rtol=1e-12)
    assert tc["costs"].iloc[0] == 0.0  # decisions at bar 0 fill at bar 1
    values = strat.analyzers.returns.values()
    base = values.shift(1).fillna(100_000.0)
    np.testing.assert_allclose(tc["turnover"], tc["traded_value"] / base, rtol=1e-12)
    np.testing.assert_allclose(tc["cost_frac"], tc["costs"] / base, rtol=1e-12)
    assert tc["turnover"].iloc[1] == pytest.approx(2 / 3 * 0.98, rel=0.01)  # initial buy


def test_order_stats(result):
    _, strat, _ = result
    s = strat.analyzers.orders.get_analysis()
    assert s["completed"] == strat.order_counts["Completed"] == len(strat.comms)
    assert s["refused"] == s["margin"] == s["rejected"] == 0
    assert s["buys"] + s["sells"] == s["completed"]
    assert s["submitted"] == s["completed"]


def test_order_stats_counts_margin_calls():
    close = make_close(10, tickers=("A",), seed=22, vol=0.001)
    opn = close.shift(1)
    opn.iloc[0] = close.iloc[0]
    opn.iloc[1] = close.iloc[0] * 1.10  # +10% gap after the first decision
    # the broker's own behaviour (no cash-capped filler): the buy is refused and counted
    strat, _ = run(close, open_=opn, cash_buffer=0.0, cap_buys_to_cash=False)
    s = strat.analyzers.orders.get_analysis()
    assert s["margin"] >= 1 and s["refused"] == strat.rejected >= 1
    # the default strategy fills what the cash allows instead: nothing refused, a partial fill
    strat, _ = run(close, open_=opn, cash_buffer=0.0)
    s = strat.analyzers.orders.get_analysis()
    assert s["refused"] == strat.rejected == 0 and s["partial"] >= 1
    # the part that filled is a real trade: its value and commission are counted
    c = strat.analyzers.costs.get_analysis()
    pos = strat.getposition(strat.datas[0])
    assert pos.size > 0
    assert c["total_costs"] == pytest.approx(0.001 * pos.size * pos.price, rel=1e-6)


def test_analyzers_record_warmup_bars_too():
    close = make_close(20, tickers=("A", "B"), seed=23)
    strat, cerebro = run(close, warmup=5)
    r = strat.analyzers.returns.get_analysis()
    assert len(r) == 20
    assert (r.iloc[:5] == 0.0).all()
    assert (1.0 + r).prod() == pytest.approx(cerebro.broker.getvalue() / 100_000.0, rel=1e-12)
    assert len(strat.analyzers.weights.get_analysis()) == 20
