"""ProportionalCommission: tc x traded value, fractional, NaN-safe; per-asset-class install."""

import math

import backtrader as bt
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feeds.errors import ConfigError
from strategies.commission import (DEFAULT_TC, ProportionalCommission, commission_for,
                                   install_commissions)
from tests.analyzers.synthetic import make_close, make_feeds

sizes = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
prices = st.floats(min_value=1e-4, max_value=1e6, allow_nan=False)
tcs = st.floats(min_value=0.0, max_value=0.05, allow_nan=False)


def test_defaults_are_the_papers_10bp_proportional_stocklike():
    c = ProportionalCommission()
    assert c.p.commission == DEFAULT_TC == 0.001  # percabs: not divided by 100
    assert c.stocklike
    assert c.margin is None
    assert c.getcommission(10, 50.0) == pytest.approx(0.5)


@settings(max_examples=200, deadline=None)
@given(size=sizes, price=prices, tc=tcs)
def test_cost_is_tc_times_traded_value(size, price, tc):
    c = ProportionalCommission(commission=tc)
    assert c.getcommission(size, price) == pytest.approx(tc * abs(size) * price, rel=1e-12,
                                                         abs=1e-300)


@settings(max_examples=200, deadline=None)
@given(a=sizes, b=sizes, price=prices, tc=tcs)
def test_cost_never_falls_as_trade_grows(a, b, price, tc):
    c = ProportionalCommission(commission=tc)
    small, big = sorted([abs(a), abs(b)])
    assert c.getcommission(small, price) <= c.getcommission(big, price)
    assert c.getcommission(-small, price) <= c.getcommission(-big, price)


def test_fractional_size_not_rounded():
    c = ProportionalCommission()
    assert c.getsize(60_000.0, 1_000.0) == pytest.approx(1 / 60)
    assert c.getsize(float("nan"), 1_000.0) == 0.0


def test_zero_position_is_worth_zero_even_at_nan_price():
    c = ProportionalCommission()
    pos = bt.Position(size=0.0, price=0.0)
    nan = float("nan")
    assert c.getvalue(pos, nan) == 0.0
    assert c.getvaluesize(0.0, nan) == 0.0
    assert c.getcommission(0.0, nan) == 0.0
    assert c.getoperationcost(0.0, nan) == 0.0
    assert c.profitandloss(0.0, 0.0, nan) == 0.0
    held = bt.Position(size=2.0, price=10.0)
    assert c.getvalue(held, 12.0) == pytest.approx(24.0)
    assert math.isnan(c.getvalue(held, nan))  # a held position at NaN is not hidden


@pytest.mark.parametrize("bad", [-0.001, 1.0, float("nan"), "x"])
def test_invalid_costs_are_config_errors(bad):
    with pytest.raises(ConfigError):
        ProportionalCommission(commission=bad)


def test_commission_for_picks_class_override_or_default():
    assert commission_for("crypto", {"crypto": 0.002}).p.commission == 0.002
    assert commission_for("nasdaq100", {"crypto": 0.002}).p.commission == 0.001
    assert commission_for(None, None, default_tc=0.0005).p.commission == 0.0005
    with pytest.raises(ConfigError):
        commission_for("crypto", {"crypto": -1})


def test_install_commissions_per_class_on_cerebro_and_broker():
    feeds = make_feeds(make_close(5, tickers=("AAPL", "BTC-USD", "X")))
    cerebro = bt.Cerebro()
    for f in feeds:
        cerebro.adddata(f)
    got = install_commissions(cerebro, feeds, {"AAPL": "nasdaq100", "BTC-USD": "crypto"},
                              default_tc=0.001, per_class={"crypto": 0.002})
    assert got == {"AAPL": 0.001, "BTC-USD": 0.002, "X": 0.001}
    br = cerebro.broker
    assert br.getcommissioninfo(feeds[1]).p.commission == 0.002
    assert br.getcommissioninfo(feeds[0]).p.commission == 0.001
    assert isinstance(br.getcommissioninfo(feeds[2]), ProportionalCommission)
    # a broker works too, and names are accepted instead of feeds
    got2 = install_commissions(br, ["BTC-USD"], {"BTC-USD": "crypto"}, per_class={"crypto": 0.003})
    assert got2 == {"BTC-USD": 0.003}
    with pytest.raises(ConfigError):
        install_commissions(object(), feeds, {})
    with pytest.raises(ConfigError):
        install_commissions(cerebro, [""], {})


class _Recorder(bt.Strategy):
    def __init__(self):
        self.fills = []

    def next(self):
        if len(self) == 1:
            for d in self.datas:
                self.buy(data=d, size=1000.0 / d.close[0] / 4)
        elif len(self) == 3:
            for d in self.datas:
                self.close(data=d)

    def notify_order(self, order):
        if order.status == order.Completed:
            self.fills.append((order.data._name, order.executed.size, order.executed.price,
                               order.executed.comm))


def test_cerebro_charges_class_costs_on_traded_value():
    feeds = make_feeds(make_close(6, tickers=("AAPL", "BTC-USD", "ETH-USD"), seed=3))
    cerebro = bt.Cerebro(stdstats=False)
    for f in feeds:
        cerebro.adddata(f)
    cerebro.broker.setcash(1000.0)
    install_commissions(cerebro, feeds, {"BTC-USD": "crypto", "ETH-USD": "crypto"},
                        per_class={"crypto": 0.002})
    cerebro.addstrategy(_Recorder)
    strat = cerebro.run()[0]
    assert len(strat.fills) == 6
    total = 0.0
    for name, size, price, comm in strat.fills:
        tc = 0.002 if name != "AAPL" else 0.001
        assert comm == pytest.approx(tc * abs(size) * price, rel=1e-12)
        assert size != int(size)  # fractional
        total += comm
    pnl = sum(-s * p for _, s, p, _ in strat.fills)
    assert cerebro.broker.getvalue() == pytest.approx(1000.0 + pnl - total, rel=1e-12)
    assert np.isfinite(cerebro.broker.getvalue())
