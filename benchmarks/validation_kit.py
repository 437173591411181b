"""What the validation-slice scripts share (issue 12; never the test weeks).

``validation_turnover.py``, ``validation_future_work.py`` and ``select_robust.py`` run the
pipeline on the paper's training window only (``RunConfig(end=validation_end())``), so the run's
own 70/30 split scores a validation slice inside it. This module holds their common pieces: the
end date, the command line, the validation run's panel, the equal-weight reference row and the
mean +- std summary table.
"""

from __future__ import annotations

import argparse
import json
import logging

import numpy as np


def validation_end() -> str:
    """The last training week of the default split (the end of the validation run)."""
    from strategies.pipeline.system1 import RunConfig, validation_config
    return validation_config(RunConfig()).end


def parse_args(doc: str, variants, argv: list[str] | None) -> argparse.Namespace:
    """``--seeds``, ``--variants`` (names of ``variants``), ``--bundle-dir``, ``--timesteps``,
    ``--out``; sets warnings-only logging."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--variants", nargs="+", default=list(variants), choices=list(variants))
    ap.add_argument("--bundle-dir", required=True, help="dedicated bundle folder (e.g. /tmp/..)")
    ap.add_argument("--timesteps", type=int, default=None, help="PPO steps (default: config's)")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    return a


def validation_run(a: argparse.Namespace):
    """``(end, base RunConfig, panel, n_fit)`` of the validation run, its weeks printed."""
    from strategies.pipeline.system1 import RunConfig, load_run_panel, split
    end = validation_end()
    base = RunConfig(end=end, bundle_dir=a.bundle_dir, progress=False, timesteps=a.timesteps)
    panel = load_run_panel(base)
    n_fit = split(panel, base.train_frac)
    print(f"validation run: fit {panel.index[0].date()} .. {panel.index[n_fit - 1].date()}, "
          f"score {panel.index[n_fit].date()} .. {panel.index[-1].date()} "
          f"({len(panel) - n_fit} weeks; the paper's test weeks start after {end})", flush=True)
    return end, base, panel, n_fit


def equal_weight_rows(base) -> list[dict]:
    """Equal weight on the validation weeks: the reference row of the table."""
    from strategies.pipeline.system1 import run_system1
    ew, _ = run_system1(["equal_weight"], base)
    m = ew["equal_weight"].metrics
    return [{"seed": None, "sharpe": m["sharpe"], "turnover": m["mean_turnover"],
             "costs_pct": m["costs_pct"], "cagr": m["cagr"]}]


def mean_std(vals) -> tuple[float, float]:
    """Mean and sample std (0 for one value)."""
    v = np.asarray(vals, dtype=float)
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def summarise(rows: dict[str, list[dict]], seeds, width: int,
              pass_rate: bool = False) -> dict:
    """Print the mean +- std table over seeds (Sharpe, turnover, costs; the gate's pass rate
    with ``pass_rate``) and return it as a dict per variant."""
    print(f"\nhybrid_top5 on the validation weeks, seeds {seeds} (mean +- std over seeds)")
    print(f"{'variant':{width}s} {'Sharpe (net)':>16s} {'turnover/week':>18s} "
          f"{'costs % cap':>16s}" + (f" {'gate pass':>16s}" if pass_rate else ""))
    summary = {}
    for name, rs in rows.items():
        s, t, c = (mean_std([r[k] for r in rs]) for k in ("sharpe", "turnover", "costs_pct"))
        summary[name] = {"sharpe": s, "turnover": t, "costs_pct": c, "n": len(rs)}
        gate = ""
        if pass_rate and all("pass_rate" in r for r in rs):
            p = mean_std([r["pass_rate"] for r in rs])
            summary[name]["pass_rate"] = p
            gate = f"{p[0]:7.1%} +- {p[1]:4.1%}"
        print(f"{name:{width}s} {s[0]:+7.2f} +- {s[1]:4.2f} {t[0]:9.1%} +- {t[1]:5.1%} "
              f"{c[0]:8.2%} +- {c[1]:5.2%}" + (f" {gate:>16s}" if pass_rate else ""))
    return summary


def write_json(path: str | None, out: dict) -> None:
    """The results as JSON at ``path`` (nothing when None)."""
    if path:
        with open(path, "w") as f:
            json.dump(out, f, indent=1, default=str)
