"""CLI of System 2 (called by ``python -m strategies.run`` for the System 2 presets).

    python -m strategies.run --strategy all_alpha --quick --out results/s2
    python -m strategies.run --strategy alpha_ppo --tickers AAPL,PEP --seeds 5 --timesteps 50000

Writes to ``--out``:

* ``tearsheet_<TICKER>_<strategy>_vs_buy_hold.html``: QuantStats tearsheet of each requested
  strategy against buy-and-hold of the same stock (seeded strategies: the seed-averaged
  portfolio, i.e. the per-day mean of the seeds' returns);
* ``comparison.html``: metrics and equity curves of every stock x strategy (seed-averaged);
* ``metrics.json``: ``{ticker: {strategy: {"mean", "std", "n_runs", "runs": {run: metrics}}}}``;
* ``returns.csv`` / ``weights.csv``: every run (``<TICKER>|<run>``; weights = the stock's
  position value / portfolio value at each close, negative when short);
* ``paper_table.md`` (also printed): cumulative return, Sharpe and max drawdown per stock, mean
  ± std over seeds for the seeded strategies;
* ``run.json``: windows, seeds, configuration, timings and bundle folders.

Optional extra attribute ``args.alphas`` (a user alpha library file) is honoured if present.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from pathlib import Path

from feeds.errors import ConfigError

log = logging.getLogger("strategies.pipeline.outputs")

TABLE_METRICS = (("cumulative_return", "Cum. return", True), ("sharpe", "Sharpe", False),
                 ("max_drawdown", "Max DD", True))


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


def _fmt(v: float, pct: bool) -> str:
    if v is None or not math.isfinite(v):
        return "n/a"
    return f"{100 * v:.1f}%" if pct else f"{v:.2f}"


def _cell(entry: dict, metric: str, pct: bool) -> str:
    m, s = entry["mean"].get(metric), entry["std"].get(metric)
    if entry["n_runs"] > 1:
        if pct:
            return f"{_fmt(m, True)} ± {100 * s:.1f}%" if math.isfinite(s) else _fmt(m, True)
        return f"{_fmt(m, False)} ± {s:.2f}" if math.isfinite(s) else _fmt(m, False)
    return _fmt(m, pct)


def paper_table(summary: dict, families: list[str], meta: dict) -> str:
    """Markdown table like the paper's: one row per stock x strategy."""
    lines = [f"# System 2 results ({'walk-forward' if meta.get('walk_forward') else 'test'} "
             f"window {meta.get('test_first')} .. {meta.get('test_last')}, net of costs)", "",
             f"Seeds: {len(meta.get('seeds', []))} (mean ± std over seeds for alpha_ppo and "
             f"random_entry_exit); PPO timesteps per run: {meta.get('timesteps')}.", "",
             "| Stock | Strategy | " + " | ".join(h for _, h, _ in TABLE_METRICS) + " |",
             "|---|---|" + "---:|" * len(TABLE_METRICS)]
    for t, by in summary.items():
        for fam in families:
            if fam not in by:
                continue
            cells = [_cell(by[fam], m, pct) for m, _, pct in TABLE_METRICS]
            lines.append(f"| {t} | {fam} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_system2_outputs(study, families: list[str], requested: list[str], out: Path,
                          tearsheets: bool) -> None:
    from analyzers.reports import (write_comparison, write_metrics_json, write_returns_csv,
                                   write_tearsheet, write_weights_csv)
    from strategies.pipeline.system2 import PERIODS_PER_YEAR, seed_mean_returns
    out.mkdir(parents=True, exist_ok=True)
    combined = {}
    for t, runs in study.results.items():
        for fam in families:
            r = seed_mean_returns(runs, fam)
            if len(r):
                combined[f"{t} {fam}"] = {"returns": r.rename(f"{t} {fam}"),
                                          "metrics": study.summary[t][fam]["mean"]}
        if tearsheets and "buy_hold" in study.summary[t]:
            bench = seed_mean_returns(runs, "buy_hold").rename(f"{t} buy&hold")
            for fam in requested:
                if fam == "buy_hold" or fam not in study.summary[t]:
                    continue
                path = out / f"tearsheet_{t}_{fam}_vs_buy_hold.html"
                write_tearsheet(seed_mean_returns(runs, fam), bench, path,
                                title=f"{t}: {fam} vs buy and hold",
                                periods_per_year=PERIODS_PER_YEAR,
                                strategy_title=f"{t} {fam}", benchmark_title=f"{t} buy&hold")
                log.info("wrote %s", path)
    m = study.meta
    note = (f"Test days {m.get('test_first')} .. {m.get('test_last')}; training "
            f"{m.get('train_first')} .. {m.get('train_last')}"
            f"{' (first walk-forward window)' if m.get('walk_forward') else ''}. Returns net of "
            f"costs; seeded strategies shown as the per-day mean over {len(m.get('seeds', []))} "
            "seeds.")
    write_comparison(combined, out / "comparison.html", title="System 2: alpha weighting",
                     note=note)
    write_metrics_json(study.summary, out / "metrics.json")
    write_returns_csv({f"{t}|{n}": r.returns for t, runs in study.results.items()
                       for n, r in runs.items()}, out / "returns.csv")
    write_weights_csv({f"{t}|{n}": r.weights for t, runs in study.results.items()
                       for n, r in runs.items()}, out / "weights.csv")
    (out / "run.json").write_text(json.dumps(study.meta, indent=2, default=str))


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
