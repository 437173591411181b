"""Issue 12's selection protocol: choose ``hybrid_robust_top5`` on the VALIDATION slice only.

Protocol (written down in ``docs/SELECTION.md``):

1. The validation run is the pipeline on the paper's training window only,
   ``RunConfig(end=<last training week of the default 70/30 split>)``: its own 70/30 split fits on
   2018-01-05 .. 2021-05-21 and scores 76 weeks 2021-05-28 .. 2022-11-04. No test week is read.
2. Every candidate is ``hybrid_top5`` with EnvConfig overrides, trained for each seed; the seed
   ensemble (average of the seeds' target weights) is backtested too. Equal weight on the same
   weeks is the reference; the statistics are those of every run (``comparison_stats``).
3. The rule, fixed before looking: among candidates with mean weekly turnover <= 30%, the highest
   median Sharpe over seeds; the ensemble is kept if its Sharpe is at least the median seed's.
4. The chosen configuration is locked in ``strategies/presets.py`` and evaluated once on the
   test weeks (``python -m strategies.sweep examples/sweep_robust.toml``).

Usage::

    nice -n 5 python benchmarks/select_robust.py --seeds 0 1 2 3 4 \
        --bundle-dir /tmp/val_bundles --out docs/results/robust_selection.json
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from validation_kit import validation_end

#: candidate name -> EnvConfig overrides of hybrid_top5
CANDIDATES: dict[str, dict] = {
    "paper": {},
    "smooth_0.8": {"smoothing": 0.8},
    "smooth_0.9": {"smoothing": 0.9},
    "smooth_0.8_pen_0.01": {"smoothing": 0.8, "turnover_penalty": 0.01},
}
MAX_TURNOVER = 0.30


def evaluate(name: str, env_o: dict, base, seeds: list[int]) -> dict:
    from strategies.pipeline.seeds import comparison_stats, run_seeds
    run = replace(base, env_overrides=dict(env_o))
    t0 = time.process_time()
    study = run_seeds(["hybrid_top5", "equal_weight"], run, seeds, ensemble=len(seeds) > 1)
    res = study.results()
    stats = comparison_stats(res, study, 52, n_boot=2000)
    per = [study.runs[s]["hybrid_top5"].metrics for s in seeds]
    sh = [m["sharpe"] for m in per]
    ens = res.get(f"hybrid_top5_ens{len(seeds)}")
    return {
        "env_overrides": env_o, "seeds": seeds,
        "sharpe": sh, "sharpe_median": statistics.median(sh),
        "sharpe_mean": statistics.fmean(sh), "sharpe_std": statistics.stdev(sh) if len(sh) > 1
        else 0.0,
        "turnover_mean": statistics.fmean(m["mean_turnover"] for m in per),
        "costs_pct_mean": statistics.fmean(m["costs_pct"] for m in per),
        "ensemble": None if ens is None else {
            "sharpe": ens.metrics["sharpe"], "turnover": ens.metrics["mean_turnover"],
            "costs_pct": ens.metrics["costs_pct"],
            "vs_equal_weight": stats[ens.name].get("vs_equal_weight")},
        "vs_equal_weight": stats["hybrid_top5"].get("vs_equal_weight"),
        "equal_weight": {"sharpe": res["equal_weight"].metrics["sharpe"],
                         "turnover": res["equal_weight"].metrics["mean_turnover"]},
        "cpu_s": time.process_time() - t0,
    }


def choose(results: dict) -> str:
    """The rule of step 3 (fixed before the runs)."""
    ok = {n: r for n, r in results.items() if r["turnover_mean"] <= MAX_TURNOVER}
    pool = ok or results
    return max(pool, key=lambda n: pool[n]["sharpe_median"])


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--candidates", nargs="+", default=list(CANDIDATES),
                    choices=list(CANDIDATES))
    ap.add_argument("--bundle-dir", required=True)
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from strategies.pipeline.system1 import RunConfig
    end = validation_end()
    base = RunConfig(end=end, bundle_dir=a.bundle_dir, progress=False)
    results = {}
    for name in a.candidates:
        results[name] = r = evaluate(name, CANDIDATES[name], base, a.seeds)
        e = r["ensemble"] or {}
        print(f"{name:22s} Sharpe median {r['sharpe_median']:+.2f} mean {r['sharpe_mean']:+.2f}"
              f" ± {r['sharpe_std']:.2f}  turnover {r['turnover_mean']:.1%}  costs "
              f"{r['costs_pct_mean']:.2%}  ensemble {e.get('sharpe', float('nan')):+.2f} "
              f"(turnover {e.get('turnover', float('nan')):.1%})  EW "
              f"{r['equal_weight']['sharpe']:+.2f}  [{r['cpu_s']:.0f} CPU-s]", flush=True)
    chosen = choose(results)
    ens = results[chosen]["ensemble"]
    use_ens = bool(ens) and ens["sharpe"] >= results[chosen]["sharpe_median"]
    out = {"validation_end": end, "rule": f"turnover <= {MAX_TURNOVER:.0%}, then highest median "
           "Sharpe; ensemble kept if its Sharpe >= the median seed's", "results": results,
           "chosen": chosen, "ensemble_kept": use_ens}
    print(f"chosen: {chosen} (ensemble kept: {use_ens})")
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(out, indent=2, default=float) + "\n")
    return out


if __name__ == "__main__":
    main()
