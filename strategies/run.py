"""Command line: train (or reuse), backtest and report the packaged strategies.

    python -m strategies.run --strategy hybrid_top5
    python -m strategies.run --strategy all --out results/all
    python -m strategies.run --list

System 1 presets (weekly, multi-asset) train on the first ``--train-frac`` of the weeks and are
backtested in Backtrader on the rest, with costs. System 2 presets (daily, per stock) are run
with ``--strategy alpha_ppo --tickers AAPL,PEP`` (see ``--help``).

Every argument is checked first (:func:`strategies.pipeline.cli.validate_args`), before any
data is loaded, model trained or file written. Errors a user can fix (including usage errors)
are printed as one line ``error: ...`` on stderr with exit code 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings

from feeds.errors import ConfigError, PluginError

log = logging.getLogger("strategies.run")


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors become one ``error: ...`` line and exit code 2."""

    def error(self, message: str):
        raise ConfigError(f"{message} (see python -m strategies.run --help)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m strategies.run",
        description="Train, backtest (Backtrader, with costs) and report RL portfolio strategies.")
    p.add_argument("--strategy", default="hybrid_top5",
                   help="preset name, 'all' (every System 1 preset) or 'all_alpha' "
                        "(every System 2 preset); see --list (default: hybrid_top5)")
    p.add_argument("--list", action="store_true", help="list the presets and exit")
    p.add_argument("--universe", default=None,
                   help="System 1: universe preset, or tickers separated by commas (one name "
                        "that is not a preset is one ticker) (default: paper)")
    p.add_argument("--tickers", default=None,
                   help="System 2: comma-separated stocks (default: ten packaged stocks)")
    p.add_argument("--source", choices=("packaged", "yfinance", "files"), default=None,
                   help="price source (default: packaged, or files when --data is given)")
    p.add_argument("--data", default=None, metavar="PATH",
                   help="user price files: a directory of per-ticker CSVs (Yahoo layouts) or one "
                        "long CSV date,ticker,open,high,low,close,volume")
    p.add_argument("--asset-classes", default=None, metavar="T=CLASS,...",
                   help="asset class of your tickers, e.g. AAPL=nasdaq100,BTC-USD=crypto "
                        "(System 1; unknown tickers are 'other'; composite needs the paper's "
                        "classes nasdaq100, idx, treasury, crypto)")
    p.add_argument("--benchmark", default=None, metavar="TICKER",
                   help="ticker of the index benchmark (System 1 'sp500' preset; default SPY), "
                        "taken from --data when it holds it, else the packaged copy")
    p.add_argument("--start", default=None, help="first date (System 1 default 2018-01-01)")
    p.add_argument("--end", default=None, help="last date (System 1 default 2024-12-06)")
    p.add_argument("--train-frac", type=float, default=0.7,
                   help="chronological training fraction (default 0.7)")
    p.add_argument("--tc", type=float, default=0.001,
                   help="proportional cost per unit of traded value (default 0.001 = 10 bp)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--seeds", default=None, metavar="N|LIST",
                   help="seeds: a count N (seeds --seed .. --seed+N-1), a list 0,3,7 or a range "
                        "0-9. System 1: every learned preset is trained and backtested per seed "
                        "and reported with mean, std, median, min/max (default 1); System 2: "
                        "seeds per stock (default 10, 3 with --quick)")
    p.add_argument("--ensemble", action="store_true",
                   help="System 1 with --seeds N: also trade each learned preset as one "
                        "strategy holding the average of its N seeds' target weights")
    p.add_argument("--timesteps", type=int, default=None,
                   help="PPO training timesteps (default: the preset's documented default)")
    p.add_argument("--quick", action="store_true",
                   help="System 2: fewer seeds and timesteps, for a fast look")
    p.add_argument("--alphas", default=None, metavar="FILE",
                   help="System 2: alpha library file, one 'name | formula | description' per "
                        "line (default: the packaged 50 alphas)")
    p.add_argument("--walk-forward", type=int, nargs="?", const=-1, default=None, metavar="W",
                   help="System 1: retrain every W weeks (default 26) and trade the next W, each "
                        "model trained only on weeks before it, stitched into one out-of-sample "
                        "curve; System 2: rolling 2-year train / 1-year test / 6-month step "
                        "evaluation (W is not used)")
    p.add_argument("--walk-forward-mode", choices=("expanding", "rolling"), default=None,
                   help="System 1 walk-forward training window: expanding (every week before "
                        "the window, default) or rolling (as many weeks as the first window)")
    p.add_argument("--jobs", type=int, default=None,
                   help="System 2: parallel training jobs, >= 1, or -1 for all cores "
                        "(default: all cores)")
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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        a = parser.parse_args(argv)
        if a.list:
            print(list_presets())
            return 0
        _setup_logging(a.verbose)
        from strategies.pipeline.cli import validate_args
        presets = validate_args(a)  # every check, before anything is loaded, trained or written
        if presets[0].system == 2:
            from strategies.pipeline.cli import run_system2_cli
            return run_system2_cli(a, presets)
        from strategies.pipeline.cli import run_system1_cli
        return run_system1_cli(a)
    except PluginError as e:
        print(f"error: {str(e).splitlines()[0] if str(e).strip() else type(e).__name__}",
              file=sys.stderr)
        for extra in str(e).splitlines()[1:]:
            print(f"  {extra}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
