"""TargetWeightStrategy: next-open fills, sells first, buffered fractional buys, availability."""

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from feeds.errors import ConfigError
from strategies.engine import FixedWeightStrategy, TargetWeightStrategy
from tests.analyzers.synthetic import make_cerebro, make_close, make_feeds


class Recording(FixedWeightStrategy):
    """FixedWeightStrategy that records submissions, fills and weights at each close."""

    def __init__(self):
        super().__init__()
        self.submitted = []  # (decision date, name, signed size) in submission order
        self.fills = []  # (fill date, name, signed size, price, comm) in fill order
        self.weights_log = []
        self.values = []

    def _submit(self, i, size):
        self.submitted.append((self.datetime.date(0), self.datas[i]._name, size))
        super()._submit(i, size)

    def notify_order(self, order):
        super().notify_order(order)
        if order.status == order.Completed:
            self.fills.append((order.data.datetime.date(0), order.data._name,
                               order.executed.size, order.executed.price, order.executed.comm))

    def next(self):
        super().next()
        self.weights_log.append((self.datetime.date(0), self.current_weights()))
        self.values.append(self.broker.getvalue())


def run(close, cash=100_000.0, open_=None, available=None, tc=0.001, **params):
    cerebro = make_cerebro(make_feeds(close, open_=open_, available=available), cash=cash, tc=tc)
    cerebro.addstrategy(Recording, **params)
    return cerebro.run()[0], cerebro


def test_normal_run_has_no_refused_orders_and_finite_value():
    strat, cerebro = run(make_close(80, tickers=("A", "B", "C", "D"), seed=1, vol=0.04))
    assert strat.rejected == 0
    assert strat.order_counts.get("Completed", 0) > 50
    assert set(strat.order_counts) == {"Completed"}
    assert np.isfinite(cerebro.broker.getvalue())


def test_fills_happen_at_next_open_of_the_decision_bar():
    close = make_close(20, seed=2)
    opn = close.shift(1) * 1.004  # opens differ from the previous close
    opn.iloc[0] = close.iloc[0]
    strat, _ = run(close, open_=opn)
    dates = list(close.index.date)
    fills_by_name = {}
    for d, name, size, price, comm in strat.fills:
        fills_by_name.setdefault(name, []).append((d, size, price))
    for d, name, size in strat.submitted:
        if d == dates[-1]:
            continue  # decided on the last bar: there is no next open
        nxt = dates[dates.index(d) + 1]
        fill = [f for f in fills_by_name[name] if f[0] == nxt]
        assert len(fill) == 1
        assert fill[0][1] == pytest.approx(size)
        assert fill[0][2] == pytest.approx(opn.loc[pd.Timestamp(nxt), name])


def test_sells_are_submitted_and_filled_before_buys_each_bar():
    strat, _ = run(make_close(60, seed=4, vol=0.05), weights=[0.5, 0.3, 0.2])
    both = 0
    for log in (strat.submitted, [(d, n, s) for d, n, s, _, _ in strat.fills]):
        by_date = {}
        for d, _, s in log:
            by_date.setdefault(d, []).append(s)
        for sizes in by_date.values():
            signs = [s > 0 for s in sizes]
            assert signs == sorted(signs)  # all sells (False) before buys (True)
            both += (False in signs) and (True in signs)
    assert both > 10


def test_gap_up_at_open_after_rebalance_decision_is_absorbed_by_default_buffer():
    close = make_close(30, tickers=("A", "B"), seed=5, vol=0.01)
    opn = close.shift(1)
    opn.iloc[0] = close.iloc[0]
    opn.iloc[1] = close.iloc[0] * 1.015  # first full buy from cash fills at +1.5%
    # a rebalance: weights switch at bar 10 and the asset being bought gaps up 1.5%
    opn.iloc[11, 1] = close.iloc[10, 1] * 1.015
    opn.iloc[11, 0] = close.iloc[10, 0] * 0.997  # and the sold one gaps down a little
    # (refusals start once (buy gap up + sell gap down) x traded value > cash_buffer x value)

    class Switch(Recording):
        def target_weights(self):
            return [0.9, 0.1] if len(self) <= 10 else [0.1, 0.9]

    cerebro = make_cerebro(make_feeds(close, open_=opn), cash=10_000.0)
    cerebro.addstrategy(Switch)
    strat = cerebro.run()[0]
    assert strat.rejected == 0
    assert any(f[0] == close.index[11].date() and f[2] > 0 for f in strat.fills)
    # without a buffer and without the cash-capped filler, the same gap makes the broker
    # refuse the buy (the check can fail)
    cerebro = make_cerebro(make_feeds(close, open_=opn), cash=10_000.0)
    cerebro.addstrategy(Switch, cash_buffer=0.0, cap_buys_to_cash=False)
    assert cerebro.run()[0].rejected > 0


