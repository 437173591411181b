"""System 2 pipeline: daily stocks -> (train or reuse) per-stock x seed PPO bundles -> Backtrader.

Used by the CLI (:mod:`strategies.pipeline.outputs`) and from Python::

    from strategies.pipeline.system2 import System2Config, run_system2
    study = run_system2(["alpha_ppo", "buy_hold"], System2Config(tickers=("AAPL",), n_seeds=3,
                                                                 timesteps=30_000))
    study.summary["AAPL"]["alpha_ppo"]["mean"]["sharpe"]

Chronology (default, ``walk_forward=False``): the trading days in ``[start, end]`` are split into
the first ``train_frac`` (training: PPO, alpha means/stds, return scale) and the rest (test).
Bars before ``start`` are loaded only as alpha/state warm-up (up to ~1.5 years earlier when the
source has them); if there are none, training starts after the warm-up bars. The first test
decision is taken at the close of the last training day and filled at the next open; reported
returns are those of the test days, net of ``tc`` per unit of traded value.

Walk-forward (``walk_forward=True``): :func:`models.alpha.walk_forward_splits` (2-year
train, 1-year test, 6-month step). Test windows overlap, so each test day is taken from the
most recent split whose test window covers it: split k is in charge from its test start until
the next split's test start (a 6-month slice; the last split keeps its full year). The slices are
stitched inside one Backtrader run per stock and seed (the strategy switches policy on the
decision day before each slice), giving one out-of-sample equity curve per stock without double
counting and with positions carried across the switch.

Seeds: ``seed, seed + 1, ..., seed + n_seeds - 1`` for alpha_ppo (one PPO per stock and seed)
and random_entry_exit; alpha_equal, buy_hold and momentum are deterministic (one run).
Bundles live in ``bundle_dir / "alpha" / f"{ticker}-s{seed}-{key}"`` where ``key`` hashes the
training rows, the alpha library, the AlphaConfig and the seed: a matching folder is reused unless
``retrain``.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from feeds import safe_join, validate_ticker
from feeds.errors import ConfigError, DataError
from models.common.bundle import BundleFormatError
from strategies.pipeline.common import RunSettings, config_key, run_backtest

log = logging.getLogger(__name__)

PERIODS_PER_YEAR = 252
#: Ten packaged stocks in the paper's spirit (the paper's AAPL, PEP, NFLX plus seven sectors).
DEFAULT_TICKERS = ("AAPL", "PEP", "NFLX", "MSFT", "AMZN", "COST", "GILD", "CSCO", "SBUX", "TXN")
#: The paper's ten stocks (only available with ``source="yfinance"``).
PAPER_TICKERS = ("AAPL", "HSBC", "PEP", "0700.HK", "TM", "AIR.PA", "XOM", "PBR", "NFLX", "INFU")
SEEDED = ("alpha_ppo", "random_entry_exit")
QUICK_SEEDS, FULL_SEEDS = 3, 10
QUICK_TIMESTEPS = 30_000
MIN_TEST_DAYS = 20


@dataclass(frozen=True)
class System2Config(RunSettings):
    """Settings of a System 2 run (the CLI options); the shared ones are in RunSettings."""

    start: str = "2016-02-01"  #: first day of the study period (the paper's)
    end: str = "2024-05-31"  #: last day of the study period (the paper's)
    tickers: tuple[str, ...] | None = None  #: stocks; None = DEFAULT_TICKERS (PAPER_TICKERS for yfinance)
    n_seeds: int = FULL_SEEDS  #: PPO runs per stock (and random entry/exit paths)
    walk_forward: bool = False  #: rolling 2y train / 1y test / 6m step instead of one split
    jobs: int | None = None  #: parallel processes for training and backtests; None = all cores
    alphas_path: str | None = None  #: alpha library file; None = the packaged 50 alphas
    config_overrides: dict = field(default_factory=dict)  #: AlphaConfig fields to override

    def ticker_list(self) -> list[str]:
        if self.tickers:
            return list(dict.fromkeys(t.strip() for t in self.tickers if t.strip()))
        return list(PAPER_TICKERS if self.source == "yfinance" else DEFAULT_TICKERS)

    def seeds(self) -> list[int]:
        return [self.seed + i for i in range(self.n_seeds)]

    def alpha_config(self):
        from models.alpha import AlphaConfig
        cfg = AlphaConfig(tc=self.tc, **self.config_overrides)
        if self.timesteps is not None:
            cfg = replace(cfg, total_timesteps=int(self.timesteps))
        return cfg


@dataclass(frozen=True)
class Window:
    """One training window and the test slice its policy is in charge of (dates, inclusive)."""

    train_start: pd.Timestamp
    train_end: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp
    decide_from: pd.Timestamp  #: the day whose close takes the slice's first decision


@dataclass
class Study:
    """Everything a run produced.

    Attributes:
        results: ``{ticker: {run name: StrategyResult}}``; run names are the preset name for
            deterministic strategies and ``"<preset>/seed<k>"`` for seeded ones.
        summary: ``{ticker: {preset: {"mean": metrics, "std": metrics, "n_runs": int,
            "portfolio": metrics, "runs": {run: metrics}}}}`` (std is 0 for deterministic
            presets; "portfolio" = the seed-averaged portfolio that the tearsheets show).
        meta: windows, tickers, seeds, config, timings, bundle folders.
    """

    results: dict[str, dict[str, Any]]
    summary: dict[str, dict[str, dict]]
    meta: dict


# --------------------------------------------------------------------------------- data
def load_stocks(cfg: System2Config, warmup_bars: int) -> dict[str, pd.DataFrame]:
    """Daily bars per ticker from ~``warmup_bars`` before ``start`` (warm-up) to ``end``."""
    from feeds import load_daily
    tickers = cfg.ticker_list()
    if not tickers:
        raise ConfigError("no tickers given; pass --tickers AAPL,PEP or omit it for the default")
    start, end = pd.Timestamp(cfg.start), pd.Timestamp(cfg.end)
    if end <= start:
        raise ConfigError(f"--end {end.date()} must be after --start {start.date()}")
    pre = start - pd.Timedelta(days=int(warmup_bars * 1.6) + 45)
    data = load_daily(tickers, source=cfg.source, path=cfg.data_path, start=pre, end=end)
    out = {}
    for t in tickers:
        df = data.get(t)
        if df is None or df.empty:
            raise DataError(f"{t}: no daily bars between {pre.date()} and {end.date()}")
        out[t] = df[["open", "high", "low", "close", "volume"]].astype(float)
    return out


def _first_row(idx: pd.DatetimeIndex, when) -> int:
    return int(idx.searchsorted(pd.Timestamp(when), side="left"))


def split_windows(df: pd.DataFrame, cfg: System2Config, warm: int, ticker: str = ""
                  ) -> list[Window]:
    """The training/test windows of one stock (one window, or the walk-forward slices)."""
    from models.alpha.data import MIN_TRAIN_DAYS
    from models.alpha.splits import walk_forward_splits
    idx = df.index
    first = max(_first_row(idx, cfg.start), warm)
    n = len(idx) - first
    if cfg.walk_forward:
        splits = walk_forward_splits(idx, 2, 1, 6, min_history=min(first, len(idx) - 1))
        if not splits:
            raise DataError(f"{ticker}: walk-forward needs at least 3 years of daily bars after "
                            f"the {warm}-bar warm-up; have {idx[first].date()} .. "
                            f"{idx[-1].date()}: widen --start/--end")
        out = []
        for k, s in enumerate(splits):
            end = (idx[idx < splits[k + 1].test_start][-1] if k + 1 < len(splits)
                   else s.test_end)
            out.append(Window(s.train_start, s.train_end, s.test_start, end, s.train_end
                              if k == 0 else idx[idx < s.test_start][-1]))
        return out
    n_train = int(math.floor(n * cfg.train_frac))
    n_test = n - n_train
    if n_train < MIN_TRAIN_DAYS or n_test < MIN_TEST_DAYS:
        raise DataError(
            f"{ticker}: too little history: {n} usable days after the {warm}-bar alpha warm-up "
            f"({idx[min(first, len(idx) - 1)].date()} .. {idx[-1].date()}) split at "
            f"{cfg.train_frac:.0%} gives {n_train} training and {n_test} test days; need >= "
            f"{MIN_TRAIN_DAYS} and >= {MIN_TEST_DAYS}: widen --start/--end")
    tr0, tr1 = idx[first], idx[first + n_train - 1]
    return [Window(tr0, tr1, idx[first + n_train], idx[-1], tr1)]


def _data_key(df: pd.DataFrame, w: Window) -> str:
    part = df.loc[:w.train_end]
    return hashlib.sha256(pd.util.hash_pandas_object(part, index=True).values.tobytes()
                          ).hexdigest()


def bundle_key(ticker: str, df: pd.DataFrame, w: Window, alphas, config, seed: int) -> str:
    """Hash of the training rows, window, alpha library, AlphaConfig and seed."""
    from models.alpha.language import alphas_hash
    return config_key(ticker, _data_key(df, w), str(w.train_start.date()),
                      str(w.train_end.date()), alphas_hash(alphas), config.to_dict(), int(seed))


# --------------------------------------------------------------------------------- training
def train_bundles(stocks: dict[str, pd.DataFrame], windows: dict[str, list[Window]], alphas,
                  cfg: System2Config) -> tuple[dict[tuple[str, int, int], str], dict]:
    """Train (or reuse) one bundle per ticker x window x seed; returns folders and timings."""
    from models.alpha import TrainJob, load_alpha_bundle, run_jobs
    config = cfg.alpha_config()
    root = cfg.bundles() / "alpha"
    folders: dict[tuple[str, int, int], str] = {}
    jobs, job_keys = [], []
    reused = 0
    for t, wins in windows.items():
        for k, w in enumerate(wins):
            for s in cfg.seeds():
                key = bundle_key(t, stocks[t], w, alphas, config, s)
                out_dir = safe_join(root, f"{validate_ticker(t)}-s{s}-{key}")
                folder = out_dir / f"{t}_seed{s}"
                if not cfg.retrain and (folder / "manifest.json").is_file():
                    try:
                        load_alpha_bundle(folder, alphas=alphas, ticker=t)
                        folders[(t, k, s)] = str(folder)
                        reused += 1
                        continue
                    except BundleFormatError as exc:  # an older format: retrain over it
                        log.warning("bundle %s is of an older format (%s); retraining", folder,
                                    exc)
                jobs.append(TrainJob(ticker=t, df=stocks[t].loc[:w.train_end], seed=s,
                                     train_start=w.train_start, train_end=w.train_end,
                                     out_dir=out_dir, config=config,
                                     alphas_path=cfg.alphas_path))
                job_keys.append((t, k, s))
    n_jobs = _n_jobs(cfg, len(jobs))
    t0 = time.perf_counter()
    if jobs:
        from models.common.progress import Progress
        log.info("training %d PPO runs (%d timesteps each) on %d process(es); %d bundles reused",
                 len(jobs), config.total_timesteps, n_jobs, reused)
        with Progress(len(jobs), "System 2 training", "runs", enabled=cfg.progress) as bar:
            done = run_jobs(jobs, n_jobs=n_jobs,
                            on_done=lambda r: bar.update(1, last=f"{r.ticker} seed {r.seed}"))
        for key, res in zip(job_keys, done):
            folders[key] = res.bundle_dir
    else:
        log.info("all %d bundles reused", reused)
    secs = time.perf_counter() - t0
    return folders, {"trained": len(jobs), "reused": reused, "train_wall_s": round(secs, 1),
                     "timesteps": config.total_timesteps,
                     "steps_per_s_per_process": round(config.total_timesteps * len(jobs)
                                                      / max(secs, 1e-9) / n_jobs, 1)
                     if jobs else None}


def _n_jobs(cfg: System2Config, n_tasks: int) -> int:
    import os
    n = cfg.jobs if cfg.jobs else (os.cpu_count() or 1)
    return max(1, min(int(n), max(n_tasks, 1)))


# --------------------------------------------------------------------------------- backtests
def backtest(strategy_cls, params: dict, df: pd.DataFrame, ticker: str, cfg: System2Config,
             test_start, name: str):
    """One strategy on one stock in a fresh Cerebro; results of the days >= ``test_start``."""
    from feeds.btfeeds import daily_to_backtrader
    result, _ = run_backtest(strategy_cls, params, [daily_to_backtrader(df, ticker)], {},
                             cash=cfg.cash, tc=cfg.tc, cash_buffer=cfg.cash_buffer,
                             test_start=test_start, name=name,
                             periods_per_year=PERIODS_PER_YEAR)
    m, w = result.metrics, result.weights
    m["cumulative_return"] = float(m["final_equity"] - 1.0) if len(result.returns) else float("nan")
    m["mean_abs_position"] = float(w.abs().sum(axis=1).mean()) if len(w) else float("nan")
    return result


def _stock_runs(ticker: str, df: pd.DataFrame, wins: list[Window], families: list[str],
                folders: dict, alphas, cfg: System2Config) -> dict:
    """Every requested backtest of one stock (run in a worker process)."""
    import logging as _logging

    from models.alpha import EqualWeightPolicy
    from strategies import alpha as A
    _logging.getLogger("strategies.engine").setLevel(_logging.WARNING)
    config = cfg.alpha_config()
    trade_start, test_start = wins[0].decide_from, wins[0].test_start
    df = df.loc[:wins[-1].test_end]
    cache: dict = {}
    out = {}
    for fam in families:
        t0 = time.perf_counter()
        if fam == "alpha_ppo":
            for s in cfg.seeds():
                sched = [(w.decide_from, folders[(ticker, k, s)]) for k, w in enumerate(wins)]
                params = {"policy": sched if len(sched) > 1 else sched[0][1],
                          "trade_start": trade_start, "signal_cache": cache}
                name = f"alpha_ppo/seed{s}"
                out[name] = backtest(A.AlphaPPO, params, df, ticker, cfg, test_start, name)
        elif fam == "alpha_equal":
            sched = [(w.decide_from, EqualWeightPolicy.fit(df, alphas, w.train_start,
                                                           w.train_end, config))
                     for w in wins]
            params = {"policy": sched if len(sched) > 1 else sched[0][1],
                      "trade_start": trade_start, "signal_cache": cache}
            out[fam] = backtest(A.AlphaEqualWeight, params, df, ticker, cfg, test_start, fam)
        elif fam == "random_entry_exit":
            for s in cfg.seeds():
                name = f"random_entry_exit/seed{s}"
                out[name] = backtest(A.RandomEntryExit, {"seed": s, "trade_start": trade_start},
                                     df, ticker, cfg, test_start, name)
        elif fam == "buy_hold":
            out[fam] = backtest(A.BuyAndHoldStock, {"trade_start": trade_start}, df, ticker,
                                cfg, test_start, fam)
        elif fam == "momentum":
            out[fam] = backtest(A.MomentumStrategy, {"trade_start": trade_start}, df, ticker,
                                cfg, test_start, fam)
        else:
            raise ConfigError(f"{fam} is not a System 2 strategy")
        log.info("%s %s backtested in %.1fs", ticker, fam, time.perf_counter() - t0)
    return out


def _indexed_stock_runs(i: int, *task) -> tuple[int, dict]:
    return i, _stock_runs(*task)


def _backtest_stocks(tasks: list[tuple], n_jobs: int, cfg: System2Config) -> dict[str, dict]:
    """Every stock's backtests (``_stock_runs``), ``n_jobs`` at once, with a count and an ETA."""
    from models.common.progress import Progress
    outs: list[dict | None] = [None] * len(tasks)
    n_runs = sum(len(cfg.seeds()) if f in SEEDED else 1 for f in tasks[0][3]) if tasks else 0
    with Progress(len(tasks), f"System 2 backtests ({n_runs} per stock)", "stocks",
                  enabled=cfg.progress) as bar:
        if n_jobs == 1:
            for i, task in enumerate(tasks):
                outs[i] = _stock_runs(*task)
                bar.update(1, last=task[0])
        else:
            from joblib import Parallel, delayed
            par = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
            for i, out in par(delayed(_indexed_stock_runs)(i, *task)
                              for i, task in enumerate(tasks)):
                outs[i] = out
                bar.update(1, last=tasks[i][0])
    return {task[0]: out for task, out in zip(tasks, outs)}


