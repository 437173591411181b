"""Walk-forward evaluation of the learned System 1 presets (``RunConfig.walk_forward > 0``).

The paper evaluates one model trained on the first 70% of the weeks. Walk-forward retrains every
``W`` weeks instead: window ``i`` trains on the weeks before its trading window and trades the
next ``W`` weeks, and the windows are stitched into one out-of-sample curve by one Backtrader run
of :class:`strategies.composite.WalkForward` (positions carry across windows; the switch is just
a new target at the window's first decision).

Rows (weeks of the panel, 0-based; ``n0`` = the paper's split, ``train_frac`` of the weeks):

* window ``i`` trains on rows ``[lo_i, hi_i)`` with ``hi_i = n0 + i * W`` and ``lo_i = 0``
  (``expanding``) or ``lo_i = hi_i - n0`` (``rolling``: as many weeks as the first window);
* its first decision is at the close of row ``hi_i - 1`` (its last training week, exactly like
  the single split's first decision) and fills at the open of row ``hi_i``; it decides until the
  close of row ``hi_{i+1} - 2``; the next window takes over at the close of ``hi_{i+1} - 1``.

So the test weeks are the single split's test weeks, every model trades only weeks after its
training window, and the first window's models are the single split's models (same data key,
same bundles). Each window is trained by its own :class:`~strategies.pipeline.system1.Trainer`
on a panel cut at its last training week: the rows it trades are not even in its input.
"""

from __future__ import annotations

from dataclasses import dataclass

from feeds.errors import ConfigError

MODES = ("expanding", "rolling")


@dataclass(frozen=True)
class Window:
    """One walk-forward window: training rows ``[lo, hi)``, first decision at row ``hi - 1``."""

    index: int
    lo: int
    hi: int
    trade_end: int  #: rows traded: decisions at hi-1 .. trade_end-2, returns of hi .. trade_end-1


def windows(n_weeks: int, n0: int, every: int, mode: str = "expanding") -> list[Window]:
    """The walk-forward windows of a panel of ``n_weeks`` weeks split at ``n0``.

    ``every = 0`` gives the single split as one window.
    """
    if mode not in MODES:
        raise ConfigError(f"walk-forward mode must be one of {', '.join(MODES)}, got {mode!r}")
    if every < 0:
        raise ConfigError(f"walk-forward period must be >= 0 weeks, got {every}")
    if every == 0:
        return [Window(0, 0, n0, n_weeks)]
    if every < 4:
        raise ConfigError(f"walk-forward every {every} weeks retrains too often for the "
                          "weekly models; use at least 4 (e.g. --walk-forward 26)")
    out, hi = [], n0
    while hi < n_weeks:
        lo = 0 if mode == "expanding" else hi - n0
        out.append(Window(len(out), lo, hi, min(hi + every, n_weeks)))
        hi += every
    return out


def window_trainers(panel, n0: int, run) -> list[tuple[Window, object]]:
    """A :class:`~strategies.pipeline.system1.Trainer` per window, each on a panel that ends
    at its window's last training week."""
    from strategies.pipeline.system1 import Trainer
    out = []
    for w in windows(len(panel), n0, run.walk_forward, run.walk_forward_mode):
        sub = panel.slice(panel.index[w.lo], panel.index[w.hi - 1])
        out.append((w, Trainer(sub, len(sub), run)))
    return out


def walk_forward_params(preset, trainers: list[tuple[Window, object]], panel) -> dict:
    """Parameters of :class:`strategies.composite.WalkForward` for a learned preset: each
    window's bundle (trained or reused) from its first decision on."""
    schedule = []
    for w, tr in trainers:
        b = tr.lstm_bundle() if preset.family == "lstm" else tr.policy_bundle(preset)
        schedule.append((panel.index[w.hi - 1], b))
    return {"schedule": schedule, "top_k": preset.top_k,
            "trade_start": panel.index[trainers[0][0].hi - 1],
            "macro": macro_for(preset, trainers[0][1].run)}


def macro_for(preset, run) -> object:
    """The yields a learned preset's policies read (its EnvConfig has yield features), else
    None; every seed and window of a preset shares that config."""
    from models.portfolio.macro import yields_for
    from strategies.pipeline.system1 import configs
    return None if preset.family == "lstm" else yields_for(configs(run, preset)[0])
