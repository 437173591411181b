"""Report writers: QuantStats tearsheets, a comparison page, metrics.json and CSVs.

Everything here works offline. QuantStats is only ever given return *series* (a ticker string
would make it download from Yahoo), through the adapter in :mod:`analyzers.quantstats_fixes`
(right labels and figures for weekly and daily bars). Third-party noise that a user cannot act
on (matplotlib font warnings, pandas/QuantStats deprecation warnings) is silenced *during* each
call only; the caller's warning filters and logging levels are restored afterwards.

One set of metric definitions (:mod:`analyzers.metrics`) and one set of formats
(:func:`format_metric`: percentages and ratios with 2 decimals, money with thousands separators,
counts as integers) serve the comparison page, the console table and, for the Sharpe ratio,
the tearsheets.
"""

from __future__ import annotations

import base64
import contextlib
import html as _html
import io
import json
import logging
import math
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from analyzers.metrics import SHARPE_DEFINITION

__all__ = ["write_tearsheet", "write_comparison", "write_metrics_json", "write_weights_csv",
           "write_returns_csv", "format_metrics_table", "align_benchmark", "format_metric",
           "metric_label", "distinct_colors", "sharpe_definition"]

logger = logging.getLogger(__name__)

_NOISY_LOGGERS = ("matplotlib", "matplotlib.font_manager", "matplotlib.category", "quantstats",
                  "yfinance", "fontTools")

#: How each metric is shown: (label, kind). ``{noun}``/``{plural}`` name the bar (week, day).
#: Kinds: pct (x 100, 2 decimals, %), ratio (2 decimals), money (thousands separators, no
#: decimals), int, multiple (2 decimals and "x").
METRIC_FORMATS: dict[str, tuple[str, str]] = {
    "cumulative_return": ("Total return", "pct"),
    "cagr": ("CAGR", "pct"),
    "annual_return": ("Mean return (ann.)", "pct"),
    "volatility": ("Volatility (ann.)", "pct"),
    "sharpe": ("Sharpe", "ratio"),
    "sortino": ("Sortino", "ratio"),
    "max_drawdown": ("Max drawdown", "pct"),
    "calmar": ("Calmar", "ratio"),
    "log_return": ("Log return (ann., papers' Ret)", "pct"),
    "log_volatility": ("Log volatility (ann., papers' Vol)", "pct"),
    "mean_turnover": ("Turnover / {noun}", "pct"),
    "total_turnover": ("Turnover, total", "multiple"),
    "costs_paid": ("Costs paid", "money"),
    "costs_pct": ("Costs, % of capital", "pct"),
    "n_periods": ("{plural}", "int"),
    "final_equity": ("Growth of 1", "multiple"),
    "rejected_orders": ("Rejected orders", "int"),
    "mean_abs_position": ("Mean |position|", "pct"),
}

#: The columns of the comparison page and the console table, in order (when present).
REPORT_COLUMNS = ("cumulative_return", "cagr", "volatility", "sharpe", "sortino", "max_drawdown",
                  "calmar", "mean_turnover", "costs_paid", "costs_pct", "mean_abs_position",
                  "n_periods", "rejected_orders")


@contextlib.contextmanager
def quiet_third_party() -> Iterator[None]:
    """Silence warnings and chatty third-party loggers inside the block only."""
    saved = {}
    for name in _NOISY_LOGGERS:
        lg = logging.getLogger(name)
        saved[name] = lg.level
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def _as_returns(returns, what: str) -> pd.Series:
    if isinstance(returns, str) or not isinstance(returns, (pd.Series, pd.DataFrame)):
        raise TypeError(f"{what} must be a pd.Series of periodic returns (never a ticker string: "
                        f"QuantStats would download it); got {type(returns).__name__}")
    if isinstance(returns, pd.DataFrame):
        if returns.shape[1] != 1:
            raise ValueError(f"{what} must be a single series, got {returns.shape[1]} columns")
        returns = returns.iloc[:, 0]
    r = returns.astype(float)
    if not isinstance(r.index, pd.DatetimeIndex):
        r.index = pd.DatetimeIndex(r.index)
    if r.index.tz is not None:
        r.index = r.index.tz_localize(None)
    return r.sort_index()


