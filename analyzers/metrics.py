"""Performance metrics as the papers define them, plus the usual companions.

All from simple per-period returns ``r_t`` (net of costs), with log returns ``l_t = log(1 + r_t)``
and ``P = periods_per_year`` (52 for weekly bars, 252 for daily):

==================  =========================================================================
annual_return       ``P * mean(l)`` (the paper's "annualised return"; a log-return rate)
cagr                ``E_T ** (P / n) - 1`` with ``E_T = prod(1 + r)`` (compound annual growth)
volatility          ``sqrt(P) * std(l, ddof=1)`` (sample std of the *log* returns)
sharpe              ``annual_return / volatility``; risk-free rate 0
sortino             ``annual_return / (sqrt(P) * sqrt(mean(min(l, 0) ** 2)))`` (target 0,
                    downside deviation over all periods)
max_drawdown        ``min_t(E_t / max_{s<=t} E_s - 1)`` of the compounded equity starting at 1
                    (a negative number, e.g. -0.35)
calmar              ``cagr / |max_drawdown|``
mean_turnover       mean per-period turnover ``sum_i |w_t,i - w_t-1,i|`` (or the series given)
total_turnover      its sum
total_costs         sum of the per-period costs given (same units as given)
n_periods           number of returns used
final_equity        ``E_T`` (growth of 1)
==================  =========================================================================

Undefined ratios (zero volatility, no drawdown, no periods) are NaN, never inf.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = ["compute_metrics", "turnover_from_weights", "METRIC_NAMES"]

METRIC_NAMES = ("annual_return", "cagr", "volatility", "sharpe", "sortino", "max_drawdown",
                "calmar", "mean_turnover", "total_turnover", "total_costs", "n_periods",
                "final_equity")


def _ratio(num: float, den: float) -> float:
    if not (math.isfinite(num) and math.isfinite(den)) or den == 0.0:
        return float("nan")
    return float(num / den)


def turnover_from_weights(weights: pd.DataFrame) -> pd.Series:
    """``sum_i |w_t,i - w_t-1,i|`` per period, starting from all cash (the first row counts).

    With weights recorded at closes this includes drift between decisions; pass the turnover
    of ``analyzers.portfolio.TurnoverCosts`` for the traded turnover.
    """
    w = weights.astype(float).fillna(0.0)
    prev = w.shift(1).fillna(0.0)
    return (w - prev).abs().sum(axis=1).rename("turnover")


def compute_metrics(returns: pd.Series, periods_per_year: int = 52,
                    weights: pd.DataFrame | None = None, costs: pd.Series | None = None,
                    turnover: pd.Series | None = None) -> dict[str, float]:
    """Metrics of one strategy (see the module docstring for the definitions).

    Args:
        returns: simple per-period returns, net of costs. NaNs are dropped.
        periods_per_year: 52 for weekly bars, 252 for daily bars.
        weights: optional per-period weights (date x asset) to derive turnover from.
        costs: optional per-period costs (fractions of value or currency); only summed.
        turnover: optional per-period traded turnover; takes precedence over ``weights``.

    Returns:
        dict with the keys of ``METRIC_NAMES`` (plain floats; ``n_periods`` is an int).
    """
    if periods_per_year <= 0:
        raise ValueError(f"periods_per_year must be positive, got {periods_per_year}")
    r = pd.Series(returns, dtype=float).dropna()
    n = int(len(r))
    nan = float("nan")
    out: dict[str, float] = dict.fromkeys(METRIC_NAMES, nan)
    out["n_periods"] = n
    ppy = float(periods_per_year)
    if n:
        with np.errstate(divide="ignore", invalid="ignore"):
            log_r = np.log1p(r.to_numpy())
        equity = np.cumprod(1.0 + r.to_numpy())
        final = float(equity[-1])
        out["final_equity"] = final
        ann = float(ppy * log_r.mean())
        out["annual_return"] = ann
        out["cagr"] = float(final ** (ppy / n) - 1.0) if final > 0 else -1.0
        vol = float(math.sqrt(ppy) * log_r.std(ddof=1)) if n > 1 else nan
        out["volatility"] = vol
        out["sharpe"] = _ratio(ann, vol)
        downside = float(math.sqrt(ppy) * math.sqrt(np.mean(np.minimum(log_r, 0.0) ** 2)))
        out["sortino"] = _ratio(ann, downside)
        curve = np.concatenate([[1.0], equity])
        peak = np.maximum.accumulate(curve)
        mdd = float(np.min(curve / peak - 1.0))
        out["max_drawdown"] = mdd
        out["calmar"] = _ratio(out["cagr"], abs(mdd))
    if turnover is None and weights is not None:
        turnover = turnover_from_weights(weights)
    if turnover is not None:
        t = pd.Series(turnover, dtype=float).dropna()
        out["mean_turnover"] = float(t.mean()) if len(t) else nan
        out["total_turnover"] = float(t.sum())
    if costs is not None:
        out["total_costs"] = float(pd.Series(costs, dtype=float).fillna(0.0).sum())
    return out
