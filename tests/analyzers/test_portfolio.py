"""Backtrader analyzers on synthetic feeds: returns, weights, turnover/costs, order counts."""

from collections import OrderedDict

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from analyzers.portfolio import (OrderStats, PortfolioReturns, TurnoverCosts, WeightsRecorder,
                                 to_frame, to_series)
from strategies.engine import FixedWeightStrategy
from tests.analyzers.synthetic import AvailPandasData, make_cerebro, make_close, make_feeds


class Fills(FixedWeightStrategy):
    """Fixed weights that log fills and, at every bar, what the analyzers should record."""

    params = (("warmup", 0),)

    def __init__(self):
        super().__init__()
        self.comms = []
        self.traded = []
        self.seen = []  # (date, broker value, cash, {name: position value}) at every bar
        if self.p.warmup:
            self.sma = bt.indicators.SMA(self.datas[0].close, period=self.p.warmup)

    def _look(self):
        pv = {d._name: self.getposition(d).size * d.close[0] for d in self.datas
              if self.getposition(d).size}
        self.seen.append((pd.Timestamp(self.datetime.datetime(0)), self.broker.getvalue(),
                          self.broker.getcash(), pv))

    def prenext(self):
        self._look()
        super().prenext()

    def next(self):
        self._look()
        super().next()

    def notify_order(self, order):
        super().notify_order(order)
        if order.status == order.Completed:
            self.comms.append((order.data.datetime.date(0), order.executed.comm))
            self.traded.append(abs(order.executed.size) * order.executed.price)


def add_analyzers(cerebro):
    cerebro.addanalyzer(PortfolioReturns, _name="returns")
    cerebro.addanalyzer(WeightsRecorder, _name="weights")
    cerebro.addanalyzer(TurnoverCosts, _name="costs")
    cerebro.addanalyzer(OrderStats, _name="orders")


def run(close, cash=100_000.0, open_=None, order=None, strategy=Fills, **params):
    feeds = make_feeds(close, open_=open_)
    if order is not None:
        feeds = [feeds[list(close.columns).index(t)] for t in order]
    cerebro = make_cerebro(feeds, cash=cash)
    cerebro.addstrategy(strategy, **params)
    add_analyzers(cerebro)
    return cerebro.run()[0], cerebro


def weekly_feed(feed):
    """The same bars declared with ``timeframe=Weeks`` (as ``feeds.to_backtrader`` does)."""
    return AvailPandasData(dataname=feed.p.dataname, name=feed._name,
                           timeframe=bt.TimeFrame.Weeks)


@pytest.fixture(scope="module")
def result():
    close = make_close(50, tickers=("A", "B", "LATE"), seed=21, vol=0.04)
    close.iloc[:12, 2] = np.nan
    strat, cerebro = run(close)
    return close, strat, cerebro


# ------------------------------------------------------------------------- by hand, 3 bars
class BuyOnce(bt.Strategy):
    def next(self):
        if len(self) == 1:
            self.buy(size=100)


def test_three_bars_by_hand():
    close = pd.DataFrame({"A": [10.0, 11.0, 12.0]},
                         index=pd.date_range("2021-01-01", periods=3, freq="W-FRI"))
    strat, cerebro = run(close, strategy=BuyOnce)  # buy 100 at bar 0, filled at bar 1's open 10
    cash = 100_000.0 - 100 * 10.0 - 0.001 * 100 * 10.0
    values = [100_000.0, cash + 100 * 11.0, cash + 100 * 12.0]
    dates = list(close.index.to_pydatetime())
    a = strat.analyzers

    assert a.returns.get_analysis() == OrderedDict(
        zip(dates, [0.0, values[1] / values[0] - 1.0, values[2] / values[1] - 1.0]))
    assert a.weights.get_analysis() == OrderedDict(
        zip(dates, [[0.0], [1100.0 / values[1]], [1200.0 / values[2]]]))
    c = a.costs.get_analysis()
    assert list(c) == dates
    assert c[dates[1]] == {"traded_value": 1000.0, "turnover": 1000.0 / 100_000.0,
                           "costs": 1.0, "cost_frac": 1.0 / 100_000.0}
    assert c[dates[0]]["turnover"] == c[dates[2]]["costs"] == 0.0
    assert dict(a.orders.get_analysis()) == {
        "submitted": 1, "partial": 0, "completed": 1, "canceled": 0, "expired": 0, "margin": 0,
        "rejected": 0, "buys": 1, "sells": 0, "refused": 0}
    assert cerebro.broker.getvalue() == values[2]


