"""What a run writes to ``--out``, for both systems.

System 1 (:func:`write_outputs`): tearsheets of each requested strategy against each benchmark,
``comparison.html``, ``metrics.json``, ``weights.csv``, ``returns.csv``, ``run.json``.

System 2 (:func:`write_system2_outputs` and :func:`paper_table`):

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
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

from feeds import safe_join

log = logging.getLogger("strategies.pipeline.outputs")

TABLE_METRICS = (("cumulative_return", "Cum. return", True), ("sharpe", "Sharpe", False),
                 ("max_drawdown", "Max DD", True))


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
                path = safe_join(out, f"tearsheet_{t}_{fam}_vs_buy_hold.html")
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
                path = safe_join(out, f"tearsheet_{name}_vs_{label}.html")
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
