"""Report writers: QuantStats tearsheets, a comparison page, metrics.json and CSVs.

Everything here works offline. QuantStats is only ever given return *series* (a ticker string
would make it download from Yahoo). Third-party noise that a user cannot act on (matplotlib
font warnings, pandas/QuantStats deprecation warnings) is silenced *during* each call only; the
caller's warning filters and logging levels are restored afterwards.
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

from analyzers.metrics import METRIC_NAMES

__all__ = ["write_tearsheet", "write_comparison", "write_metrics_json", "write_weights_csv",
           "write_returns_csv", "format_metrics_table", "align_benchmark"]

logger = logging.getLogger(__name__)

_NOISY_LOGGERS = ("matplotlib", "matplotlib.font_manager", "matplotlib.category", "quantstats",
                  "yfinance", "fontTools")

_PERCENT_METRICS = {"annual_return", "cagr", "volatility", "max_drawdown", "mean_turnover",
                    "total_turnover"}


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


def write_tearsheet(returns: pd.Series, benchmark_returns: pd.Series | None, path, title: str,
                    periods_per_year: int = 52, strategy_title: str | None = None,
                    benchmark_title: str | None = None) -> Path:
    """Write a QuantStats HTML tearsheet of ``returns`` against ``benchmark_returns``.

    Args:
        returns: the strategy's per-period simple returns (net of costs), date-indexed.
        benchmark_returns: the benchmark's returns as a Series (aligned onto ``returns``' dates
            by compounding); None for no benchmark. A ticker string is refused.
        path: output HTML file (parent folders are created).
        title: page title.
        periods_per_year: 52 for weekly bars (QuantStats' own default is 252, daily).
    """
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
            qs.reports.html(r, benchmark=bench, rf=0.0, title=title, output=str(out),
                            compounded=True, periods_per_year=int(periods_per_year),
                            download_filename=out.name, **kwargs)
        finally:
            plt.close("all")
    return out


# ----------------------------------------------------------------------------- formatting
def _fmt(name: str, value) -> str:
    if value is None:
        return "-"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(v):
        return "-"
    if name in _PERCENT_METRICS:
        return f"{v * 100:.2f}%"
    return f"{v:.4f}"


def _metric_columns(metrics_by_strategy: Mapping[str, Mapping]) -> list[str]:
    cols = [m for m in METRIC_NAMES if any(m in d for d in metrics_by_strategy.values())]
    for d in metrics_by_strategy.values():
        for k in d:
            if k not in cols:
                cols.append(k)
    return cols


def format_metrics_table(metrics_by_strategy: Mapping[str, Mapping]) -> str:
    """A plain-text table (one row per strategy) for the terminal."""
    if not metrics_by_strategy:
        return "(no strategies)"
    cols = _metric_columns(metrics_by_strategy)
    rows = [["strategy", *cols]]
    for name, m in metrics_by_strategy.items():
        rows.append([str(name), *(_fmt(c, m.get(c)) for c in cols)])
    widths = [max(len(row[j]) for row in rows) for j in range(len(rows[0]))]
    lines = []
    for k, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        lines.append("  ".join(cells))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
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


def _equity_png(returns_by_strategy: Mapping[str, pd.Series], title: str) -> str:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 5), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    for name, r in returns_by_strategy.items():
        r = _as_returns(r, f"returns of {name!r}").fillna(0.0)
        ax.plot(r.index, (1.0 + r).cumprod(), label=str(name), linewidth=1.2)
    ax.set_title(title)
    ax.set_ylabel("growth of 1 (net of costs)")
    ax.grid(True, alpha=0.3)
    if returns_by_strategy:
        ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def write_comparison(results: Mapping[str, Mapping], path, title: str = "Strategy comparison",
                     note: str | None = None) -> Path:
    """A self-contained HTML page: metrics of every strategy side by side and the equity curves.

    Args:
        results: ``{name: {"returns": pd.Series, "metrics": dict}}``.
        path: output HTML file.
        title: page title.
        note: optional paragraph (e.g. the test window and costs) shown under the title.
    """
    metrics = {str(k): dict(v.get("metrics") or {}) for k, v in results.items()}
    returns = {str(k): v["returns"] for k, v in results.items() if v.get("returns") is not None}
    with quiet_third_party():
        png = _equity_png(returns, title)
    cols = _metric_columns(metrics) if metrics else []
    head = "".join(f"<th>{_html.escape(c)}</th>" for c in cols)
    body = []
    for name, m in metrics.items():
        cells = "".join(f"<td>{_html.escape(_fmt(c, m.get(c)))}</td>" for c in cols)
        body.append(f"<tr><th>{_html.escape(name)}</th>{cells}</tr>")
    note_html = f"<p>{_html.escape(note)}</p>" if note else ""
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{_html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 4px 8px; text-align: right; }}
tbody th {{ text-align: left; }}
thead th {{ background: #f0f0f0; }}
</style></head><body>
<h1>{_html.escape(title)}</h1>
{note_html}
<table><thead><tr><th>strategy</th>{head}</tr></thead>
<tbody>{''.join(body)}</tbody></table>
<p>Annual return = periods/year &times; mean log return; volatility = &radic;(periods/year)
&times; std of log returns; Sharpe = their ratio (risk-free 0); max drawdown of the compounded
equity. All net of transaction costs.</p>
<img alt="equity curves" src="data:image/png;base64,{png}">
</body></html>
"""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
