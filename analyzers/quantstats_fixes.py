"""A thin, documented adapter that makes QuantStats 0.0.86 tearsheets right for weekly and daily bars.

QuantStats names every per-period figure after a day and has a few helpers that misplace or
invent values. :func:`write_tearsheet <analyzers.reports.write_tearsheet>` calls
``qs.reports.html`` inside :func:`patched_quantstats`, which swaps in the small fixes below for
the duration of that call only (everything is restored afterwards, also on error). QuantStats
itself is not rewritten: each fix wraps one QuantStats function and corrects its output, except
F6 and F9, which replace one plotting helper and one 20-line wrapper whose data preparation is
wrong for every input.

Each fix is pinned by ``tests/analyzers/test_quantstats_pins.py``: a pin reproduces the fault
with the unpatched QuantStats, so an upgrade that changes the behaviour fails there loudly (then
check whether the fix is still needed and remove it if not).

===  ==========================================================  ================================
fix  QuantStats 0.0.86                                            here
===  ==========================================================  ================================
F1   names per-period rows after days whatever                    named after the bar: "Expected
     ``periods_per_year`` ("Expected Daily", "Daily Value-at-      Weekly", "Best Week", "Win
     Risk", "Best/Worst Day", "Win Days"; QuantStats issue #133)   Weeks", ...
F2   labels the CAGR row "CAGR﹪" (U+FE6A, a glyph most fonts     "CAGR"
     lack: a missing-glyph box)
F3   fills 3M/6M/1Y/3Y/5Y/10Y from whatever data there is, so     "-" when the series does not
     two years of data give a "10Y (ann.)" equal to all-time      cover the window
F4   computes "Risk-Adjusted Return" with 252 periods a year      CAGR / time in market with the
     whatever ``periods_per_year`` (906% for a weekly 61% CAGR)    report's periods per year
F5   places the end-of-year bar labels on ticks 0, 1, 2, ...       labels on the bars' own
     while pandas draws the bars at year offsets: every bar        positions
     reads one year late (QuantStats PR #515)
F6   Return Quantiles: assigns resampled series back onto the     one value per calendar week,
     original dates (mostly NaN, then forward-filled): empty      month, quarter and year; the
     Weekly/Yearly boxes for weekly bars, wrong Monthly box       first box named after the bar
F7   draws the 6-month rolling beta as 0.0 until the window       NaN until the window fills;
     fills (``fillna(0)``), and its mean line includes the zeros   mean of the defined values
F8   shows months outside the series as 0.00 in the monthly       blank cells
     heatmap (``fillna(0)``)
F9   "Daily Returns (Cumulative Sum)": resamples the cumulative   no resampling; titled after
     sum to calendar days with ``sum``, so every day without a    the bar ("Weekly Returns
     bar (weekends; six days a week for weekly bars) drops to 0   (Cumulative Sum)")
F10  prints table figures as ``str(round(x, 2))``: "1.8" beside   two decimals, as on every
     "1.85", "33.3%" beside "33.35%"                              other page
===  ==========================================================  ================================

QuantStats' own options do the rest (see :func:`html_options`): ``periods_per_year``
(annualisation and the 6/12-month rolling windows), ``match_dates=False`` (``_match_dates``
would start the page at the first non-zero return of either series, later than the series),
``rf=0``, ``compounded=True``, ``parameters`` (the Sharpe definition in the page header), and
SVG figures with their text kept as text (``svg.fonttype = "none"``), which the browser renders
with its own fonts and a test can read.

:func:`patched_quantstats` also installs the work savers of :mod:`analyzers.qs_figures` (each
strategy-only figure drawn once per run, no redraw after saving); they change no figure.
"""

from __future__ import annotations

import contextlib
import html as _html
import logging
import re
from collections.abc import Iterator

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

__all__ = ["patched_quantstats", "period_words", "period_returns", "html_options",
           "QUANTSTATS_VERSION"]