# --------------------------------------------------------------------------------- summary
SUMMARY_METRICS = ("cumulative_return", "sharpe", "max_drawdown", "cagr", "annual_return",
                   "volatility", "sortino", "calmar", "log_return", "log_volatility",
                   "mean_turnover", "costs_paid", "costs_pct", "mean_abs_position", "n_periods",
                   "rejected_orders")


def preset_of(run_name: str) -> str:
    return run_name.split("/", 1)[0]


#: Per-run figures that the seed-averaged portfolio takes as the mean over its runs.
_AVERAGED = ("mean_turnover", "costs_paid", "costs_pct", "mean_abs_position", "rejected_orders")


def portfolio_metrics(runs: dict, preset: str) -> dict:
    """Metrics of the seed-averaged portfolio of ``preset`` (the per-day mean of its runs'
    returns): the series its tearsheet and the comparison page show. One run: that run's."""
    from analyzers.metrics import compute_metrics
    mine = [r for n, r in runs.items() if preset_of(n) == preset]
    if len(mine) == 1:
        return dict(mine[0].metrics)
    m = compute_metrics(seed_mean_returns(runs, preset), PERIODS_PER_YEAR)
    for k in _AVERAGED:
        v = np.array([float(r.metrics.get(k, np.nan)) for r in mine], dtype=float)
        m[k] = float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")
    return m


