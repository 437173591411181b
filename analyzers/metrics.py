"""Performance metrics: one definition of each, shared by every page a run writes.

All from the simple per-period returns ``r_t`` (net of costs) with ``n`` periods,
``P = periods_per_year`` (52 for weekly bars, 252 for daily), the equity ``E_t = prod_{s<=t}(1 + r_s)``
and the log returns ``l_t = log(1 + r_t)``:

==================  =========================================================================
cumulative_return   ``E_T - 1``
cagr                ``E_T ** (P / n) - 1`` (compound annual growth)
annual_return       ``P * mean(r)`` (arithmetic annualised mean of the simple returns)
volatility          ``sqrt(P) * std(r, ddof=1)``
sharpe              ``annual_return / volatility = sqrt(P) * mean(r) / std(r, ddof=1)``;
                    risk-free rate 0. This is QuantStats' ``stats.sharpe(r, rf=0, periods=P)``,
                    so the tearsheets, the comparison page, ``metrics.json``, the console and the
                    README show the same figure.
sortino             ``sqrt(P) * mean(r) / sqrt(mean(min(r, 0) ** 2))`` (target 0, downside
                    deviation over all periods; QuantStats' ``stats.sortino``)
max_drawdown        ``min_t(E_t / max_{s<=t} E_s - 1)`` of the equity starting at 1
                    (a negative number, e.g. -0.35)
calmar              ``cagr / |max_drawdown|``
log_return          ``P * mean(l)``: the papers' "annualised return", a log rate
log_volatility      ``sqrt(P) * std(l, ddof=1)``: the papers' volatility (``log_return /
                    log_volatility`` is the papers' Sharpe; it is not the ``sharpe`` above)
mean_turnover       mean per-period turnover ``sum_i |w_t,i - w_t-1,i|`` (or the series given)
total_turnover      its sum (traded value over the window / portfolio value, summed)
costs_paid          commissions paid over the window, in the backtest's cash units
costs_pct           ``costs_paid / capital``: costs as a fraction of the capital at the start of
                    the window
n_periods           number of returns used
final_equity        ``E_T`` (growth of 1)
==================  =========================================================================

Undefined ratios (zero volatility, no drawdown, no periods) are NaN, never inf.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = ["compute_metrics", "turnover_from_weights", "METRIC_NAMES", "SHARPE_DEFINITION"]

METRIC_NAMES = ("cumulative_return", "cagr", "annual_return", "volatility", "sharpe", "sortino",
                "max_drawdown", "calmar", "log_return", "log_volatility", "mean_turnover",
                "total_turnover", "costs_paid", "costs_pct", "n_periods", "final_equity")

SHARPE_DEFINITION = ("Sharpe = sqrt({P}) x mean / standard deviation (ddof 1) of the {period} "
                     "simple returns net of costs, risk-free rate 0 (QuantStats' definition)")
"""The one Sharpe of every report; ``format(P=..., period=...)`` for a page."""


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
                    turnover: pd.Series | None = None,
                    capital: float | None = None) -> dict[str, float]:
    """Metrics of one strategy (see the module docstring for the definitions).

    Args:
        returns: simple per-period returns, net of costs. NaNs are dropped.
        periods_per_year: 52 for weekly bars, 252 for daily bars.
        weights: optional per-period weights (date x asset) to derive turnover from.
        costs: optional per-period commissions in cash units (e.g. the ``costs`` column of
            ``analyzers.portfolio.TurnoverCosts``); summed into ``costs_paid``.
        turnover: optional per-period traded turnover; takes precedence over ``weights``.
        capital: the portfolio value at the start of the window, for ``costs_pct``.

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
        x = r.to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            log_r = np.log1p(x)
        equity = np.cumprod(1.0 + x)
        final = float(equity[-1])
        out["final_equity"] = final
        out["cumulative_return"] = final - 1.0
        out["cagr"] = float(final ** (ppy / n) - 1.0) if final > 0 else -1.0
        ann = float(ppy * x.mean())
        out["annual_return"] = ann
        vol = float(math.sqrt(ppy) * x.std(ddof=1)) if n > 1 else nan
        out["volatility"] = vol
        out["sharpe"] = _ratio(ann, vol)
        downside = float(math.sqrt(ppy) * math.sqrt(np.mean(np.minimum(x, 0.0) ** 2)))
        out["sortino"] = _ratio(ann, downside)
        curve = np.concatenate([[1.0], equity])
        peak = np.maximum.accumulate(curve)
        mdd = float(np.min(curve / peak - 1.0))
        out["max_drawdown"] = mdd
        out["calmar"] = _ratio(out["cagr"], abs(mdd))
        out["log_return"] = float(ppy * log_r.mean())
        out["log_volatility"] = float(math.sqrt(ppy) * log_r.std(ddof=1)) if n > 1 else nan
    if turnover is None and weights is not None:
        turnover = turnover_from_weights(weights)
    if turnover is not None:
        t = pd.Series(turnover, dtype=float).dropna()
        out["mean_turnover"] = float(t.mean()) if len(t) else nan
        out["total_turnover"] = float(t.sum())
    if costs is not None:
        paid = float(pd.Series(costs, dtype=float).fillna(0.0).sum())
        out["costs_paid"] = paid
        if capital is not None and capital > 0:
            out["costs_pct"] = paid / float(capital)
    return out
