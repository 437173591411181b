"""How the statistics of a comparison are shown: the printed table and the comparison page's.

The figures come from :func:`strategies.pipeline.seeds.comparison_stats` (built on
:mod:`analyzers.stats`): for each strategy the seed summary of its Sharpe ratio, and against each
reference (equal weight, the index) the paired block-bootstrap interval of the Sharpe difference,
the probability that the difference is <= 0 and how many seeds beat the reference; and the
deflated Sharpe ratio.
"""

from __future__ import annotations

import html as _html
import math
from typing import Mapping

REFERENCE_LABELS = {"vs_equal_weight": "equal weight", "vs_index": "index"}


def _f(v, nd: int = 2) -> str:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return "-"
    return f"{x:.{nd}f}" if math.isfinite(x) else "-"


def _sharpe_cells(st: Mapping) -> list[str]:
    s = st.get("sharpe_seeds") or {}
    n = int(s.get("n") or 0)
    if n > 1:
        return [str(n), f"{_f(s.get('mean'))} ± {_f(s.get('std'))}", _f(s.get("median")),
                f"{_f(s.get('min'))} .. {_f(s.get('max'))}"]
    return [str(n or 1), _f(s.get("mean")), "", ""]


def _vs_cells(st: Mapping, key: str) -> list[str]:
    v = st.get(key)
    if not v:
        return ["", "", ""]
    n = int((st.get("sharpe_seeds") or {}).get("n") or 1)
    return [f"{_f(v.get('diff'))} [{_f(v.get('ci_low'))}, {_f(v.get('ci_high'))}]",
            _f(v.get("p_le_0")), f"{v.get('beats_reference', 0)}/{n}"]


def _headers(refs: list[str], level: float) -> list[str]:
    h = ["strategy", "seeds", "Sharpe (mean ± std)", "median", "min .. max"]
    for key in refs:
        lab = REFERENCE_LABELS.get(key, key)
        h += [f"ΔSharpe vs {lab} [{level:.0%} CI]", "P(Δ ≤ 0)", f"seeds > {lab}"]
    return h + ["deflated Sharpe"]


def _refs(stats: Mapping) -> list[str]:
    return [k for k in REFERENCE_LABELS if any(k in st for st in stats.values())]


def _level(stats: Mapping) -> float:
    for st in stats.values():
        for key in REFERENCE_LABELS:
            if st.get(key):
                return 1.0 - float(st[key].get("alpha", 0.10))
    return 0.90


def _rows(stats: Mapping) -> list[list[str]]:
    refs = _refs(stats)
    rows = []
    for name, st in stats.items():
        cells = [str(name), *_sharpe_cells(st)]
        for key in refs:
            cells += _vs_cells(st, key)
        d = st.get("deflated_sharpe") or {}
        cells.append(_f(d.get("dsr")))
        rows.append(cells)
    return rows


def explanation(stats: Mapping, periods_per_year: int = 52) -> str:
    """One paragraph saying what the numbers are (block length, reps, trials)."""
    v = next((st[k] for st in stats.values() for k in REFERENCE_LABELS if st.get(k)), None)
    d = next((st.get("deflated_sharpe") for st in stats.values() if st.get("deflated_sharpe")),
             None)
    parts = ["Sharpe: annualised, net of costs, per seed (mean ± std, median, range over seeds; "
             "one seed: its value)."]
    if v:
        parts.append(
            f"ΔSharpe: the strategy's Sharpe (the mean over its seeds) minus the reference's, "
            f"with a paired {v.get('method', 'stationary')} block bootstrap of the "
            f"{v.get('n_obs')} test {'weeks' if periods_per_year == 52 else 'periods'} "
            f"(mean block length {v.get('block')}, {v.get('n_boot')} resamples, the same "
            f"resampled weeks for the strategy, its seeds and the reference): "
            f"{1 - float(v.get('alpha', 0.1)):.0%} percentile interval and the share of "
            "resamples where the difference is <= 0. It measures the uncertainty of the test "
            "weeks, not of the seeds (their spread is the Sharpe column).")
    if d:
        parts.append(
            f"Deflated Sharpe (Bailey & López de Prado, 2014): the probability that the true "
            f"Sharpe of the seed-averaged returns exceeds the best of {d.get('n_trials')} "
            "unskilled trials (the strategies compared here), with skewness and kurtosis.")
    return " ".join(parts)


def format_stats_table(stats: Mapping, periods_per_year: int = 52) -> str:
    """The statistics as a plain-text table for the terminal, with the explanation."""
    if not stats:
        return ""
    rows = [_headers(_refs(stats), _level(stats)), *_rows(stats)]
    widths = [max(len(r[j]) for r in rows) for j in range(len(rows[0]))]
    lines = []
    for k, r in enumerate(rows):
        lines.append("  ".join([r[0].ljust(widths[0])] +
                               [c.rjust(w) for c, w in zip(r[1:], widths[1:])]))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n" + explanation(stats, periods_per_year)


def stats_table_html(stats: Mapping, periods_per_year: int = 52) -> str:
    """The statistics as an HTML table (``id="significance"``) and its explanation."""
    if not stats:
        return ""
    heads = _headers(_refs(stats), _level(stats))
    head = "".join(f"<th>{_html.escape(h)}</th>" for h in heads)
    body = []
    for r in _rows(stats):
        cells = "".join(f'<td data-col="{j}">{_html.escape(c)}</td>'
                        for j, c in enumerate(r[1:], start=1))
        body.append(f'<tr data-strategy="{_html.escape(r[0])}"><th>{_html.escape(r[0])}</th>'
                    f"{cells}</tr>")
    return (f'<h2>Is the difference real?</h2>\n<table id="significance"><thead><tr>{head}</tr>'
            f"</thead>\n<tbody>{''.join(body)}</tbody></table>\n"
            f'<p class="defs" id="significance-definitions">'
            f"{_html.escape(explanation(stats, periods_per_year))}</p>\n")
