"""System 2 speed: PPO training steps/s for one stock and Backtrader backtest time for one stock.

    python benchmarks/bench_system2.py                     # AAPL, 8192 PPO steps, 630 test days
    python benchmarks/bench_system2.py --timesteps 30000 --test-days 2000

Prints: training steps/s (one process, one torch thread, as the pipeline's workers run), the
AlphaPPO backtest time with a cold and a warm alpha cache (the cache is shared by the seeds of a
stock), the equal-weight and buy-and-hold backtest times, and the derived wall-time estimates of
a quick and a full 10-stock run on ``--cores`` cores.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ticker", default="AAPL")
    p.add_argument("--timesteps", type=int, default=8192)
    p.add_argument("--test-days", type=int, default=630, help="backtested days (decisions)")
    p.add_argument("--cores", type=int, default=2)
    a = p.parse_args(argv)

    import logging
    logging.basicConfig(level=logging.WARNING)
    from dataclasses import replace

    from feeds import load_daily
    from models.alpha import AlphaConfig, EqualWeightPolicy, train_alpha_policy
    from models.alpha.language import load_alphas
    from strategies import alpha as A
    from strategies.pipeline.system2 import (
        FULL_SEEDS,
        QUICK_SEEDS,
        QUICK_TIMESTEPS,
        System2Config,
        backtest,
    )

    df = load_daily([a.ticker], start="2015-01-01", end="2024-05-31")[a.ticker]
    alphas = load_alphas()
    n = len(df)
    test_days = min(a.test_days, n - 400)
    trade_idx = n - test_days - 1
    train = (df.index[200], df.index[trade_idx])
    cfg = replace(AlphaConfig(), total_timesteps=a.timesteps)
    t0 = time.perf_counter()
    pol = train_alpha_policy(df, alphas, cfg, 0, train, ticker=a.ticker)
    train_s = time.perf_counter() - t0
    sps = a.timesteps / train_s
    print(f"training: {a.timesteps} steps in {train_s:.1f}s = {sps:.0f} steps/s (1 process)")

    run = System2Config()
    trade_start, test_start = df.index[trade_idx], df.index[trade_idx + 1]
    cache: dict = {}
    res = {}
    for label, cls, params in [
        ("alpha_ppo cold cache", A.AlphaPPO, {"policy": pol, "signal_cache": cache}),
        ("alpha_ppo warm cache", A.AlphaPPO, {"policy": pol, "signal_cache": cache}),
        ("alpha_equal warm cache", A.AlphaEqualWeight,
         {"policy": EqualWeightPolicy.fit(df, alphas, *train, cfg), "signal_cache": cache}),
        ("buy_hold", A.BuyAndHoldStock, {}),
        ("momentum", A.MomentumStrategy, {}),
    ]:
        t0 = time.perf_counter()
        backtest(cls, {**params, "trade_start": trade_start}, df, a.ticker, run, test_start,
                 label)
        res[label] = time.perf_counter() - t0
        print(f"backtest {label:<24} {test_days} days: {res[label]:.2f}s "
              f"({1000 * res[label] / test_days:.1f} ms/day)")

    per_stock_bt = lambda seeds: (res["alpha_ppo cold cache"]  # noqa: E731
                                  + (seeds - 1) * res["alpha_ppo warm cache"]
                                  + res["alpha_equal warm cache"] + 3 * res["buy_hold"])
    for name, seeds, steps in (("quick", QUICK_SEEDS, QUICK_TIMESTEPS),
                               ("full", FULL_SEEDS, AlphaConfig().total_timesteps)):
        train_wall = 10 * seeds * steps / sps / a.cores
        bt_wall = 10 * per_stock_bt(seeds) / a.cores
        print(f"estimate {name} run (10 stocks x {seeds} seeds x {steps} steps, {a.cores} cores): "
              f"training ~{train_wall / 60:.0f} min, backtests ~{bt_wall / 60:.1f} min "
              "(+ ~4 s per tearsheet)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
