"""Backtrader analyzers for portfolio backtests: returns, weights, turnover and costs, orders.

Add them to any Cerebro; ``get_analysis()`` returns plain pandas objects or dicts::

    cerebro.addanalyzer(PortfolioReturns, _name="returns")
    ...
    strat = cerebro.run()[0]
    returns = strat.analyzers.returns.get_analysis()   # pd.Series on bar dates

Every analyzer records at every bar (including the strategy's warm-up bars), at the bar close,
after the broker has filled the orders of that bar's open. Feeds may carry NaN prices before an
asset lists; flat positions count as 0 whatever the price.
"""

from __future__ import annotations


import backtrader as bt
import pandas as pd

__all__ = ["PortfolioReturns", "WeightsRecorder", "TurnoverCosts", "OrderStats"]


def _name(data, i: int) -> str:
    return getattr(data, "_name", "") or f"data{i}"


def _bar_time(strategy) -> pd.Timestamp:
    return pd.Timestamp(strategy.datetime.datetime(0))


class _EveryBar(bt.Analyzer):
    """Calls :meth:`record` on every bar, warm-up bars included."""

    def prenext(self):
        self.record()

    def nextstart(self):
        self.record()

    def next(self):
        self.record()

    def record(self):  # pragma: no cover - abstract
        raise NotImplementedError


class PortfolioReturns(_EveryBar):
    """Simple bar returns of the broker value at each close (first bar 0).

    ``get_analysis()``: ``pd.Series`` named ``returns`` indexed by bar date. ``values()`` gives
    the broker value at each close; ``(1 + returns).prod() == values[-1] / start value``.
    """

    def start(self):
        self._dates: list[pd.Timestamp] = []
        self._values: list[float] = []
        self._start_value = float(self.strategy.broker.getvalue())

    def record(self):
        self._dates.append(_bar_time(self.strategy))
        self._values.append(float(self.strategy.broker.getvalue()))

    def values(self) -> pd.Series:
        return pd.Series(self._values, index=pd.DatetimeIndex(self._dates, name="date"),
                         name="value", dtype=float)

    def get_analysis(self) -> pd.Series:
        v = self.values()
        prev = v.shift(1)
        if len(v):
            prev.iloc[0] = self._start_value
        r = (v / prev - 1.0).rename("returns")
        return r


class WeightsRecorder(_EveryBar):
    """Weights at each close: position value / portfolio value, one column per feed name.

    ``get_analysis()``: ``pd.DataFrame`` (date x feed name). Cash is ``1 - row sum``.
    """

    def start(self):
        self._dates: list[pd.Timestamp] = []
        self._rows: list[list[float]] = []
        self._names = [_name(d, i) for i, d in enumerate(self.strategy.datas)]

    def record(self):
        strat = self.strategy
        value = float(strat.broker.getvalue())
        row = []
        for d in strat.datas:
            size = strat.getposition(d).size
            if not size or not value:
                row.append(0.0)
            else:
                row.append(float(size * d.close[0] / value))
        self._dates.append(_bar_time(strat))
        self._rows.append(row)

    def get_analysis(self) -> pd.DataFrame:
        return pd.DataFrame(self._rows, index=pd.DatetimeIndex(self._dates, name="date"),
                            columns=self._names, dtype=float)


class TurnoverCosts(_EveryBar):
    """Traded value, turnover and commissions per bar, attributed to the bar of the fill.

    ``turnover`` at bar t = sum of |traded value| filled at t / portfolio value at the close of
    t-1 (the value the decision was taken on; for the first bar, the starting value). This is the
    two-sided ``||w_t - w_{t-1}||_1`` of the papers. ``cost_frac`` = commissions / the same value.

    ``get_analysis()``: dict with Series ``traded_value``, ``turnover``, ``costs`` (currency),
    ``cost_frac`` (date-indexed) and floats ``total_traded_value``, ``total_turnover``,
    ``total_costs``, ``mean_turnover``.
    """

    def start(self):
        self._dates: list[pd.Timestamp] = []
        self._traded: list[float] = []
        self._comm: list[float] = []
        self._base: list[float] = []
        self._prev_value = float(self.strategy.broker.getvalue())
        self._bar_traded = 0.0
        self._bar_comm = 0.0
        self._seen: dict[int, tuple[float, float]] = {}  # order ref -> (value, comm) counted

    def notify_order(self, order):
        if order.status not in (order.Partial, order.Completed):
            return
        ex = order.executed
        # executed.size/comm are cumulative over partial fills, executed.price their average
        value = abs(float(ex.size)) * float(ex.price) if ex.size else 0.0
        comm = float(ex.comm)
        done_value, done_comm = self._seen.get(order.ref, (0.0, 0.0))
        self._bar_traded += value - done_value
        self._bar_comm += comm - done_comm
        self._seen[order.ref] = (value, comm)

    def record(self):
        self._dates.append(_bar_time(self.strategy))
        self._traded.append(self._bar_traded)
        self._comm.append(self._bar_comm)
        self._base.append(self._prev_value)
        self._bar_traded = 0.0
        self._bar_comm = 0.0
        self._prev_value = float(self.strategy.broker.getvalue())

    def get_analysis(self) -> dict:
        idx = pd.DatetimeIndex(self._dates, name="date")
        traded = pd.Series(self._traded, index=idx, name="traded_value", dtype=float)
        costs = pd.Series(self._comm, index=idx, name="costs", dtype=float)
        base = pd.Series(self._base, index=idx, dtype=float)
        turnover = (traded / base).rename("turnover")
        cost_frac = (costs / base).rename("cost_frac")
        return {
            "traded_value": traded,
            "turnover": turnover,
            "costs": costs,
            "cost_frac": cost_frac,
            "total_traded_value": float(traded.sum()),
            "total_turnover": float(turnover.sum()),
            "mean_turnover": float(turnover.mean()) if len(turnover) else float("nan"),
            "total_costs": float(costs.sum()),
        }


class OrderStats(bt.Analyzer):
    """Order counts: every order seen and how each one ended.

    ``get_analysis()``: dict with ``submitted`` (distinct orders), ``completed``, ``partial``
    (orders that were filled in parts at some point), ``canceled``, ``expired``, ``margin``,
    ``rejected``, ``refused`` (= margin + rejected) and ``buys``/``sells`` (completed).
    """

    def start(self):
        self._refs: set[int] = set()
        self._partial: set[int] = set()
        self.counts = {"completed": 0, "canceled": 0, "expired": 0, "margin": 0, "rejected": 0,
                       "buys": 0, "sells": 0}

    def notify_order(self, order):
        self._refs.add(order.ref)
        s = order.status
        if s == order.Partial:
            self._partial.add(order.ref)
        elif s == order.Completed:
            self.counts["completed"] += 1
            self.counts["buys" if order.isbuy() else "sells"] += 1
        elif s == order.Canceled:
            self.counts["canceled"] += 1
        elif s == order.Expired:
            self.counts["expired"] += 1
        elif s == order.Margin:
            self.counts["margin"] += 1
        elif s == order.Rejected:
            self.counts["rejected"] += 1

    def get_analysis(self) -> dict:
        out = {"submitted": len(self._refs), "partial": len(self._partial)}
        out.update(self.counts)
        out["refused"] = out["margin"] + out["rejected"]
        return out
