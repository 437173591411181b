"""Two small steps both systems' strategies share, each doing one thing (bt's ``algos`` style).

* :class:`TradeWindowMixin`: decide only from ``trade_start`` on (param ``trade_start``).
  Requires: the strategy clock (``self.datetime``: the date of the current bar, whichever feeds
  have one). Sets: nothing; :meth:`in_trade_window` is read by ``next()``.
* :class:`RebalanceBandMixin`: a no-trade region (param ``rebalance_band``; the rule is
  :func:`models.common.execution.within_band`, shared with the System 1 environment).
  Requires: ``self.current_weights()`` and ``self.p.cash_buffer`` (a TargetWeightStrategy).
  Sets: nothing; :meth:`within_band` says whether a target is close enough to the holdings to
  skip the trade.

Mix them in before :class:`strategies.engine.TargetWeightStrategy`. They subclass ``bt.Strategy``
only so that Backtrader's metaclass merges their ``params`` into the strategy's.
"""

from __future__ import annotations

import backtrader as bt
import numpy as np
import pandas as pd

from models.common.execution import within_band


class TradeWindowMixin(bt.Strategy):
    """Decide only on bars dated ``trade_start`` or later; before that the portfolio holds cash
    while the history the models need accumulates."""

    params = (
        # First bar (date or ISO string) at which decisions are made; None = from the first bar.
        ('trade_start', None),
    )

    def in_trade_window(self) -> bool:
        """True from the bar dated ``trade_start`` on (compared by calendar date)."""
        start = self.p.trade_start
        if start is None:
            return True
        # the strategy clock, not datas[0]: the first feed may not have a bar yet
        return self.datetime.date(0) >= pd.Timestamp(start).date()


class RebalanceBandMixin(bt.Strategy):
    """No-trade region: a target whose every ``|held weight - invested target|`` is at most
    ``rebalance_band`` is not traded (the invested target is ``target x (1 - cash_buffer)``).

    The rule is :func:`models.common.execution.within_band`, the one the System 1 training
    environment applies with ``EnvConfig.rebalance_band``. A strategy may set
    :attr:`rebalance_band_default` (e.g. the band its policy was trained with); it applies when
    the param is None.
    """

    params = (
        # No-trade band in portfolio weight; None = the strategy's rebalance_band_default (off
        # unless the strategy sets one; strategies say what None means for them).
        ('rebalance_band', None),
    )

    #: band used when the param ``rebalance_band`` is None (None = always trade)
    rebalance_band_default: float | None = None

    def band(self) -> float | None:
        """The band in force: the param, else :attr:`rebalance_band_default` (None = off)."""
        band = self.p.rebalance_band
        return self.rebalance_band_default if band is None else band

    def within_band(self, target) -> bool:
        """True if every held weight is within the band of its invested target."""
        band = self.band()
        if band is None:
            return False
        held = np.fromiter(self.current_weights().values(), dtype=float)
        invested = np.asarray(target, dtype=float) * (1.0 - float(self.p.cash_buffer))
        return within_band(held, invested, float(band))
