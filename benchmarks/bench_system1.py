"""System 1 speed and memory, measured on the packaged ``paper`` universe (32 assets, weekly).

Reports:
  * environment steps per second (random actions, 32 assets);
  * PPO training steps per second (the default PPOConfig, 1 torch thread);
  * LSTM forecaster fit time on the training window (paper settings, 1 thread);
  * Backtrader backtest time of HybridLSTMPPO vs equal weight vs buy-and-hold on the same feeds;
  * end-to-end wall time and peak memory (max RSS) of
    ``python -m strategies.run --strategy hybrid_top5`` in a fresh process with a fresh bundle
    folder (so it trains), and again with the bundles reused.

Usage::

    python benchmarks/bench_system1.py            # everything (about 5 minutes on 2 cores)
    python benchmarks/bench_system1.py --skip-e2e # component timings only

Figures go to stdout and to ``--json`` (default benchmarks/results_system1.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def env_speed(arrays, n_steps: int = 5000) -> float:
    import numpy as np

    from models.portfolio.config import EnvConfig
    from models.portfolio.env import PortfolioEnv
    from models.portfolio.features import FeatureBuilder, FeatureLayout, fit_stats
    cfg = EnvConfig(top_k=5)
    n_train = int(round(0.7 * len(arrays.close)))
    builder = FeatureBuilder(FeatureLayout(arrays.close.shape[1], cfg.window, True),
                             *fit_stats(arrays.log_returns[:n_train], arrays.mask[:n_train]))
    env = PortfolioEnv(**arrays.env_kwargs(), config=cfg, start=0, end=n_train, builder=builder)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    acts = rng.uniform(-1, 1, (n_steps, arrays.close.shape[1])).astype(np.float32)
    t0 = time.perf_counter()
    for a in acts:
        _, _, term, trunc, _ = env.step(a)
        if term or trunc:
            env.reset()
    return n_steps / (time.perf_counter() - t0)


_CHILD = ("import resource, sys\n"
          "from strategies.run import main\n"
          "rc = main(sys.argv[1:])\n"
          "print('MAXRSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
          "sys.exit(rc)\n")


def e2e(tmp: Path) -> tuple[float, float]:
    """Wall time (s) and peak RSS (MB) of ``strategies.run --strategy hybrid_top5``."""
    cmd = [sys.executable, "-c", _CHILD, "--strategy", "hybrid_top5", "--out",
           str(tmp / "out"), "--bundle-dir", str(tmp / "bundles"), "--no-progress"]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"strategies.run failed ({p.returncode}):\n{p.stderr[-2000:]}")
    kb = [int(x.split()[1]) for x in p.stderr.splitlines() if x.startswith("MAXRSS_KB")][0]
    return wall, kb / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-e2e", action="store_true")
    ap.add_argument("--ppo-steps", type=int, default=10_240)
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results_system1.json"))
    a = ap.parse_args()

    import torch

    from feeds import load_panel
    from models.portfolio.config import EnvConfig, LSTMConfig, PPOConfig
    from models.portfolio.env import build_env_arrays
    from models.portfolio.forecaster import LSTMForecaster
    from models.portfolio.train import train_portfolio_policy
    from strategies.pipeline.system1 import RunConfig, backtest
    # no process-wide torch thread count: the library sets threads per phase, as in the CLI
    out: dict = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                             "torch": torch.__version__}}

    panel = load_panel("paper", start="2018-01-01", end="2024-12-06")
    n_train = panel.split_index(0.7)
    lr = panel.log_returns.to_numpy()
    mask = panel.mask.to_numpy()

    t0 = time.perf_counter()
    fc = LSTMForecaster(LSTMConfig(), seed=0, num_threads=1).fit(lr[:n_train], mask[:n_train])
    out["lstm_fit_s"] = round(time.perf_counter() - t0, 2)
    out["lstm_epochs"] = fc.history_.get("epochs_run")
    t0 = time.perf_counter()
    forecasts = fc.forecast(lr, mask)
    out["lstm_forecast_all_weeks_s"] = round(time.perf_counter() - t0, 3)
    print(f"LSTM fit: {out['lstm_fit_s']} s ({out['lstm_epochs']} epochs, 32 assets x "
          f"{n_train} weeks); walk-forward forecasts: {out['lstm_forecast_all_weeks_s']} s")

    arrays = build_env_arrays(panel, forecasts=forecasts)
    out["env_steps_per_s"] = round(env_speed(arrays))
    print(f"env: {out['env_steps_per_s']} steps/s (random actions, 32 assets)")

    t0 = time.perf_counter()
    tp = train_portfolio_policy(arrays, n_train, EnvConfig(top_k=5), PPOConfig(), fc.forecast(
        lr, mask), seed=0, timesteps=a.ppo_steps, progress_bar=False)
    dt = time.perf_counter() - t0
    out["ppo_steps_per_s"] = round(a.ppo_steps / dt)
    print(f"PPO training: {out['ppo_steps_per_s']} steps/s ({a.ppo_steps} steps in {dt:.1f} s)")

    with tempfile.TemporaryDirectory() as tmp:
        from models.portfolio.bundle import save_bundle
        bpath = save_bundle(Path(tmp) / "b", variant="hybrid", tickers=panel.tickers,
                            env_config=tp.env_config, seed=0, ppo_config=tp.ppo_config,
                            lstm_config=LSTMConfig(), builder=tp.builder, obs_norm=tp.obs_norm,
                            model=tp.model, forecaster=fc)
        from strategies import allocation as P
        run = RunConfig()
        ts = panel.index[n_train - 1]
        timings = {}
        for name, cls, params in (
                ("hybrid_top5", P.HybridLSTMPPO, {"bundle": str(bpath), "trade_start": ts}),
                ("equal_weight", P.EqualWeight, {"trade_start": ts}),
                ("buy_and_hold", P.BuyAndHold, {"trade_start": ts})):
            t0 = time.perf_counter()
            backtest(cls, params, panel, run, panel.index[n_train], name)
            timings[name] = round(time.perf_counter() - t0, 2)
        out["backtest_s"] = timings
        print(f"Backtrader backtest ({len(panel)} weeks x 32 feeds): {timings}")

    if not a.skip_e2e:
        with tempfile.TemporaryDirectory() as tmp:
            for label in ("first_run", "bundles_reused"):
                wall, rss = e2e(Path(tmp))
                out[f"e2e_{label}"] = {"wall_s": round(wall, 1), "peak_rss_mb": round(rss)}
                print(f"end-to-end hybrid_top5 ({label}): {wall:.1f} s, peak RSS {rss:.0f} MB")
    Path(a.json).write_text(json.dumps(out, indent=2))
    print(f"wrote {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