# --------------------------------------------------------------------------------- returns
def test_returns_on_bar_dates_first_vs_start_value_and_compound_to_final_value(result):
    close, strat, cerebro = result
    r = to_series(strat.analyzers.returns)
    assert isinstance(r, pd.Series) and r.index.name == "date"
    assert list(r.index) == list(close.index)
    assert r.iloc[0] == 0.0
    assert r.notna().all()
    assert (1.0 + r).prod() == pytest.approx(cerebro.broker.getvalue() / 100_000.0, rel=1e-12)
    values = [v for _, v, _, _ in strat.seen]
    np.testing.assert_array_equal(r.to_numpy(), np.array(values) / ([100_000.0] + values[:-1]) - 1)


def test_returns_are_backtraders_timereturn():
    close = make_close(30, tickers=("A", "B"), seed=24, freq="B")
    cerebro = make_cerebro(make_feeds(close))
    cerebro.addstrategy(Fills)
    cerebro.addanalyzer(PortfolioReturns, _name="returns")
    cerebro.addanalyzer(bt.analyzers.TimeReturn, _name="tr")  # feed timeframe Days: every bar
    strat = cerebro.run()[0]
    pd.testing.assert_series_equal(to_series(strat.analyzers.returns),
                                   to_series(strat.analyzers.tr), check_exact=True)



def test_weekly_feeds_keep_the_bar_dates():
    """TimeReturn keys a weekly period by its Sunday; the returns stay on the bars' own dates."""
    close = make_close(15, tickers=("A", "B"), seed=30)
    runs = []
    for weekly in (False, True):
        feeds = make_feeds(close)
        cerebro = make_cerebro([weekly_feed(f) for f in feeds] if weekly else feeds)
        cerebro.addstrategy(Fills)
        add_analyzers(cerebro)
        runs.append(cerebro.run()[0].analyzers)
    for a in runs:
        assert list(to_series(a.returns).index) == list(close.index)
    pd.testing.assert_series_equal(to_series(runs[1].returns), to_series(runs[0].returns),
                                   check_exact=True)
    pd.testing.assert_frame_equal(to_frame(runs[1].weights), to_frame(runs[0].weights),
                                  check_exact=True)


# --------------------------------------------------------------------------------- weights
def test_weights_are_position_value_over_portfolio_value(result):
    close, strat, _ = result
    w = to_frame(strat.analyzers.weights)
    assert list(w.columns) == ["A", "B", "LATE"]
    assert list(w.index) == list(close.index)
    for (date, value, cash, pv), (_, row) in zip(strat.seen, w.iterrows(), strict=True):
        expect = {t: pv.get(t, 0.0) / value for t in w.columns}
        assert row.to_dict() == pytest.approx(expect, rel=1e-12, abs=0.0)
        assert row.sum() + cash / value == pytest.approx(1.0, rel=1e-12)
    assert (w.to_numpy() >= 0.0).all()
    assert (w["LATE"].iloc[:13] == 0.0).all()  # NaN price while flat counts as 0
    assert w["LATE"].iloc[-1] > 0.3
    assert w.iloc[-1].to_dict() == pytest.approx(strat.current_weights())



