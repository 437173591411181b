"""System 1 strategies made of several bundles: a seed ensemble and a walk-forward schedule.

* :class:`SeedEnsemble`: N bundles of one preset (e.g. trained with seeds 0..N-1) traded as one
  strategy; each week it holds the average of the members' target weights
  (:class:`models.portfolio.composite.EnsembleAllocator`).
* :class:`WalkForward`: one bundle per trading window, each trained only on weeks before its
  window (``python -m strategies.run --walk-forward 26`` trains them); the strategy switches to
  the next window's bundle at the window's first decision, so positions carry across windows in
  one Backtrader run and one out-of-sample curve.

Both drop into any Cerebro like :class:`strategies.allocation.HybridLSTMPPO`: one weekly feed
per bundle ticker, named after it, in any order::

    cerebro.addstrategy(SeedEnsemble, bundles=[b0, b1, b2], top_k=5, trade_start=...)
    cerebro.addstrategy(WalkForward, schedule=[("2022-01-07", b_a), ("2022-07-08", b_b)])
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from feeds.errors import BundleError, ConfigError
from strategies.allocation import AllocatorStrategy, _load
from strategies.dropin import WEEKLY, bundle_frequency, match_feeds

__all__ = ["SeedEnsemble", "WalkForward", "allocator_for"]


def allocator_for(bundle, top_k: int | None = None, macro=None):
    """The allocator of a System 1 bundle: its policy (hybrid, ppo) with the bundle's K, or the
    LSTM Top-K baseline (lstm bundles) with ``top_k``. A ``top_k`` that differs from a policy
    bundle's K is refused (a policy is trained for one K). ``macro``: the yields a policy trained
    with yield features reads (:func:`models.portfolio.macro.load_yields`)."""
    from models.portfolio.allocators import LSTMTopKAllocator, allocator_from_bundle
    if bundle.variant == "lstm":
        if bundle.forecaster is None:
            raise BundleError(f"bundle {bundle.path} holds no LSTM forecaster; retrain it")
        return LSTMTopKAllocator(bundle.forecaster, int(top_k or bundle.env_config.top_k))
    k = bundle.env_config.top_k
    if top_k is not None and int(top_k) != k:
        raise BundleError(f"bundle {bundle.path} was trained for top_k={k}, not top_k={top_k}; "
                          "use that bundle's K or retrain")
    return allocator_from_bundle(bundle, macro=macro)


class _MultiBundle(AllocatorStrategy):
    """Load several System 1 bundles, check they hold the same tickers, match them to the feeds."""

    def _load_all(self, bundles) -> list:
        loaded = [_load(b) for b in bundles]
        if not loaded:
            raise ConfigError(f"{type(self).__name__} needs at least one bundle")
        first = loaded[0]
        for b in loaded:
            freq = bundle_frequency(b.manifest)
            if freq != WEEKLY:
                raise BundleError(f"bundle {b.path} was trained on {freq} bars; the System 1 "
                                  "strategies trade weekly bars: use System 1 bundles")
            if list(b.tickers) != list(first.tickers):
                raise BundleError(f"bundles {first.path} and {b.path} hold different tickers; "
                                  "combine bundles trained on one universe")
            if b.variant != first.variant:
                raise BundleError(f"bundles {first.path} ({first.variant}) and {b.path} "
                                  f"({b.variant}) are different variants; combine one preset")
        self._order = match_feeds(self._names, first.tickers, f"bundle {first.path}")
        names = [self._names[j] for j in self._order]
        for b in loaded:
            b.verify_against(names, variant=b.variant)
        return loaded


class SeedEnsemble(_MultiBundle):
    """Hold the average of the target weights of several bundles of one preset (seeds)."""

    params = (
        # Bundles (folders or loaded Bundles) of one preset, e.g. trained with seeds 0..N-1.
        ('bundles', None),
        # K: for policy bundles None or their K; for lstm bundles the K of the Top-K baseline.
        ('top_k', None),
    )

    def _make_allocator(self):
        if self.p.allocator is not None:
            return self.p.allocator
        from models.portfolio.composite import EnsembleAllocator
        loaded = self._load_all(self.p.bundles or [])
        self.bundles = loaded
        self.bundle = loaded[0]
        return EnsembleAllocator([allocator_for(b, self.p.top_k, self.p.macro) for b in loaded])


class WalkForward(_MultiBundle):
    """Trade window by window, each with the bundle trained on the weeks before it.

    ``schedule`` is a list of ``(first decision date, bundle)`` in date order (the bundle may be
    a list of bundles: their seed ensemble trades that window): the bundle of an entry decides at the close of every week from its date (inclusive) until the next entry's
    date (exclusive). Each entry's date must be at or after the last training week of its bundle
    (a bundle never trades a week it was trained on); the first entry's date is the first
    decision, and ``trade_start`` defaults to it.
    """

    params = (
        # [(date, bundle), ...]: date = the first decision (a week's close) of that bundle.
        ('schedule', None),
        # K as in SeedEnsemble.
        ('top_k', None),
    )

    def __init__(self):
        sched = list(self.p.schedule or [])
        if not sched:
            raise ConfigError("WalkForward needs schedule=[(first decision date, bundle), ...]")
        try:
            self._dates = [pd.Timestamp(d).normalize() for d, _ in sched]
        except (TypeError, ValueError) as e:
            raise ConfigError(f"WalkForward: schedule dates must be dates ({e})") from None
        if any(b <= a for a, b in zip(self._dates, self._dates[1:])):
            raise ConfigError("WalkForward: schedule dates must be strictly increasing")
        if self.p.trade_start is None:
            self.p.trade_start = self._dates[0]
        super().__init__()

    def _make_allocator(self):
        from models.portfolio.composite import EnsembleAllocator
        groups = [list(b) if isinstance(b, (list, tuple)) else [b] for _, b in self.p.schedule]
        if any(not g for g in groups):
            raise ConfigError("WalkForward: a schedule entry has an empty list of bundles")
        flat = self._load_all([b for g in groups for b in g])
        loaded, k = [], 0
        for g in groups:  # back into one list of bundles per window
            loaded.append(flat[k:k + len(g)])
            k += len(g)
        for d, b in ((d, b) for d, g in zip(self._dates, loaded) for b in g):
            last = (b.manifest.get("training_window") or {}).get("last")
            if last is None:
                raise BundleError(f"bundle {b.path} does not record its training window; "
                                  "retrain it (python -m strategies.run --retrain)")
            last = pd.Timestamp(last)
            if last > d:
                raise BundleError(f"bundle {b.path} was trained up to {last.date()}, after its "
                                  f"first decision {d.date()}: it would trade weeks it was "
                                  "trained on; schedule it from its last training week on")
        self.bundles = flat
        self.bundle = flat[0]
        mac = self.p.macro
        self._allocators = [allocator_for(g[0], self.p.top_k, mac) if len(g) == 1 else
                            EnsembleAllocator([allocator_for(b, self.p.top_k, mac) for b in g])
                            for g in loaded]
        self.window_of: list[tuple] = []  # (decision date, window index)
        return self._allocators[0]

    def target_weights(self):
        today = pd.Timestamp(self.datetime.date(0))
        i = int(np.searchsorted(np.array(self._dates, dtype="datetime64[ns]"),
                                np.datetime64(today, "ns"), side="right")) - 1
        self.allocator = self._allocators[max(i, 0)]
        self.window_of.append((today, max(i, 0)))
        return super().target_weights()
