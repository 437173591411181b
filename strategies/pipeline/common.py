"""What both pipelines share: run settings, the bundle folder, one backtest in a fresh Cerebro.

:func:`run_backtest` is the one place a pipeline builds a Cerebro: the user's feeds, cash,
proportional commissions per asset class, the strategy and the standard analyzers; it keeps the
results of the bars from the first test date on.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import backtrader as bt
import pandas as pd

from analyzers.metrics import compute_metrics
from analyzers.portfolio import (OrderStats, PortfolioReturns, TurnoverCosts, WeightsRecorder,
                                 to_frame, to_series)
from strategies.commission import install_commissions


def default_bundle_dir() -> Path:
    """Where trained bundles are kept by default: the user cache directory."""
    import platformdirs
    return Path(platformdirs.user_cache_dir("bt-rlportfolio")) / "bundles"



@dataclass(frozen=True)
class RunSettings:
    """Settings both systems' runs share (the common CLI options); each system extends it."""

    source: str = "packaged"  #: packaged | yfinance | files
    data_path: str | None = None  #: user files (directory of CSVs or one CSV) for source=files
    start: str = "2018-01-01"  #: first date of the study period
    end: str = "2024-12-06"  #: last date of the study period
    train_frac: float = 0.7  #: chronological training fraction
    tc: float = 0.001  #: proportional cost per unit of traded value (10 bp), env and Backtrader
    seed: int = 0  #: seed of every random choice
    timesteps: int | None = None  #: PPO timesteps (None = the system's config default)
    cash: float = 1_000_000.0  #: starting cash of every backtest
    cash_buffer: float = 0.02  #: cash kept to absorb the close-to-next-open move (strategies.engine)
    retrain: bool = False  #: retrain even if a matching bundle exists
    bundle_dir: str | None = None  #: where bundles live (default: user cache dir)
    progress: bool = True  #: progress output while training

    def bundles(self) -> Path:
        """The bundle root: ``bundle_dir`` or :func:`default_bundle_dir`."""
        return Path(self.bundle_dir) if self.bundle_dir else default_bundle_dir()


@dataclass
class StrategyResult:
    """What one backtest produced (test weeks only)."""

    name: str
    returns: pd.Series
    weights: pd.DataFrame
    turnover: pd.Series
    costs: pd.Series
    orders: dict
    metrics: dict
    bundle: str | None = None


def config_key(*parts: Any) -> str:
    """A short stable hash of JSON-able parts (bundle folder keys)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]



# ----------------------------------------------------------------------------------- backtest
def run_backtest(strategy_cls, params: dict, datas: list, asset_class: dict, *, cash: float,
                 tc: float, cash_buffer: float, test_start, name: str,
                 periods_per_year: int) -> tuple[StrategyResult, Any]:
    """Run one strategy on ``datas`` in a fresh Cerebro with the standard analyzers.

    Costs: :func:`strategies.commission.install_commissions` at ``tc`` per unit of traded value.
    Returns the results of the bars from ``test_start`` on, and the strategy instance.
    """
    cerebro = bt.Cerebro(stdstats=False)
    for d in datas:
        cerebro.adddata(d, name=d._name)
    cerebro.broker.setcash(cash)
    install_commissions(cerebro, datas, asset_class, default_tc=tc)
    cerebro.addstrategy(strategy_cls, cash_buffer=cash_buffer, **params)
    cerebro.addanalyzer(PortfolioReturns, _name="returns")
    cerebro.addanalyzer(WeightsRecorder, _name="weights")
    cerebro.addanalyzer(TurnoverCosts, _name="turnover")
    cerebro.addanalyzer(OrderStats, _name="orders")
    strat = cerebro.run()[0]
    a = strat.analyzers
    ts = pd.Timestamp(test_start)
    rets = to_series(a.returns)
    rets = rets.loc[rets.index >= ts]
    w = to_frame(a.weights)
    w = w.loc[w.index >= ts]
    tcs = to_frame(a.turnover)
    tcs = tcs.loc[tcs.index >= ts]
    turnover, costs = tcs["turnover"], tcs["cost_frac"]
    orders = dict(a.orders.get_analysis())
    # the value at the start of the test window: the last value over the test's growth
    capital = float(strat.broker.getvalue()) / float((1.0 + rets).prod()) if len(rets) else cash
    m = compute_metrics(rets, periods_per_year, turnover=turnover, costs=tcs["costs"],
                        capital=capital)
    m["rejected_orders"] = int(orders.get("refused", 0))
    bundle = getattr(getattr(strat, "bundle", None), "path", None)
    return StrategyResult(name=name, returns=rets.rename(name), weights=w, turnover=turnover,
                          costs=costs, orders=orders, metrics=m,
                          bundle=str(bundle) if bundle else None), strat


