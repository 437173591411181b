"""A System 2 strategy (equal-weighted formulaic alphas) in your own Cerebro: one daily feed."""
import backtrader as bt
import pandas as pd

from feeds import load_daily
from models.alpha import AlphaConfig, EqualWeightPolicy
from models.alpha.language import load_alphas
from strategies import AlphaEqualWeight, ProportionalCommission

# Stand-in for your own daily OHLCV frame of one stock.
df = load_daily(["AAPL"], start="2019-01-01", end="2021-12-31")["AAPL"]
# The 50 library alphas, standardised with statistics of the training window only.
policy = EqualWeightPolicy.fit(df, load_alphas(), "2019-08-01", "2020-12-31", AlphaConfig())

cerebro = bt.Cerebro()
cerebro.adddata(bt.feeds.PandasData(dataname=df), name="AAPL")  # daily bars, as they are
cerebro.broker.setcash(100_000)
cerebro.broker.addcommissioninfo(ProportionalCommission(commission=0.001))  # 10 bp
cerebro.addstrategy(AlphaEqualWeight, policy=policy, trade_start="2021-01-04")
# or a trained PPO policy: cerebro.addstrategy(AlphaPPO, policy="path/to/alpha_bundle", ...)
cerebro.addanalyzer(bt.analyzers.TimeReturn, timeframe=bt.TimeFrame.Days, _name="daily")
strat = cerebro.run()[0]

daily = pd.Series(strat.analyzers.daily.get_analysis()).loc["2021-01-04":]
positions = pd.Series(dict(strat.decisions))  # target position in [-1, 1] per day
print(f"final value {cerebro.broker.getvalue():,.0f}; {len(positions)} daily decisions, "
      f"{len(daily)} days (mean |position| {positions.abs().mean():.2f}); "
      f"rejected orders {strat.rejected}")
