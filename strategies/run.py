"""Command line: train (or reuse), backtest and report the packaged strategies.

    python -m strategies.run --strategy hybrid_top5
    python -m strategies.run --strategy all --out results/all
    python -m strategies.run --list

System 1 presets (weekly, multi-asset) train on the first ``--train-frac`` of the weeks and are
backtested in Backtrader on the rest, with costs. System 2 presets (daily, per stock) are run
with ``--strategy alpha_ppo --tickers AAPL,PEP`` (see ``--help``).

Errors a user can fix are printed as one line on stderr with exit code 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import warnings
from pathlib import Path

from feeds.errors import ConfigError, PluginError

log = logging.getLogger("strategies.run")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m strategies.run",
        description="Train, backtest (Backtrader, with costs) and report RL portfolio strategies.")
    p.add_argument("--strategy", default="hybrid_top5",
                   help="preset name, 'all' (every System 1 preset) or 'all_alpha' "
                        "(every System 2 preset); see --list (default: hybrid_top5)")
    p.add_argument("--list", action="store_true", help="list the presets and exit")
    p.add_argument("--universe", default="paper",
                   help="System 1 universe preset or comma-separated tickers (default: paper)")
    p.add_argument("--tickers", default=None,
                   help="System 2: comma-separated stocks (default: ten packaged stocks)")
    p.add_argument("--source", choices=("packaged", "yfinance", "files"), default=None,
                   help="price source (default: packaged, or files when --data is given)")
    p.add_argument("--data", default=None, metavar="PATH",
                   help="user price files: a directory of per-ticker CSVs (Yahoo layouts) or one "
                        "long CSV date,ticker,open,high,low,close,volume")
    p.add_argument("--start", default=None, help="first date (System 1 default 2018-01-01)")
    p.add_argument("--end", default=None, help="last date (System 1 default 2024-12-06)")
    p.add_argument("--train-frac", type=float, default=0.7,
                   help="chronological training fraction (default 0.7)")
    p.add_argument("--tc", type=float, default=0.001,
                   help="proportional cost per unit of traded value (default 0.001 = 10 bp)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--seeds", type=int, default=None,
                   help="System 2: number of seeds per stock (default 10, 3 with --quick)")
    p.add_argument("--timesteps", type=int, default=None,
                   help="PPO training timesteps (default: the preset's documented default)")
    p.add_argument("--quick", action="store_true",
                   help="System 2: fewer seeds and timesteps, for a fast look")
    p.add_argument("--alphas", default=None, metavar="FILE",
                   help="System 2: alpha library file, one 'name | formula | description' per "
                        "line (default: the packaged 50 alphas)")
    p.add_argument("--walk-forward", action="store_true",
                   help="System 2: rolling 2-year train / 1-year test / 6-month step evaluation")
    p.add_argument("--jobs", type=int, default=None,
                   help="System 2: parallel training jobs (default: number of cores)")
    p.add_argument("--out", default="results", help="output folder (default: ./results)")
    p.add_argument("--bundle-dir", default=None,
                   help="where trained bundles are kept (default: the user cache directory)")
    p.add_argument("--retrain", action="store_true",
                   help="retrain even when a bundle with the same configuration exists")
    p.add_argument("--no-tearsheets", action="store_true",
                   help="skip the QuantStats HTML tearsheets (metrics, CSVs and comparison only)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


def list_presets() -> str:
    from strategies.presets import PRESETS
    lines = ["System 1 (weekly, multi-asset; --universe):"]
    lines += [f"  {p.name:<18} {p.description}" for p in PRESETS.values() if p.system == 1]
    lines += ["  all                every System 1 preset above", "",
              "System 2 (daily, per stock; --tickers):"]
    lines += [f"  {p.name:<18} {p.description}" for p in PRESETS.values() if p.system == 2]
    lines += ["  all_alpha          every System 2 preset above"]
    return "\n".join(lines)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    for noisy in ("matplotlib", "PIL", "fontTools", "yfinance", "urllib3", "peewee"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", module="quantstats")
    warnings.filterwarnings("ignore", message=".*findfont.*")


def _check_args(a: argparse.Namespace) -> None:
    if not 0.0 < a.train_frac < 1.0:
        raise ConfigError(f"--train-frac must be between 0 and 1 (exclusive), got {a.train_frac}")
    if a.tc < 0 or a.tc >= 0.1:
        raise ConfigError(f"--tc must be in [0, 0.1), got {a.tc}")
    if a.timesteps is not None and a.timesteps < 1:
        raise ConfigError(f"--timesteps must be >= 1, got {a.timesteps}")
    if a.seeds is not None and a.seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {a.seeds}")
    if a.alphas is not None and not Path(a.alphas).is_file():
        raise ConfigError(f"--alphas {a.alphas}: no such file")
    if a.data is not None and not Path(a.data).exists():
        raise ConfigError(f"--data {a.data}: no such file or directory")


def write_outputs(results: dict, out: Path, meta: dict, benchmarks: dict[str, str],
                  requested: list[str], periods_per_year: int, tearsheets: bool) -> None:
    """Tearsheets of the requested strategies (one per benchmark), comparison page, CSVs, JSON."""
    from analyzers.reports import (write_comparison, write_metrics_json, write_returns_csv,
                                   write_tearsheet, write_weights_csv)
    out.mkdir(parents=True, exist_ok=True)
    if tearsheets:
        for name in requested:
            r = results[name]
            for label, bname in benchmarks.items():
                if bname == name or bname not in results:
                    continue
                path = out / f"tearsheet_{name}_vs_{label}.html"
                write_tearsheet(r.returns, results[bname].returns, path,
                                title=f"{name} vs {label}", periods_per_year=periods_per_year,
                                strategy_title=name, benchmark_title=bname)
                log.info("wrote %s", path)
    note = (f"Test window {meta.get('test_first')} .. {meta.get('test_last')} "
            f"({meta.get('test_weeks', meta.get('test_days', ''))} bars); training "
            f"{meta.get('train_first')} .. {meta.get('train_last')}. Returns net of costs.")
    write_comparison({k: {"returns": v.returns, "metrics": v.metrics} for k, v in results.items()},
                     out / "comparison.html", title="Strategy comparison", note=note)
    write_metrics_json({k: v.metrics for k, v in results.items()}, out / "metrics.json")
    write_weights_csv({k: v.weights for k, v in results.items()}, out / "weights.csv")
    write_returns_csv({k: v.returns for k, v in results.items()}, out / "returns.csv")
    (out / "run.json").write_text(json.dumps(meta, indent=2, default=str))


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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    a = parser.parse_args(argv)
    if a.list:
        print(list_presets())
        return 0
    _setup_logging(a.verbose)
    try:
        _check_args(a)
        from strategies.presets import expand
        presets = expand(a.strategy)
        if presets[0].system == 2:
            from strategies.pipeline.outputs import run_system2_cli
            return run_system2_cli(a, presets)
        return run_system1_cli(a)
    except PluginError as e:
        print(f"error: {str(e).splitlines()[0] if str(e) else type(e).__name__}", file=sys.stderr)
        for extra in str(e).splitlines()[1:]:
            print(f"  {extra}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