def summarise(results: dict[str, dict]) -> dict[str, dict[str, dict]]:
    """Per stock and preset: mean and std (ddof=1; 0 for one run) of the metrics over seeds,
    and ``"portfolio"``: the metrics of the seed-averaged portfolio (:func:`portfolio_metrics`)."""
    out: dict[str, dict[str, dict]] = {}
    for t, runs in results.items():
        by: dict[str, list] = {}
        for name, r in runs.items():
            by.setdefault(preset_of(name), []).append((name, r.metrics))
        out[t] = {}
        for p, items in by.items():
            mean, std = {}, {}
            for m in SUMMARY_METRICS:
                v = np.array([float(x.get(m, np.nan)) for _, x in items], dtype=float)
                v = v[np.isfinite(v)]
                mean[m] = float(v.mean()) if len(v) else float("nan")
                std[m] = float(v.std(ddof=1)) if len(v) > 1 else 0.0
            out[t][p] = {"mean": mean, "std": std, "n_runs": len(items),
                         "portfolio": portfolio_metrics(runs, p),
                         "runs": {n: dict(x) for n, x in items}}
    return out


def seed_mean_returns(runs: dict, preset: str) -> pd.Series:
    """Per-day mean of a preset's runs' returns (the seed-averaged portfolio)."""
    rs = [r.returns for n, r in runs.items() if preset_of(n) == preset]
    return pd.concat(rs, axis=1).mean(axis=1).rename(preset) if rs else pd.Series(dtype=float)


