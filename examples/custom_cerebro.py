"""Drop the trained hybrid LSTM+PPO strategy into your own Backtrader Cerebro."""
import backtrader as bt

from analyzers import PortfolioReturns, to_series
from feeds import to_backtrader
from strategies import HybridLSTMPPO, install_commissions
from strategies.pipeline.system1 import RunConfig, prepare_bundle

run = RunConfig(universe="paper", seed=0)
# Trains on the first 70% of weeks (or reuses the cached bundle) and returns the weekly panel.
bundle, panel, trade_start = prepare_bundle("hybrid_top5", run)

cerebro = bt.Cerebro()
for feed in to_backtrader(panel):                 # one aligned weekly feed per ticker
    cerebro.adddata(feed, name=feed._name)
cerebro.broker.setcash(100_000)
install_commissions(cerebro, cerebro.datas, panel.asset_class, default_tc=0.001)  # 10 bp
cerebro.addstrategy(HybridLSTMPPO, bundle=bundle, top_k=5, trade_start=trade_start)
cerebro.addanalyzer(PortfolioReturns, _name="returns")
strat = cerebro.run()[0]

weekly = to_series(strat.analyzers.returns).loc[trade_start:]  # rets -> pd.Series
print(f"final value {cerebro.broker.getvalue():,.0f}; {len(weekly)} weeks out of sample; "
      f"rejected orders {strat.rejected}")
