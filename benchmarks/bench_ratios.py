"""Issue 10's table: every hot path as a ratio against an anchor measured in the same run.

Each row times a path and its anchor side by side in this process (or in child processes for
the CLI rows), in CPU-seconds (``time.process_time`` / ``resource.getrusage`` including
children) and wall seconds, and reports ``path / anchor``. Nothing here sets a process-wide
torch thread count: the code runs with the thread settings the CLI has (torch's default, with
the library choosing threads per phase).

Rows (``--only`` picks some, comma-separated):

* ``env``: System 1 env step (N=32, random actions, PPO-only layout) vs the step it replaced
  (kept verbatim in ``tests/models/test_perf_equivalence_env.py``);
* ``backtest``: HybridLSTMPPO backtest vs BuyAndHold on the same 32 feeds;
* ``cli``: ``python -m strategies.run --list`` (and ``--help``) vs ``import backtrader``.

Not yet here (issue 10's other anchors): the FinRL ``StockPortfolioEnv`` port and numpy floor
for the env row, plain SB3 for PPO, the per-asset ``nn.LSTM`` loop for the LSTM fit
(``benchmarks/bench_lstm.py`` has it), AlphaPPO vs buy-and-hold per day.

``--load N`` runs N busy-looping child processes during the measurements (the issue's
"under load" figures); they are ended by pid at the end.

Usage::

    python benchmarks/bench_ratios.py                     # every row, quiet machine
    python benchmarks/bench_ratios.py --only backtest,cli --repeat 3
    python benchmarks/bench_ratios.py --only backtest --load 2
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


# --------------------------------------------------------------------------- measuring
def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def measure(fn: Callable[[], object], repeat: int = 1) -> dict:
    """Median CPU-seconds (this process + children) and wall seconds of ``fn()``."""
    cpus, walls = [], []
    for _ in range(repeat):
        c0, k0, w0 = time.process_time(), _children_cpu(), time.perf_counter()
        fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0 + _children_cpu() - k0)
    return {"cpu_s": statistics.median(cpus), "wall_s": statistics.median(walls)}


def ratio(a: dict, b: dict) -> dict:
    return {"cpu": a["cpu_s"] / b["cpu_s"], "wall": a["wall_s"] / b["wall_s"]}


def _fmt(d: dict) -> str:
    return f"{d['cpu_s']:.3f} CPU-s / {d['wall_s']:.3f} s wall"


class Load:
    """N busy-looping child processes (simulated load), ended by pid."""

    def __init__(self, n: int) -> None:
        self.procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                      for _ in range(n)]

    def close(self) -> None:
        for p in self.procs:
            p.kill()
            p.wait()


# --------------------------------------------------------------------------- fixtures
def _panel():
    from feeds import load_panel
    panel = load_panel("paper", start="2018-01-01", end="2024-12-06")
    return panel, panel.split_index(0.7)


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


# --------------------------------------------------------------------------- rows
def row_backtest(repeat: int) -> dict:
    """HybridLSTMPPO vs BuyAndHold, same feeds, the CLI's ``backtest``."""
    from strategies import allocation as P
    from strategies.pipeline.system1 import RunConfig, backtest
    panel, n_train = _panel()
    run = RunConfig()
    ts = panel.index[n_train - 1]
    with tempfile.TemporaryDirectory() as tmp:
        bpath = _quick_bundle(panel, n_train, Path(tmp))
        from models.portfolio.bundle import load_bundle
        bundle = load_bundle(bpath)

        def hybrid():
            backtest(P.HybridLSTMPPO, {"bundle": bundle, "trade_start": ts}, panel, run,
                     panel.index[n_train], "hybrid_top5")

        def bah():
            backtest(P.BuyAndHold, {"trade_start": ts}, panel, run, panel.index[n_train],
                     "buy_and_hold")
        hybrid(), bah()  # warm imports and caches
        h = measure(hybrid, repeat)
        b = measure(bah, repeat)
    r = ratio(h, b)
    print(f"backtest: hybrid {_fmt(h)}; buy-and-hold {_fmt(b)} -> "
          f"{r['cpu']:.2f}x CPU, {r['wall']:.2f}x wall (target <= 1.5x)")
    return {"hybrid": h, "buy_and_hold": b, "ratio": r}


