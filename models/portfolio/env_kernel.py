"""Per-step arithmetic of :class:`models.portfolio.env.PortfolioEnv` on arrays prepared once.

The env's step used to call :meth:`FeatureBuilder.assemble`, :func:`execute_clean` and
:func:`project_clean` each week. What those functions recompute from data that does not change
during an episode (the float32 observation blocks, ``1 + returns``, the available assets of
each row) is prepared here once, at construction; what is left per step is the same arithmetic
in the same order, so observations, rewards and infos are bit-identical to the old step
(``tests/models/test_perf_equivalence_env.py`` checks it against a frozen copy of it).
"""

from __future__ import annotations

import numpy as np

from models.portfolio.features import FeatureLayout


class ObsRows:
    """The float32 observation of row ``t`` with weights ``w``, as ``FeatureBuilder.assemble``
    builds it from the z-scored blocks.

    Everything but the weights is fixed per row, so the observations of rows ``[lo, T)`` are
    built once as a float32 table (the weights block left for the step to fill; at most
    :attr:`TABLE_BYTES`, else the blocks are kept and copied per step). Casting the float64
    blocks to float32 once gives the bits the per-step cast gave.
    """

    TABLE_BYTES = 256 << 20

    def __init__(self, layout: FeatureLayout, z: np.ndarray, zf: np.ndarray | None,
                 mask: np.ndarray, zm: np.ndarray | None, lo: int = 0) -> None:
        hi, n, L = z.shape[0], layout.n_assets, layout.window
        sl = layout.slices()
        if sl["prev_weights"] != slice(L * n, L * n + n):
            raise AssertionError(f"unexpected observation layout {sl}")
        self._n, self._ln, self._lo, self.size = n, L * n, lo, layout.size
        # rows t-L+1..t of the returns, zero-padded in front: rows t..t+L-1 of ``hist``
        hist = np.zeros((hi + L - 1, n), dtype=np.float32)
        hist[L - 1:] = z
        blocks = [mask] if zf is None else [zf, mask]  # the layout's order after the weights
        if zm is not None:
            blocks.append(zm)
        tail = np.concatenate([np.asarray(b, dtype=np.float32) for b in blocks], axis=1)
        if (hi - lo) * self.size * 4 <= self.TABLE_BYTES:
            table = np.zeros((hi - lo, self.size), dtype=np.float32)
            table[:, :L * n] = np.lib.stride_tricks.sliding_window_view(
                hist[lo:], L, axis=0).transpose(0, 2, 1).reshape(hi - lo, L * n)
            table[:, L * n + n:] = tail[lo:]
            self._table, self._hist, self._tail = table, None, None
        else:
            self._table, self._hist, self._tail = None, hist.reshape(-1), tail

    def __call__(self, t: int, w: np.ndarray, clean: bool = True) -> np.ndarray:
        """A fresh observation; ``clean=False`` if ``w`` may hold NaN (written as 0)."""
        n, ln = self._n, self._ln
        if self._table is not None:
            obs = self._table[t - self._lo].copy()
        else:
            obs = np.empty(self.size, dtype=np.float32)
            obs[:ln] = self._hist[t * n: t * n + ln]
            obs[ln + n:] = self._tail[t]
        obs[ln: ln + n] = w if clean else np.where(np.isnan(w), 0.0, w)
        return obs


def step_rows(mask: np.ndarray, gap: np.ndarray, intra: np.ndarray) -> list[tuple]:
    """Per decision row ``t``: ``(mask[t], available indices or None if all, gap[t],
    1 + gap[t], intra[t], 1 + intra[t])`` (views and arrays computed once)."""
    g1, r1 = 1.0 + gap, 1.0 + intra  # elementwise, the same values as 1.0 + gap[t] per step
    full = mask.all(axis=1)
    return [(mask[t], None if full[t] else np.flatnonzero(mask[t]), gap[t], g1[t], intra[t],
             r1[t]) for t in range(gap.shape[0])]


def execute_rows(w: np.ndarray, target: np.ndarray, g: np.ndarray, g1: np.ndarray,
                 r: np.ndarray, r1: np.ndarray, tc: float,
                 buf: np.ndarray) -> tuple[float, float, float, np.ndarray, bool]:
    """:func:`models.common.execution.execute_clean` with ``g1 = 1 + g`` and ``r1 = 1 + r``
    precomputed and the drifted weights at the open in the scratch buffer ``buf``.

    Returns ``(growth, cost, turnover, weights_close, clean)``; ``weights_close`` is a fresh
    array. ``clean`` is False when ``weights_close`` may hold NaN: with ``d = 1 + w . r``
    finite it cannot (``r1`` is finite, so a NaN or an infinite target weight makes ``d`` NaN
    or infinite, or non-positive, which gives zeros).
    """
    pg = float(w.dot(g))  # np.dot without its dispatch wrapper
    if 1.0 + pg <= 0.0:
        buf.fill(0.0)
    else:
        np.multiply(w, g1, out=buf)
        np.divide(buf, 1.0 + pg, out=buf)
    np.subtract(target, buf, out=buf)
    np.abs(buf, out=buf)
    turnover = float(np.add.reduce(buf))
    cost_open = tc * turnover
    pi = float(target.dot(r))
    d = 1.0 + pi
    if d <= 0.0:
        w_close = np.zeros_like(target)
    else:
        w_close = np.multiply(target, r1)
        np.divide(w_close, d, out=w_close)
    growth = (1.0 + pg) * (1.0 - cost_open) * (1.0 + pi)
    return growth, (1.0 + pg) * cost_open, turnover, w_close, d < np.inf
