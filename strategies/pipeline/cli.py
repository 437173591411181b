"""From parsed CLI arguments to a pipeline run and its outputs (``python -m strategies.run``)."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from feeds.errors import ConfigError
from strategies.pipeline.outputs import paper_table, write_outputs, write_system2_outputs

log = logging.getLogger(__name__)


def run_system1_cli(a: argparse.Namespace) -> int:
    from analyzers.reports import format_metrics_table
    from strategies.presets import expand
    from strategies.pipeline.system1 import RunConfig, run_system1
    requested = [p.name for p in expand(a.strategy)]
    names = list(dict.fromkeys(requested + ["equal_weight", "sp500"]))
    source = a.source or ("files" if a.data else "packaged")
    run = RunConfig(universe=a.universe, source=source, data_path=a.data,
                    start=a.start or "2018-01-01", end=a.end or "2024-12-06",
                    train_frac=a.train_frac, tc=a.tc, seed=a.seed, timesteps=a.timesteps,
                    retrain=a.retrain, bundle_dir=a.bundle_dir, progress=not a.no_progress)
    t0 = time.perf_counter()
    results, meta = run_system1(names, run)
    meta["elapsed_s"] = round(time.perf_counter() - t0, 1)
    meta["config"] = {k: v for k, v in vars(run).items()}
    meta["bundles"] = {k: v.bundle for k, v in results.items() if v.bundle}
    out = Path(a.out)
    write_outputs(results, out, meta, {"equal_weight": "equal_weight", "sp500": "sp500"},
                  requested, 52, not a.no_tearsheets)
    print(format_metrics_table({k: v.metrics for k, v in results.items()}))
    print(f"\nTest weeks {meta['test_first']} .. {meta['test_last']}; outputs in {out}/")
    return 0


def config_from_args(a: argparse.Namespace):
    from strategies.pipeline.system2 import (FULL_SEEDS, QUICK_SEEDS, QUICK_TIMESTEPS, System2Config)
    tickers = None
    if getattr(a, "tickers", None):
        tickers = tuple(t.strip() for t in a.tickers.split(",") if t.strip())
        if not tickers:
            raise ConfigError("--tickers is empty; pass e.g. --tickers AAPL,PEP")
    quick = bool(getattr(a, "quick", False))
    seeds = a.seeds if a.seeds is not None else (QUICK_SEEDS if quick else FULL_SEEDS)
    timesteps = a.timesteps if a.timesteps is not None else (QUICK_TIMESTEPS if quick else None)
    source = a.source or ("files" if a.data else "packaged")
    return System2Config(
        tickers=tickers, source=source, data_path=a.data, start=a.start or "2016-02-01",
        end=a.end or "2024-05-31", train_frac=a.train_frac, tc=a.tc, seed=a.seed,
        n_seeds=int(seeds), timesteps=timesteps, walk_forward=bool(a.walk_forward),
        jobs=a.jobs, bundle_dir=a.bundle_dir, retrain=bool(a.retrain),
        alphas_path=getattr(a, "alphas", None), progress=not a.no_progress)



def run_system2_cli(args: argparse.Namespace, presets) -> int:
    """Run the System 2 presets ``presets`` with the CLI ``args``; returns the exit code."""
    from strategies.pipeline.system2 import run_system2
    cfg = config_from_args(args)
    requested = [p.name for p in presets]
    # buy-and-hold of each stock is always run: the reference of the table and the tearsheets
    families = list(dict.fromkeys([p.family for p in presets] + ["buy_hold"]))
    t0 = time.perf_counter()
    study = run_system2(families, cfg)
    study.meta["elapsed_s"] = round(time.perf_counter() - t0, 1)
    study.meta["requested"] = requested
    out = Path(args.out)
    table = paper_table(study.summary, families, study.meta)
    write_system2_outputs(study, families, [p.family for p in presets], out,
                          not args.no_tearsheets)
    (out / "paper_table.md").write_text(table)
    print(table)
    print(f"Wall time {study.meta['elapsed_s']} s (training {study.meta['timings'].get('train_wall_s', 0)} s, "
          f"backtests {study.meta['timings'].get('backtest_wall_s')} s); outputs in {out}/")
    return 0
