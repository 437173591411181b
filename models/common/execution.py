"""Execution timing and cost accounting shared by every environment.

One accounting, used by the System 1 portfolio environment and the System 2 alpha environment, and
the same rules the Backtrader strategies follow (a parity test checks the two agree):

* A decision is made at the close of bar t from data up to and including bar t.
* It is executed at the open of bar t+1 (Backtrader's default market-order fill; no
  cheat-on-close, no cheat-on-open).
* Between the close of t and the open of t+1 the held weights drift with the overnight/weekend
  gap; the trade is from those drifted weights to the target; the proportional cost ``tc`` is
  charged on the traded value (``tc * sum |target - drifted|`` of the portfolio value at the open).
* The new holdings then drift from the open to the close of t+1, where the portfolio is marked.

Weights are fractions of portfolio value, may be negative (shorts) and need not sum to one: the
remainder is cash earning zero.

Turnover control, one rule each for the environments and the strategies:

* :func:`within_band`: the no-trade band (a target within ``band`` of the holdings, weight by
  weight, is not traded; :class:`strategies.mixins.RebalanceBandMixin` and the System 1 env);
* :func:`smooth_target`: partial adjustment of a target toward the holdings (the System 1 env
  and :class:`models.portfolio.allocators.PolicyAllocator`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StepResult:
    """Outcome of one decision, from the close of t to the close of t+1.

    Attributes:
        growth: V(close t+1) / V(close t), net of costs.
        cost: costs paid, as a fraction of V(close t).
        turnover: sum |target - drifted weights| at the open of t+1.
        weights_open: drifted weights just before the trade at the open of t+1.
        weights_close: weights held at the close of t+1 (after drift).
    """

    growth: float
    cost: float
    turnover: float
    weights_open: np.ndarray
    weights_close: np.ndarray

    @property
    def net_return(self) -> float:
        return self.growth - 1.0


def _drift(weights: np.ndarray, rets: np.ndarray) -> tuple[float, np.ndarray]:
    port = float(np.dot(weights, rets))
    if 1.0 + port <= 0.0:
        return port, np.zeros_like(weights)
    return port, weights * (1.0 + rets) / (1.0 + port)


def execute_step(weights_close_t: np.ndarray, target: np.ndarray, gap_returns: np.ndarray,
                 intra_returns: np.ndarray, tc: float) -> StepResult:
    """Advance a portfolio one bar under next-open execution.

    Args:
        weights_close_t: weights held at the close of t (after drift).
        target: target weights decided at the close of t.
        gap_returns: per-asset ``open[t+1] / close[t] - 1`` (NaN treated as 0).
        intra_returns: per-asset ``close[t+1] / open[t+1] - 1`` (NaN treated as 0).
        tc: proportional cost per unit of traded value (0.001 = 10 bp).
    """
    w = np.asarray(weights_close_t, dtype=float)
    tgt = np.asarray(target, dtype=float)
    g = np.nan_to_num(np.asarray(gap_returns, dtype=float), nan=0.0)
    r = np.nan_to_num(np.asarray(intra_returns, dtype=float), nan=0.0)
    return execute_clean(w, tgt, g, r, tc)


def execute_clean(w: np.ndarray, tgt: np.ndarray, g: np.ndarray, r: np.ndarray,
                  tc: float) -> StepResult:
    """:func:`execute_step` on inputs already clean: float64 arrays, returns without NaN (as
    :func:`bar_returns` gives them). It skips the conversions and the NaN cleaning, and is
    bit-identical to :func:`execute_step` on such inputs (tested); the System 1 env runs the
    same arithmetic with ``1 + returns`` precomputed
    (:func:`models.portfolio.env_kernel.execute_rows`)."""
    port_gap, w_open = _drift(w, g)
    turnover = float(np.abs(tgt - w_open).sum())
    cost_open = tc * turnover
    port_intra, w_close = _drift(tgt, r)
    growth = (1.0 + port_gap) * (1.0 - cost_open) * (1.0 + port_intra)
    return StepResult(growth=growth, cost=(1.0 + port_gap) * cost_open, turnover=turnover,
                      weights_open=w_open, weights_close=w_close)


def bar_returns(open_: np.ndarray, close: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gap and intra-bar returns of every step, the one place they are computed.

    ``open_`` and ``close`` are (T,) or (T, N) price arrays. Row ``t`` of the results belongs to
    the step decided at the close of ``t``: ``gap[t] = open[t+1] / close[t] - 1`` (held weights
    drift over it before the trade) and ``intra[t] = close[t+1] / open[t+1] - 1`` (the new
    holdings drift over it until the mark). Both have ``T - 1`` rows; a price that is NaN, zero
    or missing (asset not trading) gives 0, never NaN or inf. Used by both environments, the
    System 2 batch policy and the env/Backtrader parity test.
    """
    o = np.asarray(open_, dtype=np.float64)
    c = np.asarray(close, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = o[1:] / c[:-1] - 1.0
        intra = c[1:] / o[1:] - 1.0
    return (np.nan_to_num(gap, nan=0.0, posinf=0.0, neginf=0.0),
            np.nan_to_num(intra, nan=0.0, posinf=0.0, neginf=0.0))


def drifted_weights(weights: np.ndarray, rets: np.ndarray) -> np.ndarray:
    """Weights after the holdings move by ``rets`` (clean returns, no NaN) without trading:
    ``w * (1 + r) / (1 + w . r)``; all zeros if the portfolio is wiped out."""
    return _drift(np.asarray(weights, dtype=np.float64), np.asarray(rets, dtype=np.float64))[1]


def within_band(held: np.ndarray, target: np.ndarray, band: float) -> bool:
    """The no-trade band: True if every ``|held_i - target_i| <= band`` (then skip the trade).

    ``held`` are the weights held at the decision close and ``target`` the weights that would be
    traded to, on the same scale (a strategy that keeps a cash buffer passes its invested
    target, ``target x (1 - cash_buffer)``). The one rule of both systems' strategies
    (:class:`strategies.mixins.RebalanceBandMixin`) and of the System 1 environment
    (``EnvConfig.rebalance_band``). ``band = 0`` only skips a target equal to the holdings.
    """
    h = np.asarray(held, dtype=np.float64).reshape(-1)
    t = np.asarray(target, dtype=np.float64).reshape(-1)
    return bool(np.max(np.abs(h - t), initial=0.0) <= float(band))


def smooth_target(held: np.ndarray, target: np.ndarray, smoothing: float,
                  mask: np.ndarray | None = None) -> np.ndarray:
    """Partial adjustment: ``smoothing * h + (1 - smoothing) * target``.

    ``h`` are the weights held at the decision close on the assets available now (``mask``),
    scaled to sum to one: the fraction of the invested book in each asset. The environment's
    holdings already sum to one; a strategy's are short of one by its cash buffer, and an asset
    that can no longer be traded is dropped from both. With nothing held on an available
    asset (e.g. a strategy's first decision, in cash) the target is returned unchanged, as it
    is for ``smoothing = 0``. A long-only target summing to one stays so; the result may hold
    more than K assets (the holdings fade out over several weeks).

    Args:
        held: (N,) weights held at the close of the decision bar (NaN counts as 0).
        target: (N,) target weights (e.g. the Top-K projection of the policy's action).
        smoothing: in [0, 1); 0 = trade to ``target``.
        mask: (N,) availability at the decision bar; None = every asset.
    """
    tgt = np.asarray(target, dtype=np.float64).reshape(-1)
    s = float(smoothing)
    if s == 0.0:
        return tgt
    h = np.nan_to_num(np.asarray(held, dtype=np.float64).reshape(-1), nan=0.0)
    if mask is not None:
        h = np.where(np.asarray(mask, dtype=bool).reshape(-1), h, 0.0)
    total = h.sum()
    if not total > 0.0:
        return tgt
    return s * (h / total) + (1.0 - s) * tgt
