"""Issue 10's table: every hot path as a ratio against an anchor measured in the same run.

Each row times a path and its anchor side by side (alternately, medians of ``--repeat``) in
CPU-seconds (``time.process_time`` plus ``getrusage`` of child processes) and wall seconds.
Nothing here sets a process-wide torch thread count or any other global: the code runs with the
settings the CLI has (the library chooses threads per phase).

Rows (``--only`` picks some, comma-separated; the default is every row but the two long fresh
CLI runs, which ``--only fresh,all`` adds):

=========  ========================================================================================
env        ``PortfolioEnv.step`` (N=32, hybrid, K=5) vs a port of FinRL's ``StockPortfolioEnv``
           step and vs a NumPy floor of the same arithmetic (``env_anchors.py``)
ppo        ``train_portfolio_policy`` with n_envs 1, 8, 16 vs plain SB3 ``PPO("MlpPolicy", env)``
lstm       ``LSTMForecaster.fit`` (1 thread, early stopping) vs a loop of per-asset ``nn.LSTM``
backtest   ``HybridLSTMPPO`` backtest vs ``BuyAndHold`` on the same 32 feeds
alpha      ``AlphaPPO`` backtest (cold signal cache) vs ``BuyAndHoldStock``, per day
panel      ``load_panel('paper' / 'paper_wide')`` vs the loading code it replaced
cli        ``python -m strategies.run --list`` / ``--help`` vs ``import backtrader``
fresh      ``--strategy hybrid_top5`` with fresh bundles vs cached bundles (CPU-s, peak RSS)
all        ``--strategy all`` with fresh bundles (CPU-s, peak RSS)
=========  ========================================================================================

``--load N`` runs N busy-looping child processes during the measurements (the issue's "under
load" figures); they are ended by pid at the end. ``--json`` writes every figure, ``--markdown``
the table.

Usage::

    nice -n 5 python benchmarks/bench_ratios.py --repeat 3 --json /tmp/ratios.json
    nice -n 5 python benchmarks/bench_ratios.py --only fresh,all --repeat 1
    python benchmarks/bench_ratios.py --only backtest --load 2
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from ratio_kit import Load, table  # noqa: E402
from rows_models import row_env, row_lstm, row_ppo  # noqa: E402
from rows_runs import row_all, row_alpha, row_backtest, row_cli, row_fresh, row_panel  # noqa: E402,I001

ROWS = {"env": row_env, "ppo": row_ppo, "lstm": row_lstm, "backtest": row_backtest,
        "alpha": row_alpha, "panel": row_panel, "cli": row_cli, "fresh": row_fresh,
        "all": row_all}
DEFAULT = ("env", "ppo", "lstm", "backtest", "alpha", "panel", "cli")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=",".join(DEFAULT), help="rows, comma-separated")
    ap.add_argument("--repeat", type=int, default=3, help="repetitions (median reported)")
    ap.add_argument("--load", type=int, default=0, help="busy child processes during the run")
    ap.add_argument("--json", default=None, help="write the figures here")
    ap.add_argument("--markdown", default=None, help="write the table here")
    a = ap.parse_args(argv)
    names = [n.strip() for n in a.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in ROWS]
    if unknown:
        ap.error(f"unknown rows {unknown}; choose from {list(ROWS)}")
    import torch
    out: dict = {"machine": {"cpus": os.cpu_count(), "torch": torch.__version__,
                             "torch_threads_default": torch.get_num_threads(), "load": a.load,
                             "loadavg_start": os.getloadavg()}, "rows": []}
    load = Load(a.load) if a.load else None
    try:
        for n in names:
            out["rows"] += ROWS[n](a.repeat)
    finally:
        if load is not None:
            load.close()
    out["machine"]["loadavg_end"] = os.getloadavg()
    md = table(out["rows"])
    print("\n" + md)
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=2, default=float))
    if a.markdown:
        Path(a.markdown).write_text(md + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
