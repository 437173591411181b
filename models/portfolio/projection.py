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
    return project_clean(x, int(k), float(tau), avail)


def project_clean(x: np.ndarray, k: int, tau: float, avail: np.ndarray) -> np.ndarray:
    """:func:`topk_project` without the argument checks and conversions: ``x`` a (N,) float64
    array, ``k >= 1`` an int, ``avail`` a (N,) bool array (the careful path of
    :func:`project_neg`); the same arithmetic in the same order, so bit-identical to
    :func:`topk_project` (tested)."""
    out = np.zeros(x.shape[0], dtype=np.float64)
    idx = np.flatnonzero(avail)
    if idx.size == 0:
        return out
    vals = x[idx]
    nan = np.isnan(vals)
    if nan.any():
        vals[nan] = -np.inf  # x[idx] is a copy
    kk = min(k, idx.size)
    order = np.argsort(-vals, kind="stable")[:kk]  # K largest, ties -> lower index
    top = vals[order]
    if not -np.inf < top[0] < np.inf:  # the maximum is +-inf (NaN is already -inf): hold it
        out[idx[order[0]]] = 1.0
        return out
    # (topk_project used to map non-finite entries of ``top`` to -inf here: with a finite
    # maximum the only ones left are already -inf)
    e = np.exp(top - top[0])  # top[0] is the maximum
    w = e / e.sum()
    w[w < tau] = 0.0
    if not w.any():
        w[0] = 1.0  # the argmax
    w /= w.sum()
    out[idx[order]] = w
    return out


def project_neg(neg: np.ndarray, k: int, tau: float, avail: np.ndarray,
                idx: np.ndarray | None) -> np.ndarray:
    """``project_clean(-neg, k, tau, avail)`` from the NEGATED logits, bit for bit (tested).

    The environment's per-step path: it scales its action by ``-logit_scale`` (exactly the
    negation of scaling by ``logit_scale``) so the stable ascending argsort of ``neg`` is the one
    :func:`project_clean` computes on ``-vals``, with the same ties (lower index first).
    ``idx`` is ``np.flatnonzero(avail)``, or None when every asset is available (the env
    prepares it once per row). When a kept logit is not finite (NaN sorts last, so a NaN among
    the kept ones is the last kept one) it falls back to :func:`project_clean`. Otherwise the
    softmax runs in place on the K kept values, where ``w[0]`` is the largest weight
    (``exp(0) = 1 >= exp(x <= 0)``), so "every weight is below tau" is ``w[0] < tau``; the
    threshold is applied from Python floats (K is small), the sums and ``exp`` stay NumPy's.
    """
    vals = neg if idx is None else neg[idx]
    if vals.shape[0] == 0:
        return np.zeros(neg.shape[0], dtype=np.float64)
    order = vals.argsort(kind="stable")[:k]
    top = vals[order]  # a copy: minus the K largest logits, largest first
    kept = top.tolist()
    lo = kept[0]
    if not (-np.inf < lo and kept[-1] < np.inf):  # +-inf or NaN kept: the careful path
        return project_clean(-neg, k, tau, avail)
    np.subtract(lo, top, out=top)  # == logit - max logit, exactly
    np.exp(top, out=top)
    np.divide(top, np.add.reduce(top), out=top)
    w = top.tolist()
    if w[0] < tau:  # every weight is below tau: hold the argmax
        top[0] = 1.0
        top[1:] = 0.0
    else:
        for i in range(1, len(w)):
            if w[i] < tau:
                top[i] = 0.0
        np.divide(top, np.add.reduce(top), out=top)
    out = np.zeros(neg.shape[0], dtype=np.float64)
    out[order if idx is None else idx[order]] = top
    return out
