"""Rows of ``bench_ratios.py`` for what a user runs: backtests, data loading, the CLI.

The backtests go through the pipeline's own ``backtest`` functions (one fresh Cerebro each, the
strategies' own thread handling); the CLI rows run ``python -m strategies.run`` in fresh
processes and read their CPU time and peak RSS from ``getrusage`` of the process tree.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from ratio_kit import measure_pair, row, run_child
from rows_models import paper_panel


# --------------------------------------------------------------------------- System 1 backtest
def _quick_bundle(panel, n_train: int, tmp: Path) -> Path:
    """A hybrid bundle trained briefly (the backtest's cost does not depend on training
    length): LSTM 3 epochs, PPO 1,024 steps."""
    from dataclasses import replace

    from models.portfolio.bundle import save_bundle
    from models.portfolio.config import EnvConfig, LSTMConfig, PPOConfig
    from models.portfolio.env import build_env_arrays
    from models.portfolio.forecaster import LSTMForecaster
    from models.portfolio.train import train_portfolio_policy
    lr = panel.log_returns.to_numpy()
    mask = panel.mask.to_numpy()
    lcfg = replace(LSTMConfig(), max_epochs=3)
    fc = LSTMForecaster(lcfg, seed=0, num_threads=1).fit(lr[:n_train], mask[:n_train])
    f = fc.forecast(lr, mask)
    arrays = build_env_arrays(panel, forecasts=f)
    tp = train_portfolio_policy(arrays, n_train, EnvConfig(top_k=5), PPOConfig(), f, seed=0,
                                timesteps=1024, progress_bar=False)
    return save_bundle(tmp / "hybrid", variant="hybrid", tickers=panel.tickers,
                       env_config=tp.env_config, seed=0, ppo_config=tp.ppo_config,
                       lstm_config=lcfg, builder=tp.builder, obs_norm=tp.obs_norm,
                       model=tp.model, forecaster=fc)


def row_backtest(repeat: int) -> list[dict]:
    """HybridLSTMPPO vs BuyAndHold on the same 32 feeds, the pipeline's ``backtest``."""
    from models.portfolio.bundle import load_bundle
    from strategies import allocation as P
    from strategies.pipeline.system1 import RunConfig, backtest
    panel, n_train = paper_panel()
    run = RunConfig()
    ts, test_start = panel.index[n_train - 1], panel.index[n_train]
    with tempfile.TemporaryDirectory() as tmp:
        bundle = load_bundle(_quick_bundle(panel, n_train, Path(tmp)))

        def hybrid():
            backtest(P.HybridLSTMPPO, {"bundle": bundle, "trade_start": ts}, panel, run,
                     test_start, "hybrid_top5")

        def bah():
            backtest(P.BuyAndHold, {"trade_start": ts}, panel, run, test_start, "buy_and_hold")
        def ew():
            backtest(P.EqualWeight, {"trade_start": ts}, panel, run, test_start, "equal_weight")
        hybrid(), bah(), ew()  # warm imports and caches
        p, a = measure_pair(hybrid, bah, repeat)
        e = measure_pair(ew, bah, repeat)[0]
    return [row("hybrid backtest", "HybridLSTMPPO backtest, 32 feeds",
                "BuyAndHold backtest, same feeds", p, a, speedup=False, target="<= 1.5x",
                ok=p["cpu_s"] <= 1.5 * a["cpu_s"]),
            row("equal-weight backtest", "EqualWeight backtest (rebalances weekly, no model)",
                "BuyAndHold backtest, same feeds", e, a, speedup=False,
                target="(information: the cost of weekly trading alone)", ok=None)]


# --------------------------------------------------------------------------- System 2 backtest
def row_alpha(repeat: int, ticker: str = "AAPL", test_days: int = 630) -> list[dict]:
    """AlphaPPO backtest per day, cold (a fresh signal cache: alphas evaluated in the run) vs
    BuyAndHoldStock on the same feed, the System 2 pipeline's ``backtest``."""
    from dataclasses import replace

    from feeds import load_daily
    from models.alpha import AlphaConfig, train_alpha_policy
    from models.alpha.language import load_alphas
    from strategies import alpha as A
    from strategies.pipeline.system2 import System2Config, backtest
    df = load_daily([ticker], start="2015-01-01", end="2024-05-31")[ticker]
    n = len(df)
    days = min(test_days, n - 400)
    k = n - days - 1
    pol = train_alpha_policy(df, load_alphas(), replace(AlphaConfig(), total_timesteps=2048), 0,
                             (df.index[200], df.index[k]), ticker=ticker)
    run = System2Config()
    trade_start, test_start = df.index[k], df.index[k + 1]

    def alpha():
        backtest(A.AlphaPPO, {"policy": pol, "signal_cache": {}, "trade_start": trade_start},
                 df, ticker, run, test_start, "alpha_ppo")

    def bah():
        backtest(A.BuyAndHoldStock, {"trade_start": trade_start}, df, ticker, run, test_start,
                 "buy_hold")
    alpha(), bah()
    p, a = measure_pair(alpha, bah, repeat)
    per = lambda m: 1000 * m["cpu_s"] / days  # noqa: E731
    return [row("AlphaPPO backtest", f"AlphaPPO cold, {ticker} {days} days "
                f"({per(p):.2f} ms/day)", f"BuyAndHoldStock ({per(a):.2f} ms/day)", p, a,
                speedup=False, target="<= 3x", ok=p["cpu_s"] <= 3 * a["cpu_s"])]