def align_benchmark(benchmark: pd.Series, index: pd.DatetimeIndex) -> pd.Series:
    """Benchmark returns re-expressed on ``index``: compounded between dates, carried forward
    (never back-filled); 0 before the benchmark starts."""
    b = _as_returns(benchmark, "benchmark_returns").dropna()
    if b.index.equals(index):
        return b
    prices = (1.0 + b).cumprod()
    level = prices.reindex(prices.index.union(index)).ffill()
    at = level.reindex(index)
    before = prices.loc[prices.index < index[0]] if len(index) else prices.iloc[:0]
    start_level = float(before.iloc[-1]) if len(before) else 1.0
    prev = at.shift(1)
    if len(index):
        prev.iloc[0] = start_level
    # 0 before the benchmark starts; from its first date, growth relative to 1
    prev = prev.fillna(1.0).where(at.notna())
    out = at / prev - 1.0
    return out.fillna(0.0).rename(benchmark.name)


def sharpe_definition(periods_per_year: int) -> str:
    """The Sharpe definition as a page states it (e.g. "Sharpe = sqrt(52) x mean / ...")."""
    from analyzers.quantstats_fixes import period_words
    return SHARPE_DEFINITION.format(P=int(periods_per_year),
                                    period=period_words(periods_per_year)["adj"].lower())


def write_tearsheet(returns: pd.Series, benchmark_returns: pd.Series | None, path, title: str,
                    periods_per_year: int = 52, strategy_title: str | None = None,
                    benchmark_title: str | None = None) -> Path:
    """Write a QuantStats HTML tearsheet of ``returns`` against ``benchmark_returns``.

    QuantStats runs with the options and fixes of :mod:`analyzers.quantstats_fixes` (labels
    named after the bar, right end-of-year captions, per-period quantiles, no invented values
    before the series starts or for windows it does not cover); the page header names the Sharpe
    definition, the same as :func:`analyzers.metrics.compute_metrics`'.

    Args:
        returns: the strategy's per-period simple returns (net of costs), date-indexed.
        benchmark_returns: the benchmark's returns as a Series (aligned onto ``returns``' dates
            by compounding); None for no benchmark. A ticker string is refused.
        path: output HTML file (parent folders are created).
        title: page title.
        periods_per_year: 52 for weekly bars, 252 for daily (QuantStats' own default is 252).
    """
    from analyzers.quantstats_fixes import html_options, patched_quantstats
    r = _as_returns(returns, "returns").dropna()
    if len(r) < 2:
        raise ValueError(f"a tearsheet needs at least 2 returns, got {len(r)}")
    r = r.rename(strategy_title or returns.name or "Strategy")
    bench = None
    if benchmark_returns is not None:
        bench = align_benchmark(benchmark_returns, r.index)
        bench = bench.rename(benchmark_title or benchmark_returns.name or "Benchmark")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with quiet_third_party():
        import matplotlib.pyplot as plt
        import quantstats as qs

        kwargs = {"strategy_title": str(r.name)}
        if bench is not None:
            kwargs["benchmark_title"] = str(bench.name)
        try:
            with patched_quantstats(periods_per_year):
                qs.reports.html(r, benchmark=bench, title=title, output=str(out),
                                download_filename=out.name,
                                **html_options(periods_per_year,
                                               sharpe_definition(periods_per_year)),
                                **kwargs)
        finally:
            plt.close("all")
    return out


# ----------------------------------------------------------------------------- formatting
def metric_label(name: str, periods_per_year: int = 52) -> str:
    """The column label of a metric (``mean_turnover`` -> "Turnover / week" for weekly bars)."""
    from analyzers.quantstats_fixes import period_words
    words = period_words(periods_per_year)
    label = METRIC_FORMATS.get(name, (name, ""))[0]
    return label.format(noun=words["noun"].lower(), plural=words["plural"])