def test_helpers_read_backtraders_positionsvalue_too():
    close = make_close(12, tickers=("A", "B"), seed=25)
    cerebro = make_cerebro(make_feeds(close))
    cerebro.addstrategy(Fills)
    cerebro.addanalyzer(WeightsRecorder, _name="weights")
    cerebro.addanalyzer(bt.analyzers.PositionsValue, _name="pv", cash=True)
    cerebro.addanalyzer(bt.analyzers.PositionsValue, _name="pvh", headers=True)
    strat = cerebro.run()[0]
    pv = to_frame(strat.analyzers.pv)
    assert list(pv.columns) == ["A", "B", "cash"]
    assert list(to_frame(strat.analyzers.pvh).columns) == ["A", "B"]
    w = to_frame(strat.analyzers.weights)
    value = pv.sum(axis=1)
    np.testing.assert_allclose(w.to_numpy(), pv[["A", "B"]].div(value, axis=0).to_numpy(),
                               rtol=1e-12)


# ------------------------------------------------------------------------ turnover, costs
def test_costs_equal_sum_of_order_commissions(result):
    _, strat, _ = result
    tc = to_frame(strat.analyzers.costs)
    assert list(tc.columns) == ["traded_value", "turnover", "costs", "cost_frac"]
    totals = tc.sum()
    assert totals["costs"] == pytest.approx(sum(c for _, c in strat.comms), rel=1e-12)
    assert totals["traded_value"] == pytest.approx(sum(strat.traded), rel=1e-12)
    per_day = pd.Series([c for _, c in strat.comms],
                        index=pd.DatetimeIndex([d for d, _ in strat.comms])).groupby(level=0).sum()
    got = tc["costs"][tc["costs"] > 0]
    pd.testing.assert_series_equal(got, per_day.reindex(got.index), check_names=False,
                                   check_freq=False, check_index_type=False, rtol=1e-12)
    assert tc["costs"].iloc[0] == 0.0  # decisions at bar 0 fill at bar 1
    base = to_series(strat.analyzers.returns).add(1.0).cumprod().mul(100_000.0).shift(1)
    base.iloc[0] = 100_000.0
    np.testing.assert_allclose(tc["turnover"], tc["traded_value"] / base, rtol=1e-12)
    np.testing.assert_allclose(tc["cost_frac"], tc["costs"] / base, rtol=1e-12)
    assert tc["turnover"].iloc[1] == pytest.approx(2 / 3 * 0.98, rel=0.01)  # initial buy


# -------------------------------------------------------------------------------- orders
def test_order_stats(result):
    _, strat, _ = result
    s = strat.analyzers.orders.get_analysis()
    assert s["completed"] == strat.order_counts["Completed"] == len(strat.comms)
    assert s["refused"] == s["margin"] == s["rejected"] == 0
    assert s["buys"] + s["sells"] == s["completed"]
    assert s["submitted"] == s["completed"]
    assert to_series(strat.analyzers.orders).to_dict() == dict(s)


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
    costs = to_frame(strat.analyzers.costs)["costs"].sum()
    pos = strat.getposition(strat.datas[0])
    assert pos.size > 0
    assert costs == pytest.approx(0.001 * pos.size * pos.price, rel=1e-6)


# ------------------------------------------------------------------- Backtrader's idiom
def test_rets_print_and_pprint(result, capsys):
    _, strat, _ = result
    for a in strat.analyzers:
        assert isinstance(a.rets, OrderedDict) and a.get_analysis() is a.rets
        a.pprint()
        out = capsys.readouterr().out
        assert out.strip()
        a.print()
        assert type(a).__name__ in capsys.readouterr().out
    strat.analyzers.returns.pprint()
    assert "(datetime.datetime(2020, 1, 3, 0, 0), 0.0)" in capsys.readouterr().out