# --------------------------------------------------------------------------- data
def row_panel(repeat: int) -> list[dict]:
    """``load_panel`` (one read and one grouping per file) vs the code it replaced (kept
    verbatim in ``tests/feeds/test_perf_panel.py``), file caches cleared before each call."""
    import feeds.packaged as P
    import tests.feeds.test_perf_panel as R
    from feeds import load_panel
    out = []
    for uni in ("paper", "paper_wide"):
        def new(uni=uni):
            P._file_rows.cache_clear()
            load_panel(uni)

        def old(uni=uni):
            R.ref_read_file.cache_clear()
            u = R.get_universe(uni)
            d = R.ref_load_packaged(list(u.tickers))
            R.ref_weekly_panel(d, u).slice(None, R.calendar_end(d))
        new(), old()
        p, a = measure_pair(new, old, repeat)
        out.append(row(f"load_panel {uni}", f"load_panel('{uni}')", "before (per-ticker scans, "
                       "two resamples per ticker)", p, a, speedup=True, target="faster",
                       ok=p["cpu_s"] < a["cpu_s"]))
    return out


# --------------------------------------------------------------------------- CLI
def _child_pair(cmd: list[str], anchor: list[str], repeat: int) -> tuple[dict, dict]:
    """Alternate fresh runs of ``cmd`` and ``anchor``; medians of each one's own CPU-s (its
    process tree, not the wrapper that measures it)."""
    p, a = [], []
    for _ in range(max(1, repeat)):
        p.append(run_child(cmd))
        a.append(run_child(anchor))
    med = lambda xs: {k: sorted(x[k] for x in xs)[len(xs) // 2]  # noqa: E731
                      for k in ("cpu_s", "wall_s", "peak_rss_mb")}
    return med(p), med(a)


def row_cli(repeat: int) -> list[dict]:
    """Fresh processes: ``strategies.run --list`` / ``--help`` vs ``import backtrader``."""
    py = sys.executable
    out = []
    for flag in ("--list", "--help"):
        p, a = _child_pair([py, "-m", "strategies.run", flag], [py, "-c", "import backtrader"],
                           max(repeat, 5))
        out.append(row(f"cli {flag}", f"python -m strategies.run {flag}",
                       "python -c 'import backtrader'", p, a, speedup=False, target="<= 1.0x",
                       ok=p["cpu_s"] <= a["cpu_s"]))
    return out


def _cli_run(strategy: str, bundle_dir: Path, out_dir: Path) -> dict:
    return run_child([sys.executable, "-m", "strategies.run", "--strategy", strategy,
                      "--bundle-dir", str(bundle_dir), "--out", str(out_dir), "--no-progress"])


def row_fresh(repeat: int) -> list[dict]:
    """``--strategy hybrid_top5`` with a fresh bundle dir (trains the LSTM and PPO) vs the same
    command again with the bundles cached; CPU-s and peak RSS of the process tree."""
    fresh, cached = [], []
    for _ in range(max(1, repeat)):
        with tempfile.TemporaryDirectory() as tmp:
            t = Path(tmp)
            fresh.append(_cli_run("hybrid_top5", t / "bundles", t / "out1"))
            cached.append(_cli_run("hybrid_top5", t / "bundles", t / "out2"))
    med = lambda xs, k: sorted(x[k] for x in xs)[len(xs) // 2]  # noqa: E731
    p = {"cpu_s": med(fresh, "cpu_s"), "wall_s": med(fresh, "wall_s")}
    a = {"cpu_s": med(cached, "cpu_s"), "wall_s": med(cached, "wall_s")}
    rss = med(fresh, "peak_rss_mb")
    return [row("fresh hybrid_top5", f"strategies.run --strategy hybrid_top5, fresh "
                f"(peak RSS {rss:.0f} MB)", "same, bundles cached", p, a, speedup=False,
                target="<= 25 CPU-s, <= 600 MB", ok=p["cpu_s"] <= 25 and rss <= 600,
                peak_rss_mb=rss, cached_peak_rss_mb=med(cached, "peak_rss_mb"))]


def row_all(repeat: int) -> list[dict]:
    """``--strategy all`` with a fresh bundle dir: CPU-s of the whole process tree."""
    runs = []
    for _ in range(max(1, repeat)):
        with tempfile.TemporaryDirectory() as tmp:
            runs.append(_cli_run("all", Path(tmp) / "bundles", Path(tmp) / "out"))
    runs.sort(key=lambda x: x["cpu_s"])
    m = runs[len(runs) // 2]
    return [row("fresh all", f"strategies.run --strategy all, fresh (peak RSS "
                f"{m['peak_rss_mb']:.0f} MB)", "-", {"cpu_s": m["cpu_s"], "wall_s": m["wall_s"]},
                None, speedup=False, target="<= 150 CPU-s", ok=m["cpu_s"] <= 150,
                peak_rss_mb=m["peak_rss_mb"])]