QUANTSTATS_VERSION = "0.0.86"
"""The QuantStats release these fixes were written and pinned against."""

#: QuantStats' trailing-window rows and the window each one needs (F3).
WINDOW_ROWS = {"3M": pd.DateOffset(months=3), "6M": pd.DateOffset(months=6),
               "1Y": pd.DateOffset(years=1), "3Y (ann.)": pd.DateOffset(years=3),
               "5Y (ann.)": pd.DateOffset(years=5), "10Y (ann.)": pd.DateOffset(years=10)}


def period_words(periods_per_year: int) -> dict[str, str]:
    """Names of one bar: ``{"noun": "Week", "adj": "Weekly", "plural": "Weeks"}`` for 52."""
    p = float(periods_per_year)
    if p >= 200:
        return {"noun": "Day", "adj": "Daily", "plural": "Days"}
    if p >= 40:
        return {"noun": "Week", "adj": "Weekly", "plural": "Weeks"}
    if p >= 10:
        return {"noun": "Month", "adj": "Monthly", "plural": "Months"}
    return {"noun": "Period", "adj": "Per-period", "plural": "Periods"}


def html_options(periods_per_year: int, sharpe_definition: str | None = None) -> dict:
    """The QuantStats options of every tearsheet (passed to ``qs.reports.html``)."""
    opts = {"rf": 0.0, "compounded": True, "periods_per_year": int(periods_per_year),
            "match_dates": False, "figfmt": "svg"}
    if sharpe_definition:  # shown in the page header as "Sharpe: <definition>"
        text = sharpe_definition.removeprefix("Sharpe = ")
        opts["parameters"] = {"Sharpe": _html.escape(text)}
    return opts


# ----------------------------------------------------------------------------- helpers
def _save(fig, savefig) -> None:
    from analyzers.qs_figures import save_figure
    if not savefig:
        return
    if isinstance(savefig, dict):
        save_figure(fig, **savefig)
    else:
        save_figure(fig, savefig)


def _refigure(original, fix):
    """Wrap a QuantStats plot function: draw with ``show=False`` and no file, ``fix(fig, ...)``,
    then save where the caller asked."""
    def wrapper(*args, savefig=None, show=True, **kwargs):
        fig = original(*args, savefig=None, show=False, **kwargs)
        if fig is not None:
            fix(fig, *args, **kwargs)
            _save(fig, savefig)
        return None if show else fig
    wrapper.__wrapped__ = original
    return wrapper


def _series_start(index: pd.DatetimeIndex) -> pd.Timestamp:
    """When the first return's bar began (one bar before the first date)."""
    if len(index) > 1:
        return index[0] - (index[1] - index[0])
    return index[0]


# ----------------------------------------------------------------------------- F1-F4 table
def fix_metrics_table(table: pd.DataFrame, returns, benchmark, periods_per_year: int,
                      compounded: bool = True, strategy_title=None,
                      benchmark_title=None) -> pd.DataFrame:
    """F1-F4 and F10 on the metrics table of ``qs.reports.metrics(..., internal=True)``."""
    from quantstats import stats as qs_stats
    words = period_words(periods_per_year)
    t = table.copy()
    # F4 before renaming: CAGR / exposure with the right periods per year
    if "Risk-Adjusted Return" in t.index:
        by_col = {}
        if strategy_title is not None and isinstance(returns, pd.Series):
            by_col[strategy_title] = returns
        if benchmark_title is not None and isinstance(benchmark, pd.Series):
            by_col[benchmark_title] = benchmark
        for col, s in by_col.items():
            if col in t.columns:
                s = s.fillna(0.0)
                value = (qs_stats.cagr(s, 0.0, compounded, periods_per_year)
                         / qs_stats.exposure(s, prepare_returns=False))
                t.loc["Risk-Adjusted Return", col] = (f"{round(float(value) * 100, 2)}%"
                                                      if np.isfinite(value) else "-")
    # F3: trailing windows the series does not cover
    index = returns.dropna().index if isinstance(returns, pd.Series) else None
    if index is not None and len(index):
        start, last = _series_start(index), index[-1]
        for row, span in WINDOW_ROWS.items():
            if row in t.index and start > last - span:
                t.loc[row] = "-"
    # F1 and F2: labels
    names = {"CAGR\ufe6a": "CAGR"}
    if words["adj"] != "Daily":
        names.update({"Expected Daily": f"Expected {words['adj']}",
                      "Daily Value-at-Risk": f"{words['adj']} Value-at-Risk",
                      "Best Day": f"Best {words['noun']}", "Worst Day": f"Worst {words['noun']}",
                      "Win Days": f"Win {words['plural']}"})
        # a monthly series already has "Expected Monthly", "Best Month", ...: keep one row
        clash = [old for old, new in names.items() if new in t.index and old in t.index]
        t = t.drop(index=clash)
    t.index = [names.get(i, i) for i in t.index]
    # F10: two decimals everywhere ("1.8" -> "1.80", "33.3%" -> "33.30%")
    return t.map(lambda v: re.sub(r"^(-?\d+\.\d)(%?)$", r"\g<1>0\2", v)
                 if isinstance(v, str) else v)