def format_metric(name: str, value) -> str:
    """A metric as every report shows it: percent and ratios with 2 decimals, money with
    thousands separators, counts as integers; missing or undefined values as "-"."""
    if value is None or isinstance(value, bool):
        return "-" if value is None else str(value)
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(v):
        return "-"
    kind = METRIC_FORMATS.get(name, ("", "ratio"))[1]
    if kind == "pct":
        return f"{v * 100:,.2f}%"
    if kind == "money":
        return f"{v:,.0f}"
    if kind == "int":
        return f"{int(round(v)):,d}"
    if kind == "multiple":
        return f"{v:,.2f}x"
    return f"{v:,.2f}"


def _metric_columns(metrics_by_strategy: Mapping[str, Mapping]) -> list[str]:
    """The report columns some strategy has (in REPORT_COLUMNS order)."""
    return [m for m in REPORT_COLUMNS if any(m in d for d in metrics_by_strategy.values())]


def format_metrics_table(metrics_by_strategy: Mapping[str, Mapping],
                         periods_per_year: int = 52) -> str:
    """A plain-text table (one row per strategy) for the terminal, formatted like the
    comparison page, with the Sharpe definition under it."""
    if not metrics_by_strategy:
        return "(no strategies)"
    cols = _metric_columns(metrics_by_strategy)
    rows = [["strategy", *(metric_label(c, periods_per_year) for c in cols)]]
    for name, m in metrics_by_strategy.items():
        rows.append([str(name), *(format_metric(c, m.get(c)) for c in cols)])
    widths = [max(len(row[j]) for row in rows) for j in range(len(rows[0]))]
    lines = []
    for k, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        lines.append("  ".join(cells))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append(f"{sharpe_definition(periods_per_year)}.")
    return "\n".join(lines)


def _jsonable(v):
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return f if math.isfinite(f) else None
    return v


