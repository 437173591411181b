"""What a run writes, for both systems, and where.

Every run writes into a folder of its own, ``--out/<YYYYmmdd-HHMMSS>_<strategy>/``
(:class:`RunFolder`): it is filled under a hidden temporary name and renamed once complete, then
``--out/latest`` (a symlink) and ``--out/LATEST`` (a text file holding the folder's name, for
systems without symlinks) point to it. Earlier runs are never overwritten or mixed in, and a run
that fails while writing leaves nothing behind.

System 1 (:func:`write_outputs`): a tearsheet of each requested strategy against each of its
benchmarks (equal weight, the index, and for a hybrid the single-model strategies at the same K),
``comparison.html``, ``metrics.json``, ``weights.csv``, ``returns.csv``, ``run.json``.

System 2 (:func:`write_system2_outputs` and :func:`paper_table`):

* ``tearsheet_<TICKER>_<strategy>_vs_buy_hold.html``: QuantStats tearsheet of each requested
  strategy against buy-and-hold of the same stock (seeded strategies: the seed-averaged
  portfolio, i.e. the per-day mean of the seeds' returns);
* ``comparison.html``: metrics and equity curves of every stock x strategy (one chart per stock;
  seeded strategies as the seed-averaged portfolio, like the tearsheets);
* ``metrics.json``: ``{ticker: {strategy: {"mean", "std", "n_runs", "portfolio", "runs"}}}``
  ("portfolio": the seed-averaged portfolio's metrics, the figures of the tearsheets and the
  comparison page; "mean"/"std": over the seeds' runs, the figures of ``paper_table.md``);
* ``returns.csv`` / ``weights.csv``: every run (``<TICKER>|<run>``; weights = the stock's
  position value / portfolio value at each close, negative when short);
* ``paper_table.md`` (also printed): cumulative return, Sharpe and max drawdown per stock, mean
  ± std over seeds for the seeded strategies;
* ``run.json``: windows, seeds, configuration, timings and bundle folders.

All returns written are simple returns net of costs; the metrics are those of
:mod:`analyzers.metrics` (one Sharpe definition everywhere).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
from datetime import datetime
from pathlib import Path

from feeds import safe_join

log = logging.getLogger("strategies.pipeline.outputs")

TABLE_METRICS = (("cumulative_return", "Cum. return", True), ("sharpe", "Sharpe", False),
                 ("max_drawdown", "Max DD", True))


# ----------------------------------------------------------------------------- run folder
class RunFolder:
    """The folder of one run under ``root``: ``<YYYYmmdd-HHMMSS>_<label>`` (``-2``, ``-3``, ...
    when two runs start in the same second).

    Use as a context manager and write into :attr:`tmp`; on a clean exit it is renamed to
    :attr:`path` and ``root/latest`` and ``root/LATEST`` point to it; on an error it is removed
    (and ``root`` too when this run created it and it is empty).
    """

    def __init__(self, root, label: str, now: datetime | None = None):
        self.root = Path(root).expanduser()
        stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", str(label)).strip("-.") or "run"
        name, k = f"{stamp}_{safe}", 2
        while (self.root / name).exists() or (self.root / f".{name}.partial").exists():
            name, k = f"{stamp}_{safe}-{k}", k + 1
        self.name = name
        self.path = self.root / name
        self.tmp = self.root / f".{name}.partial"
        self._made_root = False

    def __enter__(self) -> RunFolder:
        self._made_root = not self.root.exists()
        self.tmp.mkdir(parents=True)
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            if self._made_root:
                try:
                    self.root.rmdir()
                except OSError:
                    pass
            return False
        self.publish()
        return False

    def publish(self) -> Path:
        """Rename the finished folder into place and point ``latest`` / ``LATEST`` at it."""
        os.replace(self.tmp, self.path)
        latest_txt = self.root / "LATEST"
        tmp_txt = self.root / f".LATEST.{os.getpid()}"
        tmp_txt.write_text(self.name + "\n", encoding="utf-8")
        os.replace(tmp_txt, latest_txt)
        link, tmp_link = self.root / "latest", self.root / f".latest.{os.getpid()}"
        try:
            if tmp_link.is_symlink():
                tmp_link.unlink()
            os.symlink(self.name, tmp_link, target_is_directory=True)
            if link.exists() and not link.is_symlink():
                tmp_link.unlink()
                log.warning("%s exists and is not a link; not pointing it at %s (see %s)",
                            link, self.name, latest_txt)
            else:
                os.replace(tmp_link, link)
        except OSError as e:  # no symlinks here (e.g. Windows without the privilege)
            log.info("no 'latest' link (%s); %s names the newest run", e, latest_txt)
        return self.path


def _progress(total: int, desc: str, enabled: bool):
    from models.common.progress import Progress
    return Progress(total, desc, "pages", enabled=enabled)


# ----------------------------------------------------------------------------- System 2
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
    from analyzers.reports import sharpe_definition
    from strategies.pipeline.system2 import PERIODS_PER_YEAR
    lines = [f"# System 2 results ({'walk-forward' if meta.get('walk_forward') else 'test'} "
             f"window {meta.get('test_first')} .. {meta.get('test_last')}, net of costs)", "",
             f"Seeds: {len(meta.get('seeds', []))} (mean ± std over seeds for alpha_ppo and "
             f"random_entry_exit); PPO timesteps per run: {meta.get('timesteps')}. "
             f"{sharpe_definition(PERIODS_PER_YEAR)}; for seeded strategies the mean ± std "
             "of the runs' Sharpe ratios (the tearsheets show the seed-averaged portfolio).",
             "",
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
                          tearsheets: bool, progress: bool = True) -> str:
    """Every System 2 output into ``out`` (a run's folder); returns the paper table."""
    from analyzers.reports import (
        write_comparison,
        write_metrics_json,
        write_returns_csv,
        write_tearsheet,
        write_weights_csv,
    )
    from strategies.pipeline.system2 import PERIODS_PER_YEAR, seed_mean_returns
    out.mkdir(parents=True, exist_ok=True)
    combined, panels, labels = {}, {}, {}
    pages = []
    for t, runs in study.results.items():
        for fam in families:
            r = seed_mean_returns(runs, fam)
            if len(r) and fam in study.summary[t]:
                name = f"{t} {fam}"
                combined[name] = {"returns": r.rename(name),
                                  "metrics": study.summary[t][fam]["portfolio"]}
                panels.setdefault(t, []).append(name)
                labels[name] = fam
        if tearsheets and "buy_hold" in study.summary[t]:
            pages += [(t, fam) for fam in requested
                      if fam != "buy_hold" and fam in study.summary[t]]
    with _progress(len(pages), "System 2 tearsheets", progress and bool(pages)) as bar:
        for t, fam in pages:
            runs = study.results[t]
            bench = seed_mean_returns(runs, "buy_hold").rename(f"{t} buy&hold")
            path = safe_join(out, f"tearsheet_{t}_{fam}_vs_buy_hold.html")
            write_tearsheet(seed_mean_returns(runs, fam), bench, path,
                            title=f"{t}: {fam} vs buy and hold",
                            periods_per_year=PERIODS_PER_YEAR, strategy_title=f"{t} {fam}",
                            benchmark_title=f"{t} buy&hold")
            log.debug("wrote %s", path)
            bar.update(1, last=path.name)
    m = study.meta
    seeds = len(m.get("seeds", []))
    note = (f"Test days {m.get('test_first')} .. {m.get('test_last')}; training "
            f"{m.get('train_first')} .. {m.get('train_last')}"
            f"{' (first walk-forward window)' if m.get('walk_forward') else ''}. Simple returns "
            f"net of costs ({m.get('alpha_config', {}).get('tc', '')} per unit traded); seeded "
            f"strategies (alpha_ppo, random_entry_exit) shown as the seed-averaged portfolio "
            f"(per-day mean of {seeds} seeds' returns), as in the tearsheets; the mean ± std "
            "over the seeds' runs is in paper_table.md.")
    write_comparison(combined, out / "comparison.html", title="System 2: alpha weighting",
                     note=note, periods_per_year=PERIODS_PER_YEAR, start=m.get("train_last"),
                     panels=panels, labels=labels)
    write_metrics_json(study.summary, out / "metrics.json")
    write_returns_csv({f"{t}|{n}": r.returns for t, runs in study.results.items()
                       for n, r in runs.items()}, out / "returns.csv")
    write_weights_csv({f"{t}|{n}": r.weights for t, runs in study.results.items()
                       for n, r in runs.items()}, out / "weights.csv")
    (out / "run.json").write_text(json.dumps(study.meta, indent=2, default=str))
    table = paper_table(study.summary, families, study.meta)
    (out / "paper_table.md").write_text(table, encoding="utf-8")
    return table


# ----------------------------------------------------------------------------- System 1
def tearsheet_benchmarks(requested: list[str]) -> dict[str, list[str]]:
    """The benchmarks of each requested System 1 strategy's tearsheets: equal weight and the
    index, and for ``hybrid_topK`` also the single-model strategies at the same K."""
    out = {}
    for name in requested:
        bench = []
        if name.startswith("hybrid_top"):
            k = name.removeprefix("hybrid_top")
            bench += [f"ppo_top{k}", f"lstm_top{k}"]
        bench += ["equal_weight", "sp500"]
        out[name] = [b for b in dict.fromkeys(bench) if b != name]
    return out


def write_outputs(results: dict, out: Path, meta: dict, requested: list[str],
                  periods_per_year: int, tearsheets: bool,
                  benchmarks: dict[str, list[str]] | None = None, progress: bool = True,
                  stats: dict | None = None, seed_metrics: dict | None = None) -> None:
    """Tearsheets of the requested strategies (one per benchmark), comparison page, CSVs, JSON.

    ``benchmarks``: ``{strategy: [benchmark names]}`` (default :func:`tearsheet_benchmarks`);
    benchmarks without results are skipped. ``stats``: :func:`strategies.pipeline.seeds.
    comparison_stats` (shown on the comparison page and merged into ``metrics.json`` under each
    strategy as ``sharpe_seeds``, ``vs_equal_weight``, ``vs_index``, ``deflated_sharpe``).
    ``seed_metrics``: ``{strategy: {seed: metrics}}`` of seeded runs (``metrics.json``
    ``seeds``; with several seeds the strategy's own metrics are its seed-averaged portfolio's).
    """
    from analyzers.reports import (
        write_comparison,
        write_metrics_json,
        write_returns_csv,
        write_tearsheet,
        write_weights_csv,
    )
    out.mkdir(parents=True, exist_ok=True)
    benchmarks = benchmarks if benchmarks is not None else tearsheet_benchmarks(requested)
    pages = [(name, b) for name in requested for b in benchmarks.get(name, [])
             if b != name and b in results] if tearsheets else []
    with _progress(len(pages), "tearsheets", progress and bool(pages)) as bar:
        for name, bname in pages:
            path = safe_join(out, f"tearsheet_{name}_vs_{bname}.html")
            write_tearsheet(results[name].returns, results[bname].returns, path,
                            title=f"{name} vs {bname}", periods_per_year=periods_per_year,
                            strategy_title=name, benchmark_title=bname)
            log.debug("wrote %s", path)
            bar.update(1, last=path.name)
    from analyzers.quantstats_fixes import period_words
    n_bars = meta.get("test_weeks", meta.get("test_days", ""))
    cash = meta.get("capital")
    note = (f"Test window {meta.get('test_first')} .. {meta.get('test_last')} ({n_bars} "
            f"{period_words(periods_per_year)['plural'].lower()}; training "
            f"{meta.get('train_first')} .. {meta.get('train_last')}). "
            f"Simple returns net of costs ({meta.get('tc', '')} per unit traded)"
            + (f"; starting capital {cash:,.0f}" if isinstance(cash, (int, float)) else "")
            + ".")
    seeds = meta.get("seeds") or []
    if len(seeds) > 1:
        note += (f" Seeded strategies ({len(seeds)} seeds: {seeds[0]} .. {seeds[-1]}) are shown as "
                 "their seed-averaged portfolio (the per-week mean of the seeds' returns); the "
                 "spread over seeds is in the table below and in metrics.json.")
    wf = meta.get("walk_forward")
    if wf:
        note += (f" Learned strategies are walk-forward: retrained every {wf['every_weeks']} "
                 f"weeks ({wf['mode']} window, {len(wf['windows'])} windows), each trading "
                 "only weeks after its training window.")
    from analyzers.significance import stats_table_html
    write_comparison({k: {"returns": v.returns, "metrics": v.metrics} for k, v in results.items()},
                     out / "comparison.html", title="Strategy comparison", note=note,
                     periods_per_year=periods_per_year, start=meta.get("train_last"),
                     extra_html=stats_table_html(stats or {}, periods_per_year))
    merged = {}
    for k, v in results.items():
        merged[k] = dict(v.metrics)
        if seed_metrics and k in seed_metrics:
            merged[k]["seeds"] = seed_metrics[k]
        merged[k].update((stats or {}).get(k, {}))
    write_metrics_json(merged, out / "metrics.json")
    write_weights_csv({k: v.weights for k, v in results.items()}, out / "weights.csv")
    write_returns_csv({k: v.returns for k, v in results.items()}, out / "returns.csv")
    (out / "run.json").write_text(json.dumps(meta, indent=2, default=str))
