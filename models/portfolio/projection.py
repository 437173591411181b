"""The Top-K projection: policy logits -> long-only portfolio weights (paper, System 1).

Written once and used by both the training environment and the Backtrader allocators.
"""

from __future__ import annotations

import numpy as np

from feeds.errors import ConfigError


def topk_project(logits: np.ndarray, k: int, tau: float,
                 mask: np.ndarray | None = None) -> np.ndarray:
    """Project logits onto the long-only simplex, holding at most ``k`` assets.

    The paper's algorithm, restricted to available assets:

    1. assets with ``mask == False`` are removed (they never receive weight);
    2. keep the ``K = min(k, #available)`` largest logits, set the rest to ``-inf``
       (ties broken by lower index);
    3. softmax over the kept logits (max-subtracted, numerically stable);
    4. zero every weight below ``tau``; if all are zero put weight 1 on the argmax;
    5. renormalise to sum to one.

    Args:
        logits: (N,) real scores; NaN is treated as ``-inf`` (never preferred).
        k: maximum number of held assets, >= 1.
        tau: weight threshold in [0, 1).
        mask: (N,) bool availability at the decision bar; None means all available.

    Returns:
        (N,) float64 weights: non-negative, sum to 1, at most ``k`` nonzero, zero where masked.
        If no asset is available, all zeros (the portfolio is in cash).
    """
    if int(k) < 1:
        raise ConfigError(f"top-K projection needs k >= 1, got {k}")
    x = np.asarray(logits, dtype=np.float64).reshape(-1)
    n = x.shape[0]
    avail = np.ones(n, dtype=bool) if mask is None else np.asarray(mask, dtype=bool).reshape(-1)
    if avail.shape[0] != n:
        raise ValueError(f"mask has {avail.shape[0]} entries but logits have {n}")
    out = np.zeros(n, dtype=np.float64)
    idx = np.flatnonzero(avail)
    if idx.size == 0:
        return out
    vals = x[idx]
    vals = np.where(np.isnan(vals), -np.inf, vals)
    kk = min(int(k), idx.size)
    order = np.argsort(-vals, kind="stable")[:kk]  # K largest, ties -> lower index
    top = vals[order]
    if not np.isfinite(top[0]):  # every available logit is -inf/NaN: hold the first available
        out[idx[order[0]]] = 1.0
        return out
    top = np.where(np.isfinite(top), top, -np.inf)
    e = np.exp(top - top[0])  # top[0] is the maximum
    w = e / e.sum()
    w[w < tau] = 0.0
    if not w.any():
        w[0] = 1.0  # the argmax
    w /= w.sum()
    out[idx[order]] = w
    return out
