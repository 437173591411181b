"""Out-of-sample forecast skill of the LSTM: does it beat forecasting zero, or last month?

:func:`forecast_skill` scores forecasts of next week's log return against what happened, on the
rows the caller names (the test weeks), per asset and pooled over asset-weeks;
:func:`skill_lines` turns the result into lines for a run's printed summary.

Pairs. Row ``t`` of ``forecasts`` is the forecast, made at the close of week t, of the log
return of week t+1 (:meth:`models.portfolio.forecaster.LSTMForecaster.forecast`), so it is
paired with ``log_returns[t + 1]``. A pair is used when the asset is available at t and at t+1
and the forecast, the outcome and the momentum forecast are finite; rows whose t+1 is past the
panel's end are dropped.

Benchmarks, scored on the same pairs:

* zero: forecast 0 (no view). ``skill_vs_zero = 1 - MSE / MSE_zero``;
* momentum (naive): the mean of the last ``momentum_weeks`` (4) weekly log returns known at t,
  rows ``t-3 .. t`` (fewer where the asset has fewer available weeks). ``skill_vs_momentum =
  1 - MSE / MSE_momentum``. A skill score above 0 beats the benchmark.

Scores (per asset and pooled; None where undefined, e.g. a constant forecast):

==================  ===========================================================================
ic                  Pearson correlation of forecast and outcome (the information coefficient),
                    with ``ic_lo``/``ic_hi``: its 90% Fisher-z interval (se ``1/sqrt(n-3)``)
rank_ic             Spearman rank correlation, with a 90% interval (se ``1.06/sqrt(n-3)``,
                    Fieller, Hartley & Pearson 1957)
hit_rate            share of pairs whose forecast and outcome have the same sign (pairs where
                    either is exactly 0 are left out)
mse                 mean squared error of the forecast; ``mse_zero`` and ``mse_momentum`` those of
                    the two benchmarks; ``momentum_ic`` the IC of the momentum forecast
==================  ===========================================================================

Pooled over asset-weeks the scores mix assets of very different volatility (a crypto asset
weighs more than a bond yield in the MSE) and treat the assets of one week as independent; the
cross-sectional rank IC is the check on both: each week, the Spearman correlation across the
assets (weeks with at least 3 pairs), then its mean over weeks, its standard deviation and the
t-statistic ``mean / (std / sqrt(weeks))``.

Verdict: ``"no skill"`` when the pooled IC's 90% interval does not lie above 0 (it contains 0,
or the forecasts point the wrong way) or the forecast's pooled MSE is not below the zero
forecast's; otherwise ``"some skill"``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from feeds.errors import DataError

__all__ = ["MOMENTUM_WEEKS", "forecast_skill", "momentum_forecast", "skill_lines"]

#: weeks of the naive momentum forecast (the mean of the last 4 weekly log returns)
MOMENTUM_WEEKS = 4
_Z90 = 1.6448536269514722  # two-sided 90% normal quantile


def momentum_forecast(log_returns: np.ndarray, mask: np.ndarray,
                      weeks: int = MOMENTUM_WEEKS) -> np.ndarray:
    """Naive momentum forecast, (T, N): row t = mean of the finite, available weekly log
    returns of rows ``t - weeks + 1 .. t`` (known at the close of t); NaN if there is none."""
    x = np.asarray(log_returns, dtype=np.float64)
    ok = np.asarray(mask, dtype=bool) & np.isfinite(x)
    v = np.where(ok, x, 0.0)
    csum = np.vstack([np.zeros((1, x.shape[1])), np.cumsum(v, axis=0)])
    ccnt = np.vstack([np.zeros((1, x.shape[1])), np.cumsum(ok, axis=0)])
    lo = np.maximum(np.arange(x.shape[0]) + 1 - int(weeks), 0)
    s = csum[1:] - csum[lo]
    c = ccnt[1:] - ccnt[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(c > 0, s / c, np.nan)


def _num(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    if a.size < 2:
        return math.nan
    if np.all(a == a[0]) or np.all(b == b[0]):  # constant: no correlation
        return math.nan
    sa, sb = a.std(), b.std()
    return float(np.mean((a - a.mean()) * (b - b.mean())) / (sa * sb))


def _ranks(a: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata
    return rankdata(a)  # average ranks for ties


def _interval(r: float, n: int, se_scale: float = 1.0) -> tuple[float, float]:
    if not math.isfinite(r) or n < 4:
        return math.nan, math.nan
    z = math.atanh(min(max(r, -0.999999999), 0.999999999))
    h = _Z90 * se_scale / math.sqrt(n - 3)
    return math.tanh(z - h), math.tanh(z + h)


def _scores(f: np.ndarray, y: np.ndarray, m: np.ndarray) -> dict[str, Any]:
    n = int(f.size)
    out: dict[str, Any] = {"n": n}
    ic = _corr(f, y)
    lo, hi = _interval(ic, n)
    ric = _corr(_ranks(f), _ranks(y)) if n >= 2 else math.nan
    rlo, rhi = _interval(ric, n, 1.06)
    nz = (f != 0) & (y != 0)
    hit = float(np.mean(np.sign(f[nz]) == np.sign(y[nz]))) if nz.any() else math.nan
    mse = float(np.mean((f - y) ** 2)) if n else math.nan
    mse0 = float(np.mean(y ** 2)) if n else math.nan
    msem = float(np.mean((m - y) ** 2)) if n else math.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        s0 = 1.0 - mse / mse0 if mse0 > 0 else math.nan
        sm = 1.0 - mse / msem if msem > 0 else math.nan
    out.update(ic=ic, ic_lo=lo, ic_hi=hi, rank_ic=ric, rank_ic_lo=rlo, rank_ic_hi=rhi,
               hit_rate=hit, mse=mse, mse_zero=mse0, mse_momentum=msem, skill_vs_zero=s0,
               skill_vs_momentum=sm, momentum_ic=_corr(m, y))
    return {k: (v if k == "n" else _num(v)) for k, v in out.items()}


def forecast_skill(forecasts: np.ndarray, log_returns: np.ndarray, mask: np.ndarray,
                   rows: Sequence[int] | np.ndarray, tickers: Sequence[str], *,
                   momentum_weeks: int = MOMENTUM_WEEKS) -> dict[str, Any]:
    """Out-of-sample skill of ``forecasts`` on the decision rows ``rows`` (see the module
    docstring for the pairing, the benchmarks and each score).

    Args:
        forecasts: (T, N) row t = forecast of the log return at t+1 (NaN where none).
        log_returns: (T, N) weekly log returns (NaN where unknown).
        mask: (T, N) availability.
        rows: the decision rows to score (e.g. the test weeks; the last row of the panel has no
            outcome and is skipped).
        tickers: N names, in the columns' order.
        momentum_weeks: weeks of the naive momentum benchmark.

    Returns:
        A JSON-able dict: ``pooled`` (scores over every asset-week), ``per_asset`` (ticker ->
        scores), ``cross_sectional`` (mean weekly rank IC, its std, weeks and t-stat),
        ``verdict`` ("some skill" / "no skill"), ``reason`` (one sentence), and ``definition``
        (the pairing and benchmark in words).
    """
    f = np.asarray(forecasts, dtype=np.float64)
    x = np.asarray(log_returns, dtype=np.float64)
    msk = np.asarray(mask, dtype=bool)
    if f.ndim != 2 or f.shape != x.shape or msk.shape != x.shape:
        raise DataError(f"forecasts {f.shape}, log_returns {x.shape} and mask {msk.shape} must "
                        "be (T, N) arrays of one shape")
    T, N = x.shape
    names = [str(t) for t in tickers]
    if len(names) != N:
        raise DataError(f"{len(names)} tickers for {N} columns")
    r = np.unique(np.asarray(rows, dtype=np.int64).reshape(-1))
    if r.size and (r[0] < 0 or r[-1] >= T):
        raise DataError(f"rows must lie in [0, {T}), got {r[0]} .. {r[-1]}")
    r = r[r + 1 < T]
    mom = momentum_forecast(x, msk, momentum_weeks)
    F, Y, M = f[r], x[r + 1], mom[r]
    ok = msk[r] & msk[r + 1] & np.isfinite(F) & np.isfinite(Y) & np.isfinite(M)
    pooled = _scores(F[ok], Y[ok], M[ok])
    per_asset = {names[j]: _scores(F[ok[:, j], j], Y[ok[:, j], j], M[ok[:, j], j])
                 for j in range(N)}
    weekly = []
    for i in range(r.size):
        k = ok[i]
        if k.sum() >= 3:
            c = _corr(_ranks(F[i, k]), _ranks(Y[i, k]))
            if math.isfinite(c):
                weekly.append(c)
    w = np.asarray(weekly)
    mean = float(w.mean()) if w.size else math.nan
    sd = float(w.std(ddof=1)) if w.size > 1 else math.nan
    tstat = mean / (sd / math.sqrt(w.size)) if w.size > 1 and sd > 0 else math.nan
    cross = {"mean_rank_ic": _num(mean), "std": _num(sd), "weeks": int(w.size),
             "t_stat": _num(tstat)}
    verdict, reason = _verdict(pooled)
    return {"pooled": pooled, "per_asset": per_asset, "cross_sectional": cross,
            "verdict": verdict, "reason": reason, "rows": [int(r[0]), int(r[-1])] if r.size
            else [], "definition": (f"forecast at week t of the log return of week t+1, scored "
                                    f"on {int(ok.sum())} asset-weeks; momentum = mean of the "
                                    f"last {int(momentum_weeks)} weekly log returns known at t")}


def _verdict(p: dict[str, Any]) -> tuple[str, str]:
    lo, hi, mse, mse0 = p["ic_lo"], p["ic_hi"], p["mse"], p["mse_zero"]
    if lo is None or hi is None or mse is None or mse0 is None:
        return "no skill", "too few forecast/outcome pairs to measure skill"
    if lo <= 0.0 <= hi:
        return "no skill", (f"the pooled IC {p['ic']:+.3f} has a 90% interval [{lo:+.3f}, "
                            f"{hi:+.3f}] that contains 0")
    if hi < 0.0:
        return "no skill", (f"the pooled IC {p['ic']:+.3f} is below 0 (90% [{lo:+.3f}, "
                            f"{hi:+.3f}]): the forecasts point the wrong way")
    if mse >= mse0:
        return "no skill", (f"its MSE {mse:.3g} is not below the zero forecast's {mse0:.3g}")
    return "some skill", (f"pooled IC {p['ic']:+.3f} (90% [{lo:+.3f}, {hi:+.3f}]) and MSE "
                          f"{mse:.3g} below the zero forecast's {mse0:.3g}")


def _f(x: float | None, fmt: str) -> str:
    return "n/a" if x is None else format(x, fmt)


def skill_lines(result: dict[str, Any], label: str = "test weeks") -> list[str]:
    """Lines for a run's printed summary of a :func:`forecast_skill` result (``label`` names
    the rows it was scored on)."""
    p, c = result["pooled"], result["cross_sectional"]
    lines = [
        (f"LSTM forecast skill ({label}, {p['n']} asset-weeks): {result['verdict'].upper()}"
         f" -- {result['reason']}"),
        (f"  IC {_f(p['ic'], '+.3f')} [90% {_f(p['ic_lo'], '+.3f')}, {_f(p['ic_hi'], '+.3f')}]"
         f"  rank IC {_f(p['rank_ic'], '+.3f')}  hit rate {_f(p['hit_rate'], '.1%')}"
         f"  weekly cross-sectional rank IC {_f(c['mean_rank_ic'], '+.3f')}"
         f" (t {_f(c['t_stat'], '+.2f')}, {c['weeks']} weeks)"),
        (f"  MSE {_f(p['mse'], '.3g')} vs zero {_f(p['mse_zero'], '.3g')} (skill "
         f"{_f(p['skill_vs_zero'], '+.3f')}) vs 4-week momentum {_f(p['mse_momentum'], '.3g')}"
         f" (skill {_f(p['skill_vs_momentum'], '+.3f')})"),
    ]
    beat = [t for t, s in result["per_asset"].items()
            if s["skill_vs_zero"] is not None and s["skill_vs_zero"] > 0]
    scored = [t for t, s in result["per_asset"].items() if s["skill_vs_zero"] is not None]
    lines.append(f"  assets beating the zero forecast: {len(beat)} of {len(scored)}"
                 + (f" ({', '.join(beat[:8])}{' ...' if len(beat) > 8 else ''})" if beat else ""))
    return lines