def write_metrics_json(metrics_by_strategy: Mapping[str, Mapping], path) -> Path:
    """``{strategy: {metric: value}}`` as JSON; NaN/inf become null (valid JSON)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(_jsonable(metrics_by_strategy), indent=2, sort_keys=False) + "\n",
                   encoding="utf-8")
    return out


def write_weights_csv(weights_by_strategy: Mapping[str, pd.DataFrame], path) -> Path:
    """Long CSV ``date,strategy,ticker,weight`` from ``{strategy: DataFrame(date x ticker)}``."""
    frames = []
    for name, w in weights_by_strategy.items():
        df = pd.DataFrame(w).astype(float)
        df.index = pd.DatetimeIndex(df.index, name="date")
        df.columns = [str(c) for c in df.columns]
        long = (df.rename_axis(columns="ticker").stack(future_stack=True)
                .rename("weight").reset_index())
        long.insert(1, "strategy", str(name))
        frames.append(long[["date", "strategy", "ticker", "weight"]])
    table = (pd.concat(frames, ignore_index=True) if frames
             else pd.DataFrame(columns=["date", "strategy", "ticker", "weight"]))
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False, date_format="%Y-%m-%d")
    return out


def write_returns_csv(returns_by_strategy: Mapping[str, pd.Series], path) -> Path:
    """Wide CSV: one row per date, one column per strategy (empty where a strategy has none)."""
    cols = {str(k): _as_returns(v, f"returns of {k!r}") for k, v in returns_by_strategy.items()}
    table = pd.DataFrame(cols)
    table.index.name = "date"
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, date_format="%Y-%m-%d")
    return out


def distinct_colors(n: int) -> list[str]:
    """``n`` clearly different colours (hex): matplotlib's tab10 for up to 10, otherwise hues
    spread evenly around the colour wheel with alternating lightness, so neighbours differ in
    both hue and lightness and no colour repeats."""
    import colorsys

    from matplotlib import colormaps
    from matplotlib.colors import to_hex
    if n <= 0:
        return []
    if n <= 10:
        return [to_hex(c) for c in colormaps["tab10"].colors[:n]]
    out = []
    for i in range(n):
        light = (0.38, 0.58)[i % 2]
        sat = (0.85, 0.65)[(i // 2) % 2]
        out.append(to_hex(colorsys.hls_to_rgb(i / n, light, sat)))
    return out


def growth_curves(returns_by_strategy: Mapping[str, pd.Series],
                  start=None) -> dict[str, pd.Series]:
    """Growth of 1 of each strategy, every curve starting at exactly 1.

    The 1 sits at ``start`` (the close at which the test capital is counted, e.g. the last
    training bar) or, without it, one bar before the series' first date; a series that starts
    later than a few bars after ``start`` begins at 1 one bar before its own first date.
    """
    curves = {}
    for name, r in returns_by_strategy.items():
        r = _as_returns(r, f"returns of {name!r}").dropna()
        if not len(r):
            continue
        step = (pd.Series(r.index).diff().median() if len(r) > 1 else pd.Timedelta(days=1))
        anchor = r.index[0] - step
        if start is not None:
            s = pd.Timestamp(start)
            if s < r.index[0] and r.index[0] - s <= 5 * step:
                anchor = s
        level = (1.0 + r).cumprod()
        curves[str(name)] = pd.concat([pd.Series([1.0], index=[anchor]), level])
    return curves


def _equity_png(returns_by_strategy: Mapping[str, pd.Series], title: str, colors: dict,
                start=None, panels: Mapping[str, list] | None = None,
                labels: Mapping[str, str] | None = None) -> str:
    """The equity curves as a base64 PNG: one chart, or one per panel with a shared legend."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure

    curves = growth_curves(returns_by_strategy, start)
    first = min((c.index[0] for c in curves.values()), default=None)
    chart_title = (f"Growth of 1 from the close of {first:%Y-%m-%d}, net of costs"
                   if first is not None else title)
    groups = dict(panels) if panels else {"": list(curves)}
    groups = {t: [n for n in names if n in curves] for t, names in groups.items()}
    groups = {t: names for t, names in groups.items() if names} or {"": []}
    many = len(groups) > 1
    ncol = 2 if many else 1
    nrow = max(1, math.ceil(len(groups) / ncol))
    fig = Figure(figsize=(12, 3.2 * nrow + 0.9) if many else (11, 5.5), dpi=100)
    labels = dict(labels or {})
    handles: dict[str, object] = {}
    for k, (panel, names) in enumerate(groups.items()):
        ax = fig.add_subplot(nrow, ncol, k + 1)
        for name in names:
            label = labels.get(name, name)
            style = colors.get(label, ("#333333", "-"))
            (line,) = ax.plot(curves[name].index, curves[name].to_numpy(), label=label,
                              color=style[0], linestyle=style[1], linewidth=1.4)
            handles.setdefault(label, line)
        ax.axhline(1.0, color="#888888", linewidth=0.8, zorder=0)
        ax.set_title(panel or chart_title, fontsize=11)
        ax.set_ylabel("growth of 1", fontsize=9)
        ax.grid(True, alpha=0.3)
        ax.tick_params(labelsize=8)
        locator = AutoDateLocator(minticks=3, maxticks=7 if many else 10)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        if names and not many:
            ax.legend(loc="best", fontsize=8, ncol=2 if len(names) > 6 else 1)
    if many:  # the same strategies in every panel: one legend above them
        fig.suptitle(chart_title, fontsize=12)
        fig.legend(list(handles.values()), list(handles), loc="upper center",
                   ncol=min(len(handles), 6), fontsize=9, frameon=False,
                   bbox_to_anchor=(0.5, 1.0 - 0.45 / fig.get_figheight()))
        fig.tight_layout(rect=(0, 0, 1, 1.0 - 0.8 / fig.get_figheight()))
    else:
        fig.tight_layout()
    from analyzers.qs_figures import save_figure
    buf = io.BytesIO()
    save_figure(fig, buf, format="png")  # without matplotlib's extra draw after tight_layout
    return base64.b64encode(buf.getvalue()).decode("ascii")