def _run_child(code: str) -> None:
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def row_cli(repeat: int) -> dict:
    """Fresh processes: ``strategies.run --list`` / ``--help`` vs ``import backtrader``."""
    def cli(flag):
        return lambda: subprocess.run([sys.executable, "-m", "strategies.run", flag], cwd=ROOT,
                                      check=True, stdout=subprocess.DEVNULL)
    anchor = measure(lambda: _run_child("import backtrader"), repeat)
    lst = measure(cli("--list"), repeat)
    hlp = measure(cli("--help"), repeat)
    out = {"import_backtrader": anchor, "list": lst, "help": hlp,
           "ratio_list": ratio(lst, anchor), "ratio_help": ratio(hlp, anchor)}
    print(f"cli: --list {_fmt(lst)}, --help {_fmt(hlp)}; import backtrader {_fmt(anchor)} -> "
          f"--list {out['ratio_list']['cpu']:.2f}x CPU / {out['ratio_list']['wall']:.2f}x wall")
    return out


def row_env(repeat: int, n_steps: int = 5000) -> dict:
    """System 1 env step, N=32, random actions: the lean step vs the step it replaced
    (``tests/models/test_perf_equivalence_env.RefEnv``, kept verbatim in the equality test)."""
    import numpy as np

    from models.portfolio.config import EnvConfig
    from models.portfolio.env import PortfolioEnv, build_env_arrays
    from models.portfolio.features import FeatureBuilder, FeatureLayout, fit_stats
    from tests.models.test_perf_equivalence_env import RefEnv
    panel, n_train = _panel()
    arrays = build_env_arrays(panel)
    cfg = EnvConfig(top_k=5, use_forecasts=False)
    builder = FeatureBuilder(FeatureLayout(arrays.close.shape[1], cfg.window, False),
                             *fit_stats(arrays.log_returns[:n_train], arrays.mask[:n_train]))
    acts = np.random.default_rng(0).uniform(-1, 1, (n_steps, arrays.close.shape[1])
                                            ).astype(np.float32)

    def steps(cls):
        env = cls(**arrays.env_kwargs(), config=cfg, start=0, end=n_train, builder=builder)
        env.reset(seed=0)

        def go():
            for a in acts:
                _, _, term, trunc, _ = env.step(a)
                if term or trunc:
                    env.reset()
        return go
    new = measure(steps(PortfolioEnv), repeat)
    old = measure(steps(RefEnv), repeat)
    r = ratio(old, new)
    print(f"env step: lean {n_steps / new['cpu_s']:,.0f} steps per CPU-s, previous step "
          f"{n_steps / old['cpu_s']:,.0f} -> {r['cpu']:.2f}x faster (CPU), {r['wall']:.2f}x (wall)")
    return {"lean": new, "previous": old, "speedup": r, "steps": n_steps}


ROWS = {"backtest": row_backtest, "cli": row_cli, "env": row_env}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=",".join(ROWS), help="rows, comma-separated")
    ap.add_argument("--repeat", type=int, default=3, help="repetitions (median reported)")
    ap.add_argument("--load", type=int, default=0, help="busy child processes during the run")
    ap.add_argument("--json", default=None, help="write the figures here")
    a = ap.parse_args(argv)
    names = [n.strip() for n in a.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in ROWS]
    if unknown:
        ap.error(f"unknown rows {unknown}; choose from {list(ROWS)}")
    import torch
    out: dict = {"machine": {"cpus": os.cpu_count(), "torch": torch.__version__,
                             "torch_threads_default": torch.get_num_threads(), "load": a.load}}
    load = Load(a.load) if a.load else None
    try:
        for n in names:
            out[n] = ROWS[n](a.repeat)
    finally:
        if load is not None:
            load.close()
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