def test_gap_beyond_the_buffer_is_a_partial_fill_not_a_refusal():
    close = make_close(30, tickers=("A", "B"), seed=5, vol=0.01)
    opn = close.shift(1)
    opn.iloc[0] = close.iloc[0]
    opn.iloc[11, 1] = close.iloc[10, 1] * 1.08  # the bought asset gaps up 8%
    opn.iloc[11, 0] = close.iloc[10, 0] * 0.95  # the sold one gaps down 5%

    class Switch(Recording):
        def target_weights(self):
            return [0.9, 0.1] if len(self) <= 10 else [0.1, 0.9]

    cerebro = make_cerebro(make_feeds(close, open_=opn), cash=10_000.0)
    cerebro.addstrategy(Switch)
    strat = cerebro.run()[0]
    assert strat.rejected == 0
    assert strat.partial_fills >= 1
    assert cerebro.broker.getcash() >= 0.0
    # the capped buy still bought what the cash allowed at that open: B is most of the book
    w11 = dict(strat.weights_log)[close.index[11].date()]
    assert w11["B"] > 0.75
    # and the cancelled rest does not fill later: the next bar trades only the normal drift
    w12 = dict(strat.weights_log)[close.index[12].date()]
    assert abs(w12["B"] - w11["B"]) < 0.1


def test_btc_like_asset_with_tiny_portfolio_gets_fractional_size():
    close = make_close(15, tickers=("BTC",), seed=6, start=60_000.0, vol=0.002)
    strat, cerebro = run(close, cash=1_000.0)
    pos = strat.getposition(strat.datas[0]).size
    assert 0.0 < pos < 1.0
    assert pos != int(pos)
    for _, w in strat.weights_log[1:]:
        assert w["BTC"] == pytest.approx(0.98, abs=0.01)
    assert strat.rejected == 0


def test_tiny_portfolio_tracks_targets_across_price_scales():
    close = pd.concat([make_close(25, tickers=("BTC",), seed=7, start=60_000.0, vol=0.003),
                       make_close(25, tickers=("ETH",), seed=8, start=3_000.0, vol=0.003),
                       make_close(25, tickers=("PENNY",), seed=9, start=0.5, vol=0.003)], axis=1)
    target = np.array([0.5, 0.3, 0.2])
    strat, _ = run(close, cash=500.0, weights=list(target))
    for _, w in strat.weights_log[1:]:
        got = np.array([w["BTC"], w["ETH"], w["PENNY"]])
        np.testing.assert_allclose(got, target * 0.98, atol=0.01)
    assert strat.rejected == 0


def test_nan_priced_prelisting_data_is_never_traded():
    close = make_close(40, tickers=("A", "B", "NEW"), seed=10)
    close.iloc[:15, 2] = np.nan
    strat, cerebro = run(close)
    listed = close.index[15].date()
    new_fills = [f for f in strat.fills if f[1] == "NEW"]
    assert new_fills and min(f[0] for f in new_fills) > listed
    assert all(n != "NEW" or d >= listed for d, n, _ in strat.submitted)
    assert all(np.isfinite(v) for v in strat.values)
    # before NEW lists its 1/3 stays in cash (not re-allocated to A and B)
    d0, w0 = strat.weights_log[5]
    assert w0["NEW"] == 0.0
    assert w0["A"] + w0["B"] == pytest.approx(2 / 3 * 0.98, abs=0.02)
    assert strat.rejected == 0


def test_position_closed_when_asset_leaves_universe_and_weight_stays_cash():
    close = make_close(30, tickers=("A", "GONE"), seed=11)
    close.iloc[20:, 1] = np.nan  # last trade at bar 19; feeds carry the last close
    avail = close.notna()
    strat, cerebro = run(close, available=avail, weights=[0.5, 0.5])
    gone = strat.datas[1]
    assert strat.getposition(gone).size == 0.0
    last_close = close.iloc[19, 1]
    exit_fill = [f for f in strat.fills if f[1] == "GONE" and f[2] < 0][-1]
    assert exit_fill[0] == close.index[21].date()  # decided at bar 20 close, filled next open
    assert exit_fill[3] == pytest.approx(last_close)
    assert strat.unallocated == pytest.approx(0.5)
    _, w = strat.weights_log[-1]
    assert w["A"] == pytest.approx(0.49, abs=0.02)  # not 0.98: the 0.5 stays in cash
    assert not [s for s in strat.submitted if s[1] == "GONE" and s[0] > close.index[20].date()]
    assert strat.rejected == 0


