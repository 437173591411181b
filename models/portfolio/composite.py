"""Allocators made of other allocators: a seed ensemble (average of target weights).

:class:`EnsembleAllocator` turns N trained allocators (for example the same preset trained with N
seeds) into one: each member is asked for its target weights from the same inputs (the history up
to t and the weights actually held at the close of t) and the ensemble holds their average. The
average of long-only, fully invested weights is long-only and fully invested; it may hold more
than K assets (up to N x K), which is the point: seed noise in the choice of the K assets
averages out.

The walk-forward schedule (one allocator per trading window) lives in the strategy
(:class:`strategies.composite.WalkForward`), because choosing by date is the strategy's job.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from feeds.errors import ConfigError
from models.portfolio.allocators import Allocator


class EnsembleAllocator(Allocator):
    """The average of the members' target weights (optionally weighted).

    Args:
        members: allocators over the same assets in the same order.
        weights: optional non-negative weight per member (default: equal); normalised to sum 1.
    """

    name = "ensemble"

    def __init__(self, members: Sequence[Allocator], weights: Sequence[float] | None = None):
        members = list(members)
        if not members:
            raise ConfigError("EnsembleAllocator needs at least one member allocator")
        w = np.ones(len(members)) if weights is None else np.asarray(weights, dtype=np.float64)
        if w.shape != (len(members),) or not np.all(np.isfinite(w)) or (w < 0).any() \
                or w.sum() <= 0:
            raise ConfigError(f"EnsembleAllocator: weights must be {len(members)} non-negative "
                              f"numbers with a positive sum, got {weights!r}")
        self.members, self.member_weights = members, w / w.sum()
        self.history_needed = max(int(getattr(m, "history_needed", 1)) for m in members)
        #: the bar's date is passed on to the members that read dated inputs (yield features)
        self.uses_dates = any(getattr(m, "uses_dates", False) for m in members)

    def target_weights(self, log_return_history, prev_weights, mask_t, mask_history=None,
                       date=None):
        out = None
        for m, wm in zip(self.members, self.member_weights):
            kw = {"date": date} if getattr(m, "uses_dates", False) else {}
            w = np.asarray(m.target_weights(log_return_history, prev_weights, mask_t,
                                            mask_history, **kw), dtype=np.float64)
            out = wm * w if out is None else out + wm * w
        return out