# --------------------------------------------------------------------------------- pipeline
def run_system2(presets: list[str], cfg: System2Config) -> Study:
    """Train what ``presets`` need (or reuse bundles) and backtest them per stock."""
    from models.alpha import required_warmup
    from models.alpha.language import load_alphas
    from strategies.presets import get_preset
    fams = []
    for p in presets:
        pr = get_preset(p) if isinstance(p, str) else p
        if pr.system != 2:
            raise ConfigError(f"{pr.name} is a System 1 strategy; run it without --tickers")
        fams.append(pr.family)
    fams = list(dict.fromkeys(fams))
    if cfg.n_seeds < 1:
        raise ConfigError(f"need at least one seed, got {cfg.n_seeds}")
    if not 0.0 < cfg.train_frac < 1.0:
        raise ConfigError(f"train_frac must be in (0, 1), got {cfg.train_frac}")
    t_all = time.perf_counter()
    alphas = load_alphas(cfg.alphas_path)
    config = cfg.alpha_config()
    warm = required_warmup(alphas, config)
    stocks = load_stocks(cfg, warm)
    windows = {t: split_windows(df, cfg, warm, t) for t, df in stocks.items()}
    folders, timings = ({}, {})
    if "alpha_ppo" in fams:
        folders, timings = train_bundles(stocks, windows, alphas, cfg)
    t0 = time.perf_counter()
    n_jobs = _n_jobs(cfg, len(stocks))
    tasks = [(t, stocks[t], windows[t], fams, folders, alphas, cfg) for t in stocks]
    results = _backtest_stocks(tasks, n_jobs, cfg)
    timings["backtest_wall_s"] = round(time.perf_counter() - t0, 1)
    timings["total_wall_s"] = round(time.perf_counter() - t_all, 1)
    w0 = next(iter(windows.values()))
    meta = {
        "system": 2, "tickers": list(stocks), "families": fams, "seeds": cfg.seeds(),
        "walk_forward": cfg.walk_forward, "timesteps": config.total_timesteps,
        "train_first": str(w0[0].train_start.date()), "train_last": str(w0[0].train_end.date()),
        "test_first": str(w0[0].test_start.date()), "test_last": str(w0[-1].test_end.date()),
        "test_days": int(len(next(iter(results.values()))[next(iter(
            next(iter(results.values()))))].returns)) if results else 0,
        "windows": {t: [{k: str(getattr(w, k).date()) for k in
                         ("train_start", "train_end", "test_start", "test_end", "decide_from")}
                        for w in ws] for t, ws in windows.items()},
        "bundles": {f"{t}/window{k}/seed{s}": v for (t, k, s), v in folders.items()},
        "timings": timings, "alpha_config": config.to_dict(),
        "alphas": cfg.alphas_path or "packaged library (50 alphas)",
    }
    return Study(results=results, summary=summarise(results), meta=meta)