def test_costs_charged_equal_tc_times_traded_value():
    tc = 0.0025
    strat, cerebro = run(make_close(30, seed=12, vol=0.05), cash=50_000.0, tc=tc)
    traded = sum(abs(s) * p for _, _, s, p, _ in strat.fills)
    comm = sum(c for *_, c in strat.fills)
    assert traded > 50_000.0
    assert comm == pytest.approx(tc * traded, rel=1e-12)
    # cash accounting: value = start + trading P&L - costs
    pnl = sum(strat.getposition(d).size * d.close[0] for d in strat.datas) - \
        sum(s * p for _, _, s, p, _ in strat.fills)
    assert cerebro.broker.getvalue() == pytest.approx(50_000.0 + pnl - comm, rel=1e-10)


def test_rebalance_every_and_min_trade_value():
    close = make_close(30, seed=13)
    strat, _ = run(close, rebalance_every=5)
    dates = sorted({d for d, _, _ in strat.submitted})
    assert dates == [close.index[i].date() for i in range(0, 30, 5)]
    strat, _ = run(close, min_trade_value=10_000.0)
    assert {d for d, _, _ in strat.submitted} == {close.index[0].date()}


def test_current_weights_sum_at_most_one():
    strat, _ = run(make_close(30, seed=14))
    for _, w in strat.weights_log:
        assert sum(w.values()) <= 1.0 + 1e-9
        assert min(w.values()) >= 0.0


class Echo(TargetWeightStrategy):
    params = (("w", None),)

    def target_weights(self):
        w = self.p.w
        return w(self) if callable(w) else w


@pytest.mark.parametrize("weights", [
    {"A": 0.6, "B": 0.4},
    pd.Series({"B": 0.4, "A": 0.6}),
    np.array([0.6, 0.4]),
    lambda s: {s.datas[0]: 0.6, s.datas[1]: 0.4},
])
def test_weight_formats(weights):
    cerebro = make_cerebro(make_feeds(make_close(5, tickers=("A", "B"), seed=15, vol=0.001)))
    cerebro.addstrategy(Echo, w=weights)
    strat = cerebro.run()[0]
    w = strat.current_weights()
    assert w["A"] / w["B"] == pytest.approx(1.5, rel=0.05)


@pytest.mark.parametrize("weights, err", [
    ({"Z": 1.0}, ValueError), ([0.7, 0.7], ValueError), ([-0.1, 0.5], ValueError),
    ([0.5], ValueError), ([np.nan, 0.5], ValueError), ("A", TypeError),
])
def test_bad_weights_raise(weights, err):
    cerebro = make_cerebro(make_feeds(make_close(5, tickers=("A", "B"), seed=15)))
    cerebro.addstrategy(Echo, w=weights)
    with pytest.raises(err):
        cerebro.run()


def test_none_keeps_holdings():
    cerebro = make_cerebro(make_feeds(make_close(8, tickers=("A", "B"), seed=16)))
    cerebro.addstrategy(Echo, w=lambda s: [0.5, 0.5] if len(s) == 1 else None)
    strat = cerebro.run()[0]
    assert strat.rebalances == 1
    assert strat.order_counts == {"Completed": 2}


@pytest.mark.parametrize("cheat", ["coc", "coo"])
def test_cheating_brokers_are_refused(cheat):
    cerebro = bt.Cerebro(stdstats=False, cheat_on_open=cheat == "coo")
    if cheat == "coc":
        cerebro.broker.set_coc(True)
    for f in make_feeds(make_close(5, seed=17)):
        cerebro.adddata(f)
    cerebro.addstrategy(FixedWeightStrategy)
    with pytest.raises(ConfigError, match="cheat"):
        cerebro.run()


@pytest.mark.parametrize("kwargs", [{"cash_buffer": 1.0}, {"cash_buffer": -0.1},
                                    {"rebalance_every": 0}, {"rebalance_every": 1.5},
                                    {"min_trade_value": -1}])
def test_bad_params_are_config_errors(kwargs):
    cerebro = make_cerebro(make_feeds(make_close(5, seed=18)))
    cerebro.addstrategy(FixedWeightStrategy, **kwargs)
    with pytest.raises(ConfigError):
        cerebro.run()


def test_works_with_project_feeds_and_stdstats():
    from feeds.btfeeds import to_backtrader
    from feeds.panel import panel_from_close

    close = make_close(30, tickers=("A", "B", "LATE"), seed=19)
    close.iloc[:8, 2] = np.nan
    feeds = to_backtrader(panel_from_close(close))
    cerebro = make_cerebro(feeds, stdstats=True)  # default observers must cope with NaN too
    cerebro.addstrategy(FixedWeightStrategy)
    strat = cerebro.run()[0]
    assert strat.rejected == 0
    assert np.isfinite(cerebro.broker.getvalue())
    assert strat.getposition(strat.datas[2]).size > 0
