"""Less drawing for the same QuantStats tearsheets: figures shared between pages, no idle redraw.

A run writes one tearsheet per (strategy, benchmark) pair, so the same strategy's returns go
through QuantStats several times. Half of a tearsheet's figures show the strategy alone (the
per-bar returns, rolling Sharpe and Sortino, drawdown periods, underwater plot, monthly heatmap,
return quantiles): for a given series they are the same on every page. :func:`shared_figures`
wraps those QuantStats plot functions so that each such figure is drawn once and its saved bytes
are reused by the next page that asks for exactly the same figure.

A figure is reused only when everything it is drawn from is identical: the plot function, the
returns (values, dates, dtype and name), every other argument, the save options (format, ...),
the periods per year of the active fixes and every matplotlib rcParam. The benchmark is left
out of the key only where QuantStats ignores it (``daily_returns`` and ``monthly_heatmap`` draw
the benchmark only with ``active=True``, and such calls are never reused).

:data:`NO_REDRAW_PYPLOT` stands in for ``matplotlib.pyplot`` inside QuantStats' plotting
modules: its ``savefig`` saves the current figure like pyplot's but skips pyplot's trailing
``canvas.draw_idle()``, which with the Agg backend renders the whole figure a second time for a
screen that does not exist (the figure is closed right after). The saved file is the same.

Both are installed by :func:`analyzers.quantstats_fixes.patched_quantstats` for the duration
of one ``qs.reports.html`` call; the cache itself lives for the process (bounded, see
:data:`MAX_FIGURES`) so that the tearsheets of one run share it; :func:`clear_figure_cache`
empties it.
"""

from __future__ import annotations

import hashlib
import io
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import pandas as pd

__all__ = [
    "MAX_FIGURES",
    "NO_REDRAW_PYPLOT",
    "STRATEGY_ONLY",
    "clear_figure_cache",
    "figure_cache_info",
    "save_figure",
    "shared_figures",
]

#: QuantStats plot functions (``quantstats.plots``) whose figure shows the strategy alone, and
#: the positional index of a benchmark argument each of them ignores unless ``active=True``.
STRATEGY_ONLY: dict[str, int | None] = {
    "daily_returns": 1, "monthly_heatmap": 1, "rolling_sharpe": None, "rolling_sortino": None,
    "drawdowns_periods": None, "drawdown": None, "distribution": None,
}

#: Figures kept (least recently used dropped first): 7 per strategy, a few strategies' worth.
MAX_FIGURES = 64

_CACHE: OrderedDict[str, bytes] = OrderedDict()
_STATS = {"hits": 0, "misses": 0}


def clear_figure_cache() -> None:
    """Forget every shared figure (and reset the hit/miss counts)."""
    _CACHE.clear()
    _STATS.update(hits=0, misses=0)


def figure_cache_info() -> dict[str, int]:
    """``{"hits": ..., "misses": ..., "size": ...}`` of the shared-figure cache."""
    return {**_STATS, "size": len(_CACHE)}


def save_figure(fig, *args, **kwargs):
    """``fig.savefig(*args, **kwargs)``, without the hidden extra draw of a figure that ran
    ``tight_layout``: that leaves a do-nothing placeholder layout engine on the figure, and
    matplotlib draws a figure with any layout engine once more (output discarded) before
    printing it. The placeholder is removed first (the layout is already applied); a real
    layout engine (constrained, tight) is kept."""
    import matplotlib
    from matplotlib.layout_engine import PlaceHolderLayoutEngine
    if isinstance(fig.get_layout_engine(), PlaceHolderLayoutEngine):
        # None means "no engine at all" unless an rcParam asks for one by default
        with matplotlib.rc_context({"figure.autolayout": False,
                                    "figure.constrained_layout.use": False}):
            fig.set_layout_engine(None)
    return fig.savefig(*args, **kwargs)


class _NoRedrawPyplot:
    """``matplotlib.pyplot`` whose ``savefig`` does not redraw the figure after saving it."""

    def __getattr__(self, name: str):
        import matplotlib.pyplot as plt
        return getattr(plt, name)

    @staticmethod
    def savefig(*args, **kwargs):
        import matplotlib.pyplot as plt
        return save_figure(plt.gcf(), *args, **kwargs)


NO_REDRAW_PYPLOT = _NoRedrawPyplot()


def _feed(h, value) -> None:
    """Hash ``value`` into ``h``: pandas objects by type, name, dates and values; numbers,
    strings and containers by repr; anything else refuses (ValueError: do not cache)."""
    if isinstance(value, (pd.Series, pd.DataFrame)):
        h.update(f"<{type(value).__name__} {value.shape} {value.dtypes!r}>".encode())
        names = [value.name] if isinstance(value, pd.Series) else list(value.columns)
        h.update(repr(names).encode())
        h.update(repr(value.index).encode() if not isinstance(value.index, pd.DatetimeIndex)
                 else value.index.asi8.tobytes() + str(value.index.dtype).encode())
        h.update(np.ascontiguousarray(value.to_numpy()).tobytes())
    elif isinstance(value, (list, tuple)):
        h.update(f"<{type(value).__name__} {len(value)}>".encode())
        for v in value:
            _feed(h, v)
    elif isinstance(value, dict):
        h.update(f"<dict {len(value)}>".encode())
        for k in sorted(value, key=repr):
            _feed(h, k)
            _feed(h, value[k])
    elif value is None or isinstance(value, (bool, int, float, str, np.number)):
        h.update(f"{type(value).__name__}:{value!r};".encode())
    else:
        raise ValueError(f"cannot fingerprint {type(value).__name__}")


def _rc_fingerprint() -> str:
    import matplotlib
    return hashlib.sha256(repr(sorted(matplotlib.rcParams.items())).encode()).hexdigest()


def shared_figures(original: Callable, name: str, context: str) -> Callable:
    """``original`` (a QuantStats plot function named ``name``), drawing each distinct figure
    once: a call that saves into a stream (``savefig={"fname": <BytesIO>, ...}``, ``show=False``)
    gets the bytes of an identical earlier figure when there is one. ``context`` is anything
    else the figure depends on (e.g. the periods per year of the active fixes)."""
    skip = STRATEGY_ONLY[name]

    def wrapper(*args, savefig=None, show=True, **kwargs):
        stream = savefig.get("fname") if isinstance(savefig, dict) else None
        if show or not isinstance(stream, io.BytesIO) or kwargs.get("active"):
            return original(*args, savefig=savefig, show=show, **kwargs)
        key_args = [a for i, a in enumerate(args) if i != skip]
        key_kwargs = {k: v for k, v in kwargs.items() if not (skip is not None
                                                             and k == "benchmark")}
        h = hashlib.sha256(f"{name}|{context}|{_rc_fingerprint()}".encode())
        try:
            _feed(h, (key_args, key_kwargs, {k: v for k, v in savefig.items() if k != "fname"}))
        except ValueError:  # an argument we cannot fingerprint: draw it, do not cache
            return original(*args, savefig=savefig, show=show, **kwargs)
        key = h.hexdigest()
        if key in _CACHE:
            _CACHE.move_to_end(key)
            _STATS["hits"] += 1
            stream.write(_CACHE[key])
            return None
        start = stream.tell()
        out = original(*args, savefig=savefig, show=show, **kwargs)
        _STATS["misses"] += 1
        _CACHE[key] = stream.getvalue()[start:]
        while len(_CACHE) > MAX_FIGURES:
            _CACHE.popitem(last=False)
        return out

    wrapper.__wrapped__ = original
    return wrapper
