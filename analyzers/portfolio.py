"""Backtrader analyzers for portfolio backtests: returns, weights, turnover and costs, orders.

They follow Backtrader's own idiom (``analyzers/sharpe.py``): each one fills ``self.rets``, an
``OrderedDict`` that ``get_analysis()`` returns and ``print()`` / ``pprint()`` show, and the
returns and weights are built on Backtrader's ``TimeReturn`` and ``PositionsValue``. Per-bar
results are keyed by the bar's ``datetime``. The one way to get pandas objects is the pair of
module-level helpers :func:`to_series` and :func:`to_frame`, which also read the ``rets`` of
Backtrader's own analyzers::

    cerebro.addanalyzer(PortfolioReturns, _name="returns")
    cerebro.addanalyzer(WeightsRecorder, _name="weights")
    strat = cerebro.run()[0]
    strat.analyzers.returns.pprint()                  # OrderedDict: datetime -> return
    returns = to_series(strat.analyzers.returns)      # pd.Series on the bar dates
    weights = to_frame(strat.analyzers.weights)       # date x feed name

==================  ============================================  ===============================
analyzer            ``rets``                                      pandas
==================  ============================================  ===============================
PortfolioReturns    bar datetime -> simple return of the value    ``to_series`` (first bar vs the
                                                                  starting value)
WeightsRecorder     bar datetime -> [weight per feed]             ``to_frame``: date x feed name
TurnoverCosts       bar datetime -> {traded_value, turnover,      ``to_frame``: date x those four
                    costs, cost_frac}                             columns (``.sum()`` for totals)
OrderStats          count name -> int (not per bar)               ``to_series`` or ``dict(rets)``
==================  ============================================  ===============================

Every analyzer records at every bar (including the strategy's warm-up bars), at the bar close,
after the broker has filled the orders of that bar's open. Feeds may carry NaN prices before an
asset lists; flat positions count as 0 whatever the price.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections import OrderedDict
from collections.abc import Mapping

import backtrader as bt
import pandas as pd

__all__ = ["PortfolioReturns", "WeightsRecorder", "TurnoverCosts", "OrderStats", "to_series",
           "to_frame"]


def _name(data, i: int) -> str:
    return getattr(data, "_name", "") or f"data{i}"


def _ratio(num: float, den: float) -> float:
    """``num / den`` with IEEE semantics (inf or NaN, not an exception, when ``den`` is 0)."""
    if den:
        return num / den
    if math.isnan(num) or not num:
        return math.nan
    return math.copysign(math.inf, num) * math.copysign(1.0, den)


# ------------------------------------------------------------------------------------ analyzers
class PortfolioReturns(bt.Analyzer):
    """Simple return of the portfolio value at every bar close: Backtrader's ``TimeReturn``.

    Wraps ``bt.analyzers.TimeReturn`` at the feeds' own timeframe and compression (the finest
    among the feeds) so that every bar is one period, and keys its returns by the bar datetime.
    The first bar's return is against the starting value, so ``prod(1 + r)`` is the final value
    over the starting value.

    ``rets``: ``OrderedDict`` bar datetime -> return; :func:`to_series` gives the ``pd.Series``.
    """

    params = (
        # Passed to TimeReturn: None = follow the broker's fund mode; True/False = fund value
        # (unaffected by cash added or removed) / total broker value.
        ('fund', None),
    )

    def __init__(self):
        timeframe, compression = min((d._timeframe, d._compression) for d in self.datas)
        self._timereturn = bt.analyzers.TimeReturn(timeframe=timeframe, compression=compression,
                                                   fund=self.p.fund)

    def start(self):
        self._period = None

    def next(self):
        tr = self._timereturn
        if tr.dtkey == self._period:
            from feeds.errors import ConfigError
            period = bt.TimeFrame.getname(tr.timeframe, tr.compression).lower()
            raise ConfigError(
                f"PortfolioReturns: two bars in one {period} period (ending {tr.dtkey}); give "
                f"each data feed the timeframe and compression of its bars, e.g. "
                f"PandasData(..., timeframe=bt.TimeFrame.Days, compression=1)")
        self._period = tr.dtkey
        self.rets[self.strategy.datetime.datetime(0)] = tr.rets[tr.dtkey]


class WeightsRecorder(bt.Analyzer):
    """Weights at each close: Backtrader's ``PositionsValue`` over the broker value.

    ``rets``: ``OrderedDict`` bar datetime -> list of weights in feed order: size x close over
    the broker value (a short position weighs negative, as ``PositionsValue`` reports it with the
    broker's default ``shortcash=True``; a flat one 0, even on a NaN price). Cash is ``1 - sum``.
    :func:`to_frame` gives the ``pd.DataFrame`` (date x feed name).
    """

    def __init__(self):
        self._positions = bt.analyzers.PositionsValue()

    def next(self):
        strat = self.strategy
        values = next(reversed(self._positions.rets.values()))  # this bar's position values
        total = strat.broker.getvalue()
        self.rets[strat.datetime.datetime(0)] = [
            float(v / total) if total and strat.getposition(d).size else 0.0
            for d, v in zip(self.datas, values)]


class TurnoverCosts(bt.Analyzer):
    """Traded value, turnover and commissions per bar, attributed to the bar of the fill.

    ``turnover`` at bar t = sum of |traded value| filled at t / portfolio value at the close of
    t-1 (the value the decision was taken on; for the first bar, the starting value). This is the
    two-sided ``||w_t - w_{t-1}||_1`` of the papers. ``cost_frac`` = commissions / the same value.

    ``rets``: ``OrderedDict`` bar datetime -> ``{"traded_value", "turnover", "costs"`` (currency)
    ``, "cost_frac"}``. :func:`to_frame` gives a ``pd.DataFrame`` with those columns; its
    ``.sum()`` / ``.mean()`` are the totals and means.
    """

    def start(self):
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

    def next(self):
        base = self._prev_value
        self.rets[self.strategy.datetime.datetime(0)] = OrderedDict(
            traded_value=self._bar_traded, turnover=_ratio(self._bar_traded, base),
            costs=self._bar_comm, cost_frac=_ratio(self._bar_comm, base))
        self._bar_traded = 0.0
        self._bar_comm = 0.0
        self._prev_value = float(self.strategy.broker.getvalue())


class OrderStats(bt.Analyzer):
    """Order counts: every order seen and how each one ended.

    ``rets``: ``submitted`` (distinct orders), ``partial`` (orders that were filled in parts at
    some point), ``completed``, ``canceled``, ``expired``, ``margin``, ``rejected``, ``buys`` /
    ``sells`` (completed) and ``refused`` (= margin + rejected), kept up to date at every order
    notification.
    """

    _ENDS = ("completed", "canceled", "expired", "margin", "rejected")

    def start(self):
        self._refs: set[int] = set()
        self._partial: set[int] = set()
        for key in ("submitted", "partial") + self._ENDS + ("buys", "sells", "refused"):
            self.rets[key] = 0

    def notify_order(self, order):
        self._refs.add(order.ref)
        self.rets["submitted"] = len(self._refs)
        s = order.status
        if s == order.Partial:
            self._partial.add(order.ref)
            self.rets["partial"] = len(self._partial)
            return
        for key in self._ENDS:
            if s == getattr(order, key.capitalize()):
                self.rets[key] += 1
        if s == order.Completed:
            self.rets["buys" if order.isbuy() else "sells"] += 1
        self.rets["refused"] = self.rets["margin"] + self.rets["rejected"]


# ---------------------------------------------------------------------------------- to pandas
def _rets(analyzer) -> Mapping:
    return analyzer.get_analysis() if hasattr(analyzer, "get_analysis") else analyzer


def _index(keys: list) -> pd.Index:
    """Datetime keys -> ``DatetimeIndex`` named ``date``; any other keys -> a plain ``Index``."""
    if all(isinstance(k, (_dt.date, pd.Timestamp)) for k in keys):
        return pd.DatetimeIndex(keys, name="date")
    return pd.Index(keys)


def to_series(analyzer, name: str | None = None) -> pd.Series:
    """An analyzer's ``rets`` (key -> number) as a ``pd.Series``.

    Works for :class:`PortfolioReturns`, :class:`OrderStats` and Backtrader's own one-number-per-key
    analyzers (``TimeReturn``, ...). ``analyzer`` may also be the ``rets`` mapping itself.
    Datetime keys become a ``DatetimeIndex`` named ``date``.
    """
    rets = _rets(analyzer)
    keys = list(rets.keys())
    return pd.Series(list(rets.values()), index=_index(keys), name=name,
                     dtype=float if not keys else None)


def to_frame(analyzer, columns: list[str] | None = None) -> pd.DataFrame:
    """An analyzer's per-bar ``rets`` (datetime -> row) as a ``pd.DataFrame`` (date x column).

    Rows that are mappings (:class:`TurnoverCosts`) give their keys as columns. Rows that are
    lists (:class:`WeightsRecorder`, Backtrader's ``PositionsValue``) are named by ``columns``, or
    by a ``PositionsValue(headers=True)`` header row, or else by the analyzer's feed names (plus
    ``cash`` for one extra entry). ``analyzer`` may also be the ``rets`` mapping itself.
    """
    rets = dict(_rets(analyzer))
    header = rets.pop("Datetime", None)
    rows = list(rets.values())
    idx = _index(list(rets.keys()))
    if rows and isinstance(rows[0], Mapping):
        return pd.DataFrame.from_records(rows, index=idx, columns=columns)
    if columns is None:
        columns = header
    if columns is None:
        datas = getattr(analyzer, "datas", None) or []
        columns = [_name(d, i) for i, d in enumerate(datas)]
        if rows and len(rows[0]) == len(columns) + 1:
            columns.append("cash")
    return pd.DataFrame(rows, index=idx, columns=columns, dtype=float)