def write_comparison(results: Mapping[str, Mapping], path, title: str = "Strategy comparison",
                     note: str | None = None, periods_per_year: int = 52, start=None,
                     panels: Mapping[str, list] | None = None,
                     labels: Mapping[str, str] | None = None,
                     extra_html: str | None = None) -> Path:
    """A self-contained HTML page: metrics of every strategy side by side and the equity curves.

    Args:
        results: ``{name: {"returns": pd.Series, "metrics": dict}}``.
        path: output HTML file.
        title: page title.
        note: optional paragraph (e.g. the test window and costs) shown under the title.
        periods_per_year: 52 for weekly bars, 252 for daily (labels and the Sharpe definition).
        start: the date at which every curve is 1 (the close before the first test bar).
        panels: optional ``{panel title: [names]}``: one chart per panel (e.g. one per stock).
        labels: optional ``{name: legend label}``; names with the same label share a colour.
        extra_html: optional trusted HTML (built by this package, e.g.
            :func:`analyzers.significance.stats_table_html`) shown under the equity curves.
    """
    metrics = {str(k): dict(v.get("metrics") or {}) for k, v in results.items()}
    returns = {str(k): v["returns"] for k, v in results.items() if v.get("returns") is not None}
    labels = {str(k): str(v) for k, v in (labels or {}).items()}
    legend = list(dict.fromkeys(labels.get(n, n) for n in metrics))
    palette = distinct_colors(len(legend))
    dashed = len(legend) > 10
    colors = {lab: (c, "--" if dashed and i % 3 == 2 else "-")
              for i, (lab, c) in enumerate(zip(legend, palette))}
    import matplotlib
    style = {"axes.spines.top": False, "axes.spines.right": False, "axes.edgecolor": "#bbbbbb",
             "axes.facecolor": "white", "figure.facecolor": "white", "axes.grid": True,
             "grid.color": "#dddddd", "font.size": 10}
    with quiet_third_party(), matplotlib.rc_context(style):  # the same look, whatever ran before
        png = _equity_png(returns, title, colors, start, panels, labels)
    cols = _metric_columns(metrics) if metrics else []
    head = "".join(f"<th>{_html.escape(metric_label(c, periods_per_year))}</th>" for c in cols)
    body = []
    for name, m in metrics.items():
        swatch = colors.get(labels.get(name, name), ("#333333", "-"))[0]
        cells = "".join(f'<td data-metric="{c}">{_html.escape(format_metric(c, m.get(c)))}</td>'
                        for c in cols)
        body.append(f'<tr data-strategy="{_html.escape(name)}"><th><span class="swatch" '
                    f'style="background:{swatch}"></span>{_html.escape(name)}</th>{cells}</tr>')
    note_html = f"<p>{_html.escape(note)}</p>" if note else ""
    from analyzers.quantstats_fixes import period_words
    words = period_words(periods_per_year)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{_html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.9em; font-variant-numeric: tabular-nums; }}
th, td {{ border: 1px solid #ccc; padding: 4px 8px; text-align: right; white-space: nowrap; }}
tbody th {{ text-align: left; }}
thead th {{ background: #f0f0f0; white-space: normal; max-width: 7em; }}
thead th:first-child {{ text-align: left; }}
tbody tr:nth-child(even) {{ background: #fafafa; }}
.swatch {{ display: inline-block; width: 0.9em; height: 0.9em; margin-right: 0.5em;
           vertical-align: -0.1em; border-radius: 2px; }}
.defs {{ max-width: 60em; font-size: 0.9em; color: #444; }}
img {{ max-width: 100%; }}
</style></head><body>
<h1>{_html.escape(title)}</h1>
{note_html}
<table id="metrics"><thead><tr><th>strategy</th>{head}</tr></thead>
<tbody>{''.join(body)}</tbody></table>
<p class="defs" id="definitions">{_html.escape(sharpe_definition(periods_per_year))}; the
tearsheets show the same figure. Sortino = &radic;{int(periods_per_year)} &times; mean /
downside deviation (target 0). Volatility = &radic;{int(periods_per_year)} &times; standard
deviation of the {words["adj"].lower()} returns. CAGR = compound annual growth; max drawdown
of the compounded equity; Calmar = CAGR / |max drawdown|. Turnover = traded value / portfolio
value per {words["noun"].lower()}. Costs = commissions paid over the window, in the backtest's
cash units and as a percentage of the capital at its start. All returns are simple returns net
of transaction costs; every curve starts at 1 at the close before the first test
{words["noun"].lower()}, where the test capital is counted (the first trades fill at the next
open).</p>
<img id="equity" alt="equity curves (growth of 1)" src="data:image/png;base64,{png}">
{extra_html or ""}</body></html>
"""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
