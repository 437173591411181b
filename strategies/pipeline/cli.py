"""From parsed CLI arguments to a pipeline run and its outputs (``python -m strategies.run``).

:func:`validate_args` checks every argument first (before any data is loaded, any model trained
or anything written), so bad input fails in a second with one line that says what to do.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import tempfile
import time
from pathlib import Path

import pandas as pd

from feeds.errors import ConfigError, DataError
from strategies.pipeline.outputs import write_outputs, write_system2_outputs

log = logging.getLogger(__name__)


def system1_names(requested: list[str]) -> list[str]:
    """The presets a System 1 run backtests: the requested ones, for each ``hybrid_topK`` the
    single-model strategies at the same K (``ppo_topK``, ``lstm_topK``), then equal weight and
    the index (``sp500``)."""
    companions = [f"{fam}_top{name.removeprefix('hybrid_top')}" for name in requested
                  if name.startswith("hybrid_top") for fam in ("ppo", "lstm")]
    return list(dict.fromkeys(requested + companions + ["equal_weight", "sp500"]))


def run_system1_cli(a: argparse.Namespace) -> int:
    from analyzers.reports import format_metrics_table
    from analyzers.significance import format_stats_table
    from strategies.pipeline.outputs import RunFolder, tearsheet_benchmarks
    from strategies.pipeline.seeds import comparison_stats, run_seeds
    from strategies.pipeline.system1 import PERIODS_PER_YEAR, RunConfig
    from strategies.presets import expand
    requested = [p.name for p in expand(a.strategy)]
    names = system1_names(requested)
    start, end = default_window(1)
    wf = 0 if a.walk_forward is None else (DEFAULT_WALK_FORWARD if a.walk_forward == -1
                                           else int(a.walk_forward))
    run = RunConfig(universe=a.universe if a.universe is not None else RunConfig.universe,
                    source=source_of(a), data_path=a.data, start=a.start or start,
                    end=a.end or end, train_frac=a.train_frac, tc=a.tc, seed=a.seed,
                    timesteps=a.timesteps, retrain=a.retrain, bundle_dir=a.bundle_dir,
                    progress=not a.no_progress, asset_classes=asset_classes_of(a),
                    benchmark=a.benchmark, walk_forward=wf,
                    walk_forward_mode=a.walk_forward_mode or "expanding")
    seeds = seed_list(a, 1)
    t0 = time.perf_counter()
    study = run_seeds(names, run, seeds, ensemble=bool(a.ensemble))
    results, meta = study.results(), study.meta
    meta["elapsed_s"] = round(time.perf_counter() - t0, 1)
    meta["config"] = {k: v for k, v in vars(run).items()}
    meta["bundles"] = {k: v.bundle for k, v in results.items() if v.bundle}
    if len(seeds) > 1:
        meta["bundles_by_seed"] = {str(s): {k: v.bundle for k, v in study.runs[s].items()}
                                   for s in seeds}
    meta["requested"] = requested
    meta["capital"], meta["tc"] = run.cash, run.tc
    stats = comparison_stats(results, study, PERIODS_PER_YEAR, seed=a.seed)
    meta.pop("forecast_skill", None)
    if study.skill:  # the LSTM's out-of-sample skill, per seed, with the strategies using it
        meta["forecast_skill_by_seed"] = {str(s): v for s, v in study.skill.items()}
        for n in results:
            if n.startswith(("hybrid_", "lstm_")):
                stats.setdefault(n, {})["forecast_skill"] = (
                    study.skill[seeds[0]] if len(seeds) == 1 else
                    {str(s): v for s, v in study.skill.items()})
    seed_metrics = ({n: {str(s): study.runs[s][n].metrics for s in seeds} for n in study.learned}
                    if len(seeds) > 1 else None)
    label = a.strategy + (f"_seeds{len(seeds)}" if len(seeds) > 1 else "") + \
        (f"_wf{wf}" if wf else "")
    shown = requested + [n for n in study.ensembles]
    with RunFolder(a.out, label) as folder:
        meta["out"] = str(folder.path)
        write_outputs(results, folder.tmp, meta, shown, PERIODS_PER_YEAR,
                      not a.no_tearsheets, tearsheet_benchmarks(shown),
                      progress=not a.no_progress, stats=stats, seed_metrics=seed_metrics)
    print(format_metrics_table({k: v.metrics for k, v in results.items()}, PERIODS_PER_YEAR))
    print()
    print(format_stats_table(stats, PERIODS_PER_YEAR))
    if study.skill:
        from models.portfolio.skill import skill_lines
        print()
        for s, sk in study.skill.items():
            label = "test weeks" + (f", seed {s}" if len(seeds) > 1 else "")
            lines = skill_lines(sk, label)
            print("\n".join(lines if len(seeds) == 1 else lines[:2]))
    what = (f"; learned strategies: seed-averaged portfolio of {len(seeds)} seeds"
            if len(seeds) > 1 else "")
    print(f"\nTest weeks {meta['test_first']} .. {meta['test_last']} ({meta['test_weeks']} "
          f"weeks{what}); outputs in {folder.path}/ (also {Path(a.out) / 'latest'}/)")
    return 0


def config_from_args(a: argparse.Namespace):
    from strategies.pipeline.system2 import QUICK_TIMESTEPS, System2Config
    tickers = None
    if getattr(a, "tickers", None) is not None:
        tickers = tuple(t.strip() for t in a.tickers.split(",") if t.strip())
        if not tickers:
            raise ConfigError("--tickers is empty; pass e.g. --tickers AAPL,PEP")
    quick = bool(getattr(a, "quick", False))
    listed = seed_list(a, 2)
    seeds, seed_first = len(listed), listed[0]
    timesteps = a.timesteps if a.timesteps is not None else (QUICK_TIMESTEPS if quick else None)
    start, end = default_window(2)
    jobs = None if a.jobs == -1 else a.jobs  # -1: all cores (System2Config's None)
    return System2Config(
        tickers=tickers, source=source_of(a), data_path=a.data, start=a.start or start,
        end=a.end or end, train_frac=a.train_frac, tc=a.tc, seed=seed_first,
        n_seeds=int(seeds), timesteps=timesteps, walk_forward=a.walk_forward is not None,
        jobs=jobs, bundle_dir=a.bundle_dir, retrain=bool(a.retrain),
        alphas_path=getattr(a, "alphas", None), progress=not a.no_progress)


def run_system2_cli(args: argparse.Namespace, presets) -> int:
    """Run the System 2 presets ``presets`` with the CLI ``args``; returns the exit code."""
    from strategies.pipeline.outputs import RunFolder
    from strategies.pipeline.system2 import run_system2
    cfg = config_from_args(args)
    requested = [p.name for p in presets]
    # buy-and-hold of each stock is always run: the reference of the table and the tearsheets
    families = list(dict.fromkeys([p.family for p in presets] + ["buy_hold"]))
    t0 = time.perf_counter()
    study = run_system2(families, cfg)
    study.meta["elapsed_s"] = round(time.perf_counter() - t0, 1)
    study.meta["requested"] = requested
    with RunFolder(args.out, args.strategy) as folder:
        study.meta["out"] = str(folder.path)
        table = write_system2_outputs(study, families, [p.family for p in presets], folder.tmp,
                                      not args.no_tearsheets, progress=not args.no_progress)
    print(table)
    timings = study.meta["timings"]
    print(f"Wall time {study.meta['elapsed_s']} s (training {timings.get('train_wall_s', 0)} s, "
          f"backtests {timings.get('backtest_wall_s')} s); outputs in {folder.path}/ (also "
          f"{Path(args.out) / 'latest'}/)")
    return 0


# ----------------------------------------------------------------------------------- validation
MAX_SEED = 2**32 - 1
"""Largest seed numpy and torch accept (seeds run ``seed .. seed + n_seeds - 1``)."""
SYSTEM2_ONLY = (("tickers", "--tickers"), ("quick", "--quick"), ("alphas", "--alphas"),
                ("jobs", "--jobs"))
"""Options only System 2 presets read (``dest``, flag)."""
SYSTEM1_ONLY = (("universe", "--universe"), ("asset_classes", "--asset-classes"),
                ("benchmark", "--benchmark"), ("ensemble", "--ensemble"),
                ("walk_forward_mode", "--walk-forward-mode"))
DEFAULT_WALK_FORWARD = 26
"""Weeks per walk-forward window of System 1 when ``--walk-forward`` is given without W."""
LEARNED = {"hybrid", "ppo", "lstm"}
"""Options only System 1 presets read (System 2 takes ``--tickers``)."""

_NUMBERS = (
    ("train_frac", lambda v: math.isfinite(v) and 0.0 < v < 1.0,
     "--train-frac must be a fraction strictly between 0 and 1 (e.g. 0.7), got {v}"),
    ("tc", lambda v: math.isfinite(v) and 0.0 <= v < 0.1,
     "--tc is a cost per unit of traded value in [0, 0.1) (0.001 = 10 bp), got {v}"),
    ("seed", lambda v: 0 <= v <= MAX_SEED, "--seed must be between 0 and 2**32 - 1, got {v}"),
    ("timesteps", lambda v: v is None or v >= 1,
     "--timesteps must be a positive number of PPO steps (e.g. 20000), got {v}"),
    ("jobs", lambda v: v is None or v >= 1 or v == -1,
     "--jobs must be at least 1 (or -1 for all cores), got {v}"),
)
"""(argument, is it fine?, message) for the numeric options."""


def source_of(a: argparse.Namespace) -> str:
    """The price source: ``--source``, else ``files`` when ``--data`` is given, else packaged."""
    return a.source or ("files" if a.data is not None else "packaged")


def default_window(system: int) -> tuple[str, str]:
    """The default (start, end) of a System 1 or System 2 run (its config's defaults)."""
    if system == 1:
        from strategies.pipeline.system1 import RunConfig as Config
    else:
        from strategies.pipeline.system2 import System2Config as Config
    return Config.start, Config.end


def asset_classes_of(a: argparse.Namespace) -> dict:
    """``--asset-classes`` parsed (``{}`` when not given); DataError names a bad pair."""
    if not getattr(a, "asset_classes", None):
        return {}
    from feeds import parse_asset_classes
    return parse_asset_classes(a.asset_classes)


def validate_args(a: argparse.Namespace) -> list:
    """Check every CLI argument before anything slow runs; returns the presets to run.

    Nothing is loaded, trained or written (writability is probed with a temporary file that is
    removed at once). Raises ConfigError/DataError with one line that says what to do.
    """
    from strategies.presets import expand
    presets = expand(a.strategy)
    system = presets[0].system
    for dest, ok, msg in _NUMBERS:
        if not ok(getattr(a, dest)):
            raise ConfigError(msg.format(v=getattr(a, dest)))
    _check_scope(a, presets)
    source = _check_source(a)
    start, end = _check_dates(a, system)
    tickers, flag = _run_tickers(a, presets, source)
    _check_availability(a, tickers, flag, source, start, end)
    if a.alphas is not None:
        _check_input_file("--alphas", a.alphas)
    classes = asset_classes_of(a)
    unknown = sorted(set(classes) - set(tickers or ()))
    if unknown and tickers:
        raise ConfigError(f"--asset-classes names {', '.join(unknown)}, which {flag} does not "
                          "hold; check the spelling")
    if a.benchmark is not None:
        from feeds import validate_ticker
        validate_ticker(a.benchmark)
    writable_dir("--out", a.out)
    if a.bundle_dir is not None:
        writable_dir("--bundle-dir", a.bundle_dir)
    elif any(p.family in ("hybrid", "ppo", "lstm", "alpha_ppo") for p in presets):
        from strategies.pipeline.common import default_bundle_dir
        writable_dir("the bundle folder (user cache; change it with --bundle-dir)",
                     str(default_bundle_dir()))
    return presets


def _check_scope(a: argparse.Namespace, presets: list) -> None:
    """Options the chosen presets would silently ignore are errors."""
    name, system = a.strategy, presets[0].system
    other, wanted = ((SYSTEM2_ONLY, "System 2 (alpha)") if system == 1
                     else (SYSTEM1_ONLY, "System 1 (portfolio)"))
    for dest, flag in other:
        if getattr(a, dest, None) not in (None, False):
            hint = " (System 2 takes --tickers)" if flag == "--universe" else ""
            raise ConfigError(f"{flag} is a {wanted} option, and {name} would ignore it; drop "
                              f"{flag} or choose a {wanted} preset (see --list){hint}")
    fams = {p.family for p in presets}
    unused = ((a.timesteps is not None and not fams & {"hybrid", "ppo", "alpha_ppo"},
               "--timesteps", "trains no PPO policy"),
              (a.seeds is not None and not fams & ({"alpha_ppo", "random_entry_exit"} | LEARNED),
               "--seeds", "is deterministic"),
              (system == 1 and a.walk_forward is not None and not fams & LEARNED,
               "--walk-forward", "trains no model"),
              (a.walk_forward_mode is not None and a.walk_forward is None,
               "--walk-forward-mode", "is used only with --walk-forward"),
              (a.alphas is not None and not fams & {"alpha_ppo", "alpha_equal"},
               "--alphas", "uses no alphas"),
              (a.quick and not fams & {"alpha_ppo", "random_entry_exit"},
               "--quick", "has no seeds or PPO steps to cut"))
    for bad, flag, why in unused:
        if bad:
            raise ConfigError(f"{flag} would be ignored: {name} {why}; drop {flag}")
    seeds = seed_list(a, system)
    if max(seeds) > MAX_SEED:
        raise ConfigError(f"--seed {a.seed} with {len(seeds)} seeds goes past 2**32 - 1; use a "
                          "smaller --seed")
    if a.ensemble and len(seeds) < 2:
        raise ConfigError("--ensemble averages several seeds' policies: add --seeds N (N >= 2)")
    if a.ensemble and not fams & LEARNED:
        raise ConfigError(f"--ensemble would be ignored: {name} trains no model; drop it")
    if a.walk_forward is not None and a.walk_forward != -1:
        if system == 2:
            raise ConfigError("System 2's --walk-forward has fixed windows (2-year train, 1-year "
                              "test, 6-month step); write --walk-forward without a number")
        if a.walk_forward < 4:
            raise ConfigError(f"--walk-forward {a.walk_forward}: retrain every 4 weeks or more "
                              "(e.g. --walk-forward 26)")


def seed_list(a: argparse.Namespace, system: int) -> list[int]:
    """The seeds of the run: ``--seeds`` (count, list or range; count from ``--seed``), or
    System 1's one seed ``--seed``, or System 2's default count from ``--seed``."""
    from strategies.pipeline.seeds import parse_seeds
    if a.seeds is None and system == 2:
        from strategies.pipeline.system2 import FULL_SEEDS, QUICK_SEEDS
        return parse_seeds(QUICK_SEEDS if a.quick else FULL_SEEDS, a.seed)
    seeds = parse_seeds(a.seeds, a.seed)
    if system == 2 and seeds != list(range(seeds[0], seeds[0] + len(seeds))):
        raise ConfigError(f"--seeds {a.seeds}: System 2 runs consecutive seeds; give a count "
                          "with --seed, or a range such as 0-9")
    return seeds


def _check_source(a: argparse.Namespace) -> str:
    source = source_of(a)
    if source == "files" and a.data is None:
        raise ConfigError("--source files needs --data PATH (a folder of TICKER.csv files, or "
                          "one long or wide CSV)")
    if a.data is not None and source != "files":
        raise ConfigError(f"--data is only read with --source files, not --source {source}; "
                          f"drop --source {source} (--data implies files) or drop --data")
    if a.data is not None:
        _check_input_file("--data", a.data, folder_ok=True)
    return source


def _check_input_file(flag: str, path: str, folder_ok: bool = False) -> Path:
    p = Path(path).expanduser()
    what = "file or folder" if folder_ok else "file"
    if not path.strip():
        raise ConfigError(f"{flag} is empty; give the path of a {what}")
    if not p.exists():
        raise ConfigError(f"{flag} {path}: no such {what}; check the path")
    if p.is_dir() and not folder_ok:
        raise ConfigError(f"{flag} {path} is a folder; pass the {what} itself")
    if not os.access(p, os.R_OK | (os.X_OK if p.is_dir() else 0)):
        raise ConfigError(f"{flag} {path}: permission denied; make it readable")
    return p


def _parse_date(flag: str, text: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(text)
    except (ValueError, TypeError, OverflowError):
        ts = None
    if ts is None or ts is pd.NaT or ts.tz is not None:
        raise ConfigError(f"{flag} {text!r} is not a date; write YYYY-MM-DD, e.g. "
                          f"{flag} 2019-01-02")
    return ts.normalize()


def _check_dates(a: argparse.Namespace, system: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    d_start, d_end = default_window(system)
    start = _parse_date("--start", a.start if a.start is not None else d_start)
    end = _parse_date("--end", a.end if a.end is not None else d_end)
    today = pd.Timestamp.today().normalize()
    for flag, ts in (("--start", start), ("--end", end)):
        if ts > today:
            raise ConfigError(f"{flag} {ts.date()} is in the future (today is {today.date()}); "
                              f"no prices exist yet: choose an earlier {flag}")
    if start >= end:
        raise ConfigError(f"--start {start.date()} is not before --end {end.date()}; "
                          "swap them or widen the window")
    if system == 1 and (end - start).days < 60 * 7:
        raise ConfigError(f"--start {start.date()} .. --end {end.date()} holds fewer than 60 "
                          "weeks; System 1 needs at least 60 (30-week LSTM look-back plus "
                          "training and test): widen --start/--end")
    return start, end


def _run_tickers(a: argparse.Namespace, presets: list, source: str) -> tuple[list[str], str]:
    """The tickers the run will load (names validated) and the option that chose them."""
    from feeds import validate_ticker
    if presets[0].system == 2:
        from strategies.pipeline.system2 import System2Config
        given = a.tickers is not None
        cfg = config_from_args(a) if given else System2Config(source=source)
        tickers, flag = cfg.ticker_list(), ("--tickers" if given else "the default tickers")
        shown = flag
    else:
        from strategies.pipeline.system1 import RunConfig, _universe
        text = a.universe if a.universe is not None else RunConfig.universe
        tickers, flag = list(_universe(RunConfig(universe=text)).tickers), "--universe"
        shown = f"--universe {text}"
    for t in tickers:
        try:
            validate_ticker(t)
        except DataError as e:
            raise DataError(f"{flag}: {e}") from None
    k, name = max(((p.top_k or 0), p.name) for p in presets)
    if k > len(tickers):
        raise ConfigError(f"{name}: K={k} is larger than the {len(tickers)} asset(s) of "
                          f"{shown}; choose a smaller K or a wider universe")
    return tickers, flag


def _check_availability(a, tickers: list[str], flag: str, source: str, start, end) -> None:
    """Packaged: every ticker is packaged and has prices in the window. Folder: a file each."""
    if source == "files" and Path(a.data).expanduser().is_dir():
        from feeds.files import find_ticker_file
        missing = [t for t in tickers if find_ticker_file(Path(a.data).expanduser(), t) is None]
        if missing:
            which = flag if flag != "--universe" else f"--universe {a.universe or 'paper'}"
            raise DataError(f"--data {a.data} has no file for {', '.join(missing[:5])}"
                            f"{' ...' if len(missing) > 5 else ''} ({len(missing)} of the "
                            f"{len(tickers)} tickers of {which}); add TICKER.csv files there "
                            f"or choose the tickers you have")
    if source != "packaged":
        return
    from feeds.packaged import manifest, packaged_tickers, resolve
    where, files, last_all = packaged_tickers(), manifest()["files"], None
    for t in tickers:
        src = resolve(t)
        if src not in where:
            raise DataError(_unknown_packaged(t, flag, a, resolve(t.upper()) in where))
        r = files[where[src]]["ranges"][src]
        first, last = pd.Timestamp(r["first"]), pd.Timestamp(r["last"])
        last_all = max(last, last_all) if last_all is not None else last
        if last < start or first > end:
            raise DataError(f"packaged {t} has prices from {r['first']} to {r['last']}, none "
                            f"between --start {start.date()} and --end {end.date()}; move the "
                            f"dates or leave {t} out")
    if last_all is not None and end > last_all:
        raise DataError(f"--end {end.date()} is after the packaged data end "
                        f"({last_all.date()}); use an earlier --end, or --source yfinance "
                        "for later prices")


def _unknown_packaged(t: str, flag: str, a: argparse.Namespace, upper_known: bool) -> str:
    from feeds import list_universes
    hint = f" (did you mean {t.upper()}?)" if upper_known else ""
    if flag == "--universe" and a.universe is not None and a.universe.strip() == t:
        return (f"--universe {t} is neither a universe preset ({', '.join(list_universes())}) "
                f"nor a packaged ticker{hint}; see python -m feeds universes")
    return (f"{flag}: the packaged dataset has no ticker {t}{hint}; see python -m feeds "
            "universes, or use --source yfinance or --data for other tickers")


def writable_dir(flag: str, path: str) -> Path:
    """``path`` resolved; it is a folder, or can be created, and a file can be written there.

    The probe is a temporary file created and removed at once in the folder (or, if the folder
    does not exist yet, in its nearest existing parent), so nothing is left behind.
    """
    if not str(path).strip():
        raise ConfigError(f"{flag} is empty; give a folder path")
    try:
        p = Path(path).expanduser().resolve()
    except (OSError, ValueError, RuntimeError) as e:
        raise ConfigError(f"{flag} {path!r} is not a usable path ({e}); choose another") from None
    if p.exists() and not p.is_dir():
        raise ConfigError(f"{flag} {p} is a file, not a folder; choose a folder path")
    base = p
    while not base.exists():
        base = base.parent
    if not base.is_dir():
        raise ConfigError(f"{flag} {p}: {base} is a file, so the folder cannot be created; "
                          "choose another path")
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=base)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ConfigError(f"{flag} {p}: cannot write in {base} ({e.strerror or e}); choose a "
                          "folder you can write to") from None
    return p