def _metrics_wrapper(original, periods_per_year: int):
    def metrics(returns, benchmark=None, *args, **kwargs):
        table = original(returns, benchmark, *args, **kwargs)
        if not isinstance(table, pd.DataFrame):
            return table
        return fix_metrics_table(table, returns, benchmark, periods_per_year,
                                 kwargs.get("compounded", True), kwargs.get("strategy_title"),
                                 kwargs.get("benchmark_title"))
    metrics.__wrapped__ = original
    return metrics


# ----------------------------------------------------------------------------- F5 EOY bars
def _fix_year_labels(fig, returns, *args, **kwargs) -> None:
    """Put each year under its own bars (F5)."""
    ax = fig.axes[0]
    bars = [c for c in ax.containers if len(c)]
    r = returns.dropna() if isinstance(returns, (pd.Series, pd.DataFrame)) else None
    if not bars or r is None or not len(r):
        return
    years = sorted(set(r.index.year))
    if any(len(c) != len(years) for c in bars):
        log.warning("EOY chart: %d bars for %d years; labels left as QuantStats drew them",
                    len(bars[0]), len(years))
        return
    centres = np.mean([[p.get_x() + p.get_width() / 2 for p in c] for c in bars], axis=0)
    ax.set_xticks(centres, labels=[str(y) for y in years], rotation=0,
                  horizontalalignment="center")


# ----------------------------------------------------------------------------- F6 quantiles
def period_returns(returns: pd.Series, periods_per_year: int,
                   compounded: bool = True) -> dict[str, pd.Series]:
    """One return per calendar period, for the bar's own period and every longer one (F6).

    ``{"Weekly": <the bars' returns>, "Monthly": ..., "Quarterly": ..., "Yearly": ...}`` for
    weekly bars; daily bars add "Daily" first. Periods cut by the series' ends are included.
    """
    r = pd.Series(returns, dtype=float).dropna()
    native = period_words(periods_per_year)["adj"]
    out = {native: r}
    for name, freq in (("Weekly", "W"), ("Monthly", "M"), ("Quarterly", "Q"), ("Yearly", "Y")):
        if name in out or (native != "Daily" and name == "Weekly"):
            continue  # the bar's own period, or one shorter than the bar
        groups = r.groupby(r.index.to_period(freq))
        agg = groups.apply(lambda g: float(np.prod(1.0 + g.to_numpy()) - 1.0)) if compounded \
            else groups.sum()
        out[name] = agg
    return out


