"""System 1 over several seeds, seed ensembles and the statistics of every comparison.

:func:`run_seeds` trains and backtests every learned preset (hybrid, PPO-only, LSTM-only) once per
seed (bundles are cached per seed, as for one seed) and the deterministic ones (equal weight, the
index, the composite) once. With ``ensemble=True`` each learned preset is also traded as one
strategy holding the average of its seeds' target weights (:class:`strategies.composite.
SeedEnsemble`), named ``<preset>_ens<N>``.

:func:`comparison_stats` gives, for every strategy, the seed summary of its Sharpe ratio and,
against equal weight and against the index, the paired block-bootstrap interval of the Sharpe
difference and the probability that it is <= 0, and the deflated Sharpe ratio
(:mod:`analyzers.stats`). With several seeds the statistic is the seed-average Sharpe minus the
reference's (the same resampled weeks for every seed), and the figure a report shows for the
strategy is its *seed-averaged portfolio*: the per-week mean of the seeds' returns (equal capital
in each seed's portfolio), as System 2 does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from feeds.errors import ConfigError
from strategies.pipeline.common import StrategyResult

log = logging.getLogger(__name__)

LEARNED = ("hybrid", "ppo", "lstm")
#: the references every comparison is made against: (key in the stats, preset name)
REFERENCES = (("vs_equal_weight", "equal_weight"), ("vs_index", "sp500"))


@dataclass
class SeedStudy:
    """Results of a System 1 run over seeds.

    Attributes:
        seeds: the seeds, in order.
        runs: ``{seed: {preset: StrategyResult}}`` for the learned presets.
        fixed: ``{preset: StrategyResult}`` for the deterministic presets (run once).
        ensembles: ``{"<preset>_ens<N>": StrategyResult}`` (``ensemble=True``).
        meta: the run description of the first seed's run (windows, tickers, timings), with
            ``seeds`` and per-seed timings added.
    """

    seeds: list[int]
    runs: dict[int, dict[str, StrategyResult]] = field(default_factory=dict)
    fixed: dict[str, StrategyResult] = field(default_factory=dict)
    ensembles: dict[str, StrategyResult] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    #: ``{seed: models.portfolio.skill.forecast_skill(...)}`` of the seeds' LSTMs on the test
    skill: dict = field(default_factory=dict)

    @property
    def learned(self) -> list[str]:
        return list(self.runs[self.seeds[0]]) if self.seeds and self.runs else []

    def seed_returns(self, name: str) -> pd.DataFrame:
        """The test-week returns of a learned preset, one column per seed."""
        return pd.DataFrame({s: self.runs[s][name].returns for s in self.seeds})

    def results(self) -> dict[str, StrategyResult]:
        """One result per strategy for the tables, pages and tearsheets: a learned preset's
        single run (one seed) or its seed-averaged portfolio, then ensembles, then the fixed."""
        out = {n: (self.runs[self.seeds[0]][n] if len(self.seeds) == 1
                   else seed_average(n, [self.runs[s][n] for s in self.seeds]))
               for n in self.learned}
        out.update(self.ensembles)
        out.update(self.fixed)
        return out


def seed_average(name: str, runs: list[StrategyResult],
                 periods_per_year: int = 52) -> StrategyResult:
    """The seed-averaged portfolio of a preset: equal capital in each seed's portfolio,
    rebalanced to equal every week (returns, weights, turnover and costs are per-week means;
    costs paid and rejected orders: the seeds' mean and sum)."""
    from analyzers.metrics import compute_metrics
    rets = pd.concat([r.returns for r in runs], axis=1).mean(axis=1).rename(name)
    weights = sum(r.weights.fillna(0.0) for r in runs) / len(runs)
    turnover = pd.concat([r.turnover for r in runs], axis=1).mean(axis=1)
    costs = pd.concat([r.costs for r in runs], axis=1).mean(axis=1)
    m = compute_metrics(rets, periods_per_year, turnover=turnover)
    for key in ("costs_paid", "costs_pct"):  # money and % of capital: the seeds' mean
        vals = [r.metrics.get(key) for r in runs]
        m[key] = float(np.mean(vals)) if all(v is not None for v in vals) else float("nan")
    m["rejected_orders"] = int(sum(int(r.metrics.get("rejected_orders") or 0) for r in runs))
    return StrategyResult(name=name, returns=rets, weights=weights, turnover=turnover,
                          costs=costs, orders={}, metrics=m, bundle=None)


def parse_seeds(text: str | int | None, first: int = 0) -> list[int]:
    """``--seeds``: ``N`` (N seeds from ``first``), a list ``0,3,7`` or a range ``0-9``."""
    if text is None:
        return [int(first)]
    if isinstance(text, int):
        n = text
    else:
        t = str(text).strip()
        try:
            if "," in t:
                seeds = [int(x) for x in t.split(",") if x.strip()]
            elif "-" in t.lstrip("-"):
                a, b = t.split("-", 1)
                seeds = list(range(int(a), int(b) + 1))
            else:
                n = int(t)
                seeds = None
        except ValueError:
            raise ConfigError(f"--seeds {text!r}: give a count (10), a list (0,3,7) or a range "
                              "(0-9)") from None
        if seeds is not None:
            if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
                raise ConfigError(f"--seeds {text!r}: give distinct seeds >= 0, e.g. 0-9")
            return seeds
    if n < 1:
        raise ConfigError(f"--seeds must be at least 1, got {n}")
    return list(range(int(first), int(first) + n))


def run_seeds(names: list[str], run, seeds: list[int], ensemble: bool = False) -> SeedStudy:
    """Train and backtest ``names`` for every seed (learned presets) or once (the others)."""
    from strategies.pipeline.system1 import run_system1
    from strategies.presets import get_preset
    presets = [get_preset(n) for n in names]
    learned = [p.name for p in presets if p.family in LEARNED]
    fixed = [p.name for p in presets if p.family not in LEARNED]
    if ensemble and len(seeds) < 2:
        raise ConfigError("--ensemble averages several seeds' policies; add --seeds N (N >= 2)")
    if ensemble and not learned:
        raise ConfigError("--ensemble needs a learned preset (hybrid_*, ppo_*, lstm_*)")
    study = SeedStudy(seeds=list(seeds))
    timings = {}
    for s in seeds:
        if not learned:
            break
        log.info("seed %d (%d of %d)", s, seeds.index(s) + 1, len(seeds))
        res, meta = run_system1(learned, replace(run, seed=s))
        study.runs[s] = res
        timings[str(s)] = meta.get("timings", {})
        if meta.get("forecast_skill") is not None:
            study.skill[s] = meta["forecast_skill"]
        if not study.meta:
            study.meta = meta
    if fixed:
        res, meta = run_system1(fixed, replace(run, seed=seeds[0]))
        study.fixed = res
        if not study.meta:
            study.meta = meta
        else:
            study.meta.update({k: v for k, v in meta.items() if k not in study.meta})
    if ensemble:
        study.ensembles = _ensembles(study, learned, run)
    study.meta["seeds"] = list(seeds)
    study.meta["timings_by_seed"] = timings
    return study


def _ensembles(study: SeedStudy, learned: list[str], run) -> dict[str, StrategyResult]:
    from strategies.composite import SeedEnsemble, WalkForward
    from strategies.pipeline.walkforward import macro_for
    from strategies.pipeline.system1 import backtest, load_run_panel, split
    from strategies.presets import get_preset
    panel = load_run_panel(run)
    n_train = split(panel, run.train_frac)
    out = {}
    for name in learned:
        preset = get_preset(name)
        ens = f"{name}_ens{len(study.seeds)}"
        if run.walk_forward:  # one ensemble per window: each seed's bundle of that window
            from strategies.pipeline.walkforward import walk_forward_params, window_trainers
            scheds = [walk_forward_params(preset, window_trainers(panel, n_train,
                                                                  replace(run, seed=s)),
                                          panel)["schedule"] for s in study.seeds]
            sched = [(d, [sc[i][1] for sc in scheds]) for i, (d, _) in enumerate(scheds[0])]
            members = scheds
            cls, params = WalkForward, {"schedule": sched, "top_k": preset.top_k,
                                        "macro": macro_for(preset, run)}
        else:
            members = [study.runs[s][name].bundle for s in study.seeds]
            cls, params = SeedEnsemble, {"bundles": members, "top_k": preset.top_k,
                                         "trade_start": panel.index[n_train - 1],
                                         "macro": macro_for(preset, run)}
        log.info("backtesting %s (average of %d seeds' target weights)", ens, len(members))
        out[ens] = backtest(cls, params, panel, run, panel.index[n_train], ens)
    return out


def comparison_stats(results: dict[str, StrategyResult], study: SeedStudy | None,
                     periods_per_year: int = 52, n_boot: int = 5000, seed: int = 0,
                     alpha: float = 0.10) -> dict:
    """Statistics of every strategy vs equal weight and vs the index (see the module doc).

    ``n_trials`` of the deflated Sharpe ratio = the number of strategies compared that are not a
    reference (each learned preset and ensemble counts once, whatever its number of seeds); a
    reference is compared with the other reference only, as one trial (its DSR is its PSR).
    """
    from analyzers.stats import compare
    cands = {}
    for name, r in results.items():
        if study is not None and name in study.learned and len(study.seeds) > 1:
            cands[name] = study.seed_returns(name)
        else:
            cands[name] = r.returns
    ref_names = {r for _, r in REFERENCES}
    refs = {key: results[ref].returns for key, ref in REFERENCES if ref in results}
    tried = {n: c for n, c in cands.items() if n not in ref_names}
    n_trials = max(1, len(tried))
    out: dict[str, dict] = {n: {} for n in cands}
    for key, ref_returns in refs.items():
        ref_name = dict(REFERENCES)[key]
        groups = [(tried, n_trials),  # the strategies tried: deflated over all of them
                  ({n: c for n, c in cands.items() if n in ref_names and n != ref_name}, 1)]
        for group, trials in groups:
            if not group:
                continue
            stats = compare(group, ref_returns, periods_per_year, n_trials=trials,
                            n_boot=n_boot, seed=seed, alpha=alpha)
            for n, st in stats.items():
                out[n].setdefault("sharpe_seeds", st["sharpe"])
                out[n].setdefault("deflated_sharpe", st["dsr"])
                out[n][key] = {**st["vs"], "beats_reference": st["beats_reference"],
                               "reference": ref_name}
    return out