def test_helpers_round_trip(result):
    _, strat, _ = result
    a = strat.analyzers
    r = to_series(a.returns)
    assert OrderedDict(zip(r.index.to_pydatetime(), r.tolist())) == a.returns.rets
    w = to_frame(a.weights)
    assert OrderedDict(zip(w.index.to_pydatetime(), w.to_numpy().tolist())) == a.weights.rets
    c = to_frame(a.costs)
    assert {k.to_pydatetime(): v for k, v in c.to_dict("index").items()} == a.costs.rets
    pd.testing.assert_series_equal(to_series(a.returns.rets), r)  # the rets mapping works too
    empty = to_series(OrderedDict())
    assert empty.empty and empty.dtype == float


def test_analyzers_record_warmup_bars_too():
    close = make_close(20, tickers=("A", "B"), seed=23)
    strat, cerebro = run(close, warmup=5)
    r = to_series(strat.analyzers.returns)
    assert len(r) == 20
    assert (r.iloc[:5] == 0.0).all()
    assert (1.0 + r).prod() == pytest.approx(cerebro.broker.getvalue() / 100_000.0, rel=1e-12)
    assert len(to_frame(strat.analyzers.weights)) == 20
    assert len(to_frame(strat.analyzers.costs)) == 20


# ------------------------------------------------------------------- a user's own Cerebro
@pytest.mark.parametrize("order", [("A", "B", "C"), ("C", "A", "B"), ("B", "C", "A")])
def test_several_feeds_in_any_order(order):
    close = make_close(30, tickers=("A", "B", "C"), seed=26)
    close.iloc[:4, 1] = np.nan  # B lists late
    target = {"A": 0.5, "B": 0.2, "C": 0.25}
    ref, _ = run(close, weights=target)
    strat, _ = run(close, order=order, weights=target)
    w = to_frame(strat.analyzers.weights)
    assert list(w.columns) == list(order)
    w0 = to_frame(ref.analyzers.weights)
    pd.testing.assert_frame_equal(w[list(w0.columns)], w0, rtol=1e-9)
    pd.testing.assert_series_equal(to_series(strat.analyzers.returns),
                                   to_series(ref.analyzers.returns), rtol=1e-9)
    assert w.iloc[-1].to_dict() == pytest.approx(target, abs=0.02)


def test_feeds_of_different_timeframes_give_the_finest_bars():
    weekly = make_close(8, tickers=("W",), seed=27)
    daily = make_close(40, tickers=("D",), seed=28, freq="B", start_date="2020-01-03")
    fw = weekly_feed(make_feeds(weekly)[0])
    fd = make_feeds(daily)[0]
    cerebro = make_cerebro([fw, fd])  # the weekly feed first
    cerebro.addstrategy(Fills)
    add_analyzers(cerebro)
    strat = cerebro.run()[0]
    r = to_series(strat.analyzers.returns)
    assert list(r.index) == list(daily.index)
    assert (1.0 + r).prod() == pytest.approx(cerebro.broker.getvalue() / 100_000.0, rel=1e-12)


def test_bars_finer_than_the_feed_timeframe_are_refused():
    from feeds.errors import ConfigError

    feed = weekly_feed(make_feeds(make_close(10, tickers=("A",), seed=29, freq="B"))[0])
    cerebro = make_cerebro([feed])
    cerebro.addstrategy(Fills)
    cerebro.addanalyzer(PortfolioReturns)
    with pytest.raises(ConfigError, match="timeframe"):
        cerebro.run()


def test_package_exports_everything_lazily():
    import subprocess
    import sys

    code = ("import sys, analyzers; assert 'backtrader' not in sys.modules; "
            "assert 'pandas' not in sys.modules; print(len(analyzers.__all__))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout) >= 16
    import analyzers
    from analyzers import metrics, portfolio, reports, stats
    mods = (portfolio, metrics, reports, stats)
    for name in analyzers.__all__:
        assert getattr(analyzers, name) is getattr(
            next(m for m in mods if name in getattr(m, "__all__", ())), name)
    assert set().union(*(m.__all__ for m in mods)) == set(analyzers.__all__)
    with pytest.raises(ImportError, match="nothing_here"):
        from analyzers import nothing_here  # noqa: F401