def _quantiles_plotter(periods_per_year: int):
    """A replacement for ``quantstats._plotting.core.plot_distribution`` (F6)."""
    def plot_distribution(returns, figsize=(10, 6), fontname="Arial", grayscale=False,
                          ylabel=True, subtitle=True, compounded=True, title=None,
                          savefig=None, show=True):
        import matplotlib.pyplot as plt
        from quantstats._plotting.core import _FLATUI_COLORS
        colors = (["#f9f9f9", "#dddddd", "#bbbbbb", "#999999", "#808080"] if grayscale
                  else list(_FLATUI_COLORS))
        series = returns.iloc[:, 0] if isinstance(returns, pd.DataFrame) else returns
        groups = period_returns(series, periods_per_year, compounded)
        fig, ax = plt.subplots(figsize=figsize)
        for side in ("top", "right", "bottom", "left"):
            ax.spines[side].set_visible(False)
        name = f"{title} - Return Quantiles" if title else "Return Quantiles"
        fig.suptitle(name, y=0.94, fontweight="bold", fontname=fontname, fontsize=14,
                     color="black")
        if subtitle and len(series):
            ax.set_title(f"{series.index[0]:%e %b '%y} - {series.index[-1]:%e %b '%y}\n",
                         fontsize=12, color="gray")
        fig.set_facecolor("white")
        ax.set_facecolor("white")
        labels = list(groups)
        box = ax.boxplot([g.to_numpy() for g in groups.values()], tick_labels=labels,
                         patch_artist=True, widths=0.6,
                         medianprops={"color": "#333333"},
                         flierprops={"marker": "o", "markersize": 4,
                                     "markerfacecolor": "none"})
        for patch, color in zip(box["boxes"], colors):
            patch.set_facecolor(color)
            patch.set_edgecolor("#555555")
        ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda x, _: f"{x * 100:,.0f}%"))
        ax.grid(axis="y", alpha=0.3)
        if ylabel:
            ax.set_ylabel("Returns", fontname=fontname, fontweight="bold", fontsize=12,
                          color="black")
            ax.yaxis.set_label_coords(-0.1, 0.5)
        try:
            fig.tight_layout(w_pad=0, h_pad=0)
        except (ValueError, RuntimeError):  # pragma: no cover - layout is best effort
            pass
        _save(fig, savefig)
        if show:  # pragma: no cover - never shown in reports
            plt.show(block=False)
        plt.close(fig)
        return None if show else fig
    return plot_distribution


# ----------------------------------------------------------------------------- F7 beta
def _fix_rolling_beta(fig, returns, benchmark, *args, window1=126, **kwargs) -> None:
    """The short-window beta is NaN (not drawn) until its window fills; mean of defined values."""
    from quantstats import stats as qs_stats
    if not isinstance(returns, pd.Series):
        return
    ax = fig.axes[0]
    beta = qs_stats.rolling_greeks(returns, benchmark, window1)["beta"]
    zero_filled = beta.fillna(0)
    lines = ax.get_lines()
    if not lines:
        return
    first = lines[0]
    if len(first.get_ydata()) != len(beta):
        return
    first.set_ydata(beta.to_numpy(dtype=float))
    old_mean, new_mean = float(zero_filled.mean()), float(beta.mean())
    for line in lines[1:]:
        y = np.asarray(line.get_ydata(), dtype=float)
        if len(y) == 2 and np.allclose(y, old_mean) and line.get_linestyle() == "--":
            line.set_ydata([new_mean, new_mean])
            break


# ----------------------------------------------------------------------------- F8 heatmap
def _monthly_returns_wrapper(original):
    def monthly_returns(returns, eoy=True, compounded=True, prepare_returns=True):
        table = original(returns, eoy=eoy, compounded=compounded,
                         prepare_returns=prepare_returns)
        s = returns.iloc[:, 0] if isinstance(returns, pd.DataFrame) else returns
        s = pd.Series(s).dropna()
        if not len(s):
            return table
        have = {(f"{d.year}", f"{d:%b}".upper()) for d in s.index}
        out = table.astype(float)
        for year in out.index:
            for month in out.columns:
                if month != "EOY" and (str(year), month) not in have:
                    out.loc[year, month] = np.nan
        return out
    monthly_returns.__wrapped__ = original
    return monthly_returns


