"""Macro features and the MC-dropout forecast gate on the VALIDATION slice (issue 12, point 4).

Never the test weeks: the pipeline runs on the paper's training window only,
``RunConfig(end=<last training week of the default 70/30 split>)``, so the run's own 70/30
split puts a validation slice inside the paper's training window (LSTM, PPO and feature
statistics fit on its first 70%; the backtest is scored on the last 30%). Each variant of
``hybrid_top5`` (default timesteps) is trained and backtested for every seed; the table gives
mean +- std over seeds of the net Sharpe, the mean weekly turnover (sum |dw|) and the costs paid
(% of the capital at the start of the window), with equal weight on the same weeks. For the
gated variants it also gives the gate's pass rate: the share of the LSTM's finite forecasts of
the validation decision weeks that pass ``|MC mean - training mean| / MC std >= threshold``
(:func:`models.portfolio.forecaster.state_forecasts`), per seed.

Usage::

    nice -n 5 python benchmarks/validation_future_work.py --seeds 0 1 2 \
        --bundle-dir /tmp/val_future_bundles --out /tmp/val_future.json

``--variants`` picks a subset (names below). Bundles are cached in ``--bundle-dir`` by config,
so a rerun only trains what is new.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
from validation_kit import equal_weight_rows, parse_args, summarise, validation_run, write_json

ALL_MACRO = ("yield_level", "yield_slope", "realized_vol", "xmom")
#: name -> EnvConfig overrides
VARIANTS: dict[str, dict] = {
    "baseline": {},
    "macro_all": {"macro_features": ALL_MACRO},
    "macro_vol_xmom": {"macro_features": ("realized_vol", "xmom")},
    "gate_0.5": {"forecast_gate": "mc_dropout", "gate_threshold": 0.5},
    "gate_1.0": {"forecast_gate": "mc_dropout", "gate_threshold": 1.0},
}


def pass_rate(forecaster, panel, rows: range, env_overrides: dict) -> float:
    """Share of the finite forecasts of the decision ``rows`` that the gate keeps."""
    from models.portfolio.config import EnvConfig
    from models.portfolio.forecaster import state_forecasts
    lr, mask = panel.log_returns.to_numpy(), panel.mask.to_numpy()
    cfg = EnvConfig(**env_overrides)
    raw = forecaster.forecast(lr, mask)[list(rows)]
    gated = state_forecasts(forecaster, lr, mask, cfg)[list(rows)]
    return float(np.isfinite(gated).sum() / max(np.isfinite(raw).sum(), 1))


def main(argv: list[str] | None = None) -> dict:
    a = parse_args(__doc__, VARIANTS, argv)
    from strategies.pipeline.system1 import Trainer, run_system1
    end, base, panel, n_fit = validation_run(a)
    val_rows = range(n_fit - 1, len(panel) - 1)  # decision weeks of the validation backtest
    rows: dict[str, list[dict]] = {v: [] for v in [*a.variants, "equal_weight"]}
    for seed in a.seeds:
        for name in a.variants:
            env_o = VARIANTS[name]
            run = replace(base, seed=seed, env_overrides=dict(env_o))
            t0 = time.process_time()
            res, meta = run_system1(["hybrid_top5"], run)
            m = res["hybrid_top5"].metrics
            row = {"seed": seed, "sharpe": m["sharpe"], "turnover": m["mean_turnover"],
                   "costs_pct": m["costs_pct"], "cagr": m["cagr"],
                   "cpu_s": time.process_time() - t0, "timings": meta["timings"]}
            if env_o.get("forecast_gate", "none") != "none":
                fc = Trainer(panel, n_fit, run).lstm_bundle().forecaster  # the seed's (reused)
                row["pass_rate"] = pass_rate(fc, panel, val_rows, env_o)
            rows[name].append(row)
            gate = f"  gate pass {row['pass_rate']:.1%}" if "pass_rate" in row else ""
            print(f"seed {seed} {name:16s} Sharpe {m['sharpe']:+.2f}  turnover "
                  f"{m['mean_turnover']:.1%}  costs {m['costs_pct']:.2%}{gate}  "
                  f"({row['cpu_s']:.0f} CPU-s)", flush=True)
    rows["equal_weight"] = equal_weight_rows(base)
    summary = summarise(rows, a.seeds, 18, pass_rate=True)
    out = {"validation_end": end, "fit_last": str(panel.index[n_fit - 1].date()),
           "score_first": str(panel.index[n_fit].date()), "seeds": a.seeds,
           "variants": {k: VARIANTS[k] for k in a.variants}, "runs": rows, "summary": summary}
    write_json(a.out, out)
    return out


if __name__ == "__main__":
    main()
