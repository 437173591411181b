"""Your own daily feeds in the weekly hybrid LSTM+PPO strategy: Cerebro resamples them to weeks."""
import backtrader as bt
import pandas as pd

from feeds import load_daily
from feeds.resample import yield_total_return_index
from strategies import HybridLSTMPPO, install_commissions
from strategies.pipeline.system1 import RunConfig, prepare_bundle

run = RunConfig(universe="paper", seed=0)
# The folder of a trained bundle (trained now, or reused from the cache) and what it knows.
bundle_path, panel, trade_start = prepare_bundle("hybrid_top5", run)

# Stand-in for your own daily OHLCV frames: the packaged prices, from a year before trading.
daily = load_daily(panel.tickers, start=trade_start - pd.DateOffset(years=1), end=run.end)
tnx = yield_total_return_index(daily["^TNX"]["close"])  # a yield enters as a total-return index
daily["^TNX"] = pd.DataFrame({"open": tnx, "high": tnx, "low": tnx, "close": tnx, "volume": 0.0})

cerebro = bt.Cerebro()
for ticker in sorted(daily):  # any order: feeds are matched to the bundle's tickers by name
    feed = bt.feeds.PandasData(dataname=daily[ticker])  # daily bars, from the asset's first day
    cerebro.resampledata(feed, name=ticker, timeframe=bt.TimeFrame.Weeks, compression=1)
cerebro.broker.setcash(100_000)
install_commissions(cerebro, cerebro.datas, panel.asset_class, default_tc=0.001)  # 10 bp
cerebro.addstrategy(HybridLSTMPPO, bundle=str(bundle_path), top_k=5, trade_start=trade_start)
cerebro.addanalyzer(bt.analyzers.TimeReturn, timeframe=bt.TimeFrame.Weeks, _name="weekly")
strat = cerebro.run()[0]

weekly = pd.Series(strat.analyzers.weekly.get_analysis()).loc[trade_start:]
print(f"final value {cerebro.broker.getvalue():,.0f}; {len(strat.decisions)} weekly decisions, "
      f"{len(weekly)} weeks; rejected orders {strat.rejected}")