# ----------------------------------------------------------------------------- F9 per bar
def _per_bar_returns_plotter(periods_per_year: int):
    """A replacement for ``qs.plots.daily_returns`` (F9): the same chart, without the
    ``resample("D").sum()`` of the cumulative sum, and titled after the bar."""
    adj = period_words(periods_per_year)["adj"]

    def daily_returns(returns, benchmark, grayscale=False, figsize=(10, 4), fontname="Arial",
                      lw=0.5, log_scale=False, ylabel="Returns", subtitle=True, savefig=None,
                      show=True, prepare_returns=True, active=False):
        from quantstats import utils as qs_utils
        from quantstats._plotting import core as qs_core
        if prepare_returns:
            returns = qs_utils._prepare_returns(returns)
            if active and benchmark is not None:
                returns = returns - qs_utils._prepare_returns(benchmark)
        title = f"{adj} {'Active ' if active else ''}Returns (Cumulative Sum)"
        return qs_core.plot_timeseries(returns, None, title, ylabel=ylabel,
                                       match_volatility=False, log_scale=log_scale,
                                       resample=None, compound=False, lw=lw, figsize=figsize,
                                       fontname=fontname, grayscale=grayscale,
                                       subtitle=subtitle, savefig=savefig, show=show)
    return daily_returns


# ----------------------------------------------------------------------------- the patch
@contextlib.contextmanager
def patched_quantstats(periods_per_year: int) -> Iterator[None]:
    """Fixes F1-F10 active inside the block only (QuantStats and matplotlib restored after)."""
    import matplotlib
    import quantstats
    from quantstats import plots as qs_plots
    from quantstats import reports as qs_reports
    from quantstats import stats as qs_stats
    from quantstats._plotting import core as qs_core
    from quantstats._plotting import wrappers as qs_wrappers

    from analyzers.qs_figures import NO_REDRAW_PYPLOT, STRATEGY_ONLY, shared_figures

    if quantstats.__version__ != QUANTSTATS_VERSION:
        log.warning("QuantStats %s is installed; the tearsheet fixes were pinned against %s "
                    "(run tests/analyzers/test_quantstats_pins.py)", quantstats.__version__,
                    QUANTSTATS_VERSION)
    swaps = [
        (qs_reports, "metrics", _metrics_wrapper(qs_reports.metrics, periods_per_year)),
        (qs_plots, "yearly_returns", _refigure(qs_plots.yearly_returns, _fix_year_labels)),
        (qs_core, "plot_distribution", _quantiles_plotter(periods_per_year)),
        (qs_plots, "rolling_beta", _refigure(qs_plots.rolling_beta, _fix_rolling_beta)),
        (qs_stats, "monthly_returns", _monthly_returns_wrapper(qs_stats.monthly_returns)),
        (qs_plots, "daily_returns", _per_bar_returns_plotter(periods_per_year)),
        # not fixes: the same pages with less drawing (analyzers.qs_figures)
        (qs_core, "_plt", NO_REDRAW_PYPLOT), (qs_wrappers, "_plt", NO_REDRAW_PYPLOT),
    ]
    replaced = {name: new for obj, name, new in swaps if obj is qs_plots}
    swaps = [s for s in swaps if not (s[0] is qs_plots and s[1] in STRATEGY_ONLY)]
    swaps += [(qs_plots, name, shared_figures(replaced.get(name, getattr(qs_plots, name)), name,
                                              f"periods_per_year={int(periods_per_year)}"))
              for name in STRATEGY_ONLY]
    saved = [(obj, name, getattr(obj, name)) for obj, name, _ in swaps]
    try:
        for obj, name, new in swaps:
            setattr(obj, name, new)
        with matplotlib.rc_context({"svg.fonttype": "none"}):
            yield
    finally:
        for obj, name, old in saved:
            setattr(obj, name, old)
