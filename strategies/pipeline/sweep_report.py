"""The aggregated report of a sweep: ``OUT/report.html``, ``OUT/summary.json`` and a printed table.

Cells are grouped by (universe, window, variant, preset) across seeds. For each group:

* per seed: Sharpe, CAGR, max drawdown, turnover per week and costs (% of capital), as
  :mod:`analyzers.metrics` defines them (test weeks, net of costs);
* over the seeds: ``analyzers.stats.seed_summary`` of each (n, mean, std, median, min, max);
* against equal weight and against the index (the ``sp500`` reference) of the same universe,
  window and settings: the paired block-bootstrap interval of the seed-mean Sharpe minus the
  reference's, the probability that this difference is <= 0, how many seeds beat the reference
  (``analyzers.stats.compare``), and the deflated Sharpe ratio of the seed-averaged returns with
  ``n_trials`` = variants x presets of the sweep (the trials a best one would be picked from).

One table per universe x window. Only cells of the grid as it is now are read (a cell made
from an older version of the grid has another id); missing and failed cells are listed.

The cell result files are read and written here too: :func:`load_cell` trusts a saved result
only if it parses and records the very cell asked for; :func:`write_json` writes strict JSON
atomically.
"""

from __future__ import annotations

import html as _html
import json
import math
from pathlib import Path

import pandas as pd

CELL_FORMAT, CELL_VERSION = "bt-rlportfolio-sweep-cell", 1
"""What ``OUT/cells/<id>.json`` says it is: a cell's result (:func:`strategies.sweep.run_cell`)."""
PERIODS_PER_YEAR = 52
METRICS = ("sharpe", "cagr", "max_drawdown", "mean_turnover", "costs_pct")
HEADS = {"sharpe": "Sharpe", "cagr": "CAGR (%)", "max_drawdown": "max drawdown (%)",
         "mean_turnover": "turnover / week (%)", "costs_pct": "costs (% of capital)"}
PCT = ("cagr", "max_drawdown", "mean_turnover", "costs_pct")
REF_LABELS = {"vs_equal_weight": "equal weight", "vs_index": "index"}


def load_cell(out: Path, cell: dict) -> dict | None:
    """The saved result of ``cell`` if it exists, parses and was made from this very cell."""
    try:
        res = json.loads((Path(out) / "cells" / f"{cell['id']}.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    ok = (isinstance(res, dict) and res.get("format") == CELL_FORMAT
          and res.get("version") == CELL_VERSION and res.get("cell") == cell)
    return res if ok else None


def write_json(path: Path, obj) -> None:
    """``obj`` as strict JSON (NaN -> null), written atomically."""
    from models.common.runner import write_text
    write_text(path, json.dumps(_finite(obj), default=str, allow_nan=False))


def _finite(v):
    """``v`` with NaN and infinities as None, numpy scalars as Python numbers."""
    if isinstance(v, dict):
        return {str(k): _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    if getattr(v, "shape", None) == () and hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _series(res: dict, preset: str) -> pd.Series:
    r = res["presets"][preset]
    return pd.Series(r["returns"], index=pd.DatetimeIndex(r["dates"], name="date"),
                     name=preset, dtype=float)


def collect(grid, out: str | Path) -> dict:
    """Everything the report shows, as JSON-able dicts (written as ``summary.json``)."""
    from analyzers.stats import compare, seed_summary
    out = Path(out)
    cells = grid.cells()
    results = {c["id"]: load_cell(out, c) for c in cells}
    failed = sorted(c["id"] for c in cells if (out / "failed" / f"{c['id']}.txt").is_file())
    tables = []
    for u in grid.universes:
        for w in grid.windows:
            groups, cands, refs_of = [], {}, {}
            for v in grid.variants:
                ref = grid.reference_cell(u, w, v) if grid.references else None
                ref_res = results.get(ref["id"]) if ref else None
                for p in grid.presets:
                    done = [(c["seed"], results[c["id"]]) for c in cells
                            if c["kind"] == "learned" and (c["universe"], c["window"],
                                                           c["variant"]) == (u, w, v)
                            and results[c["id"]] is not None]
                    per_seed = {str(s): {m: r["presets"][p]["metrics"].get(m) for m in METRICS}
                                for s, r in done}
                    g = {"variant": v, "preset": p, "seeds": [s for s, _ in done],
                         "per_seed": per_seed,
                         "summary": {m: seed_summary([d[m] for d in per_seed.values()
                                                      if d[m] is not None]) for m in METRICS},
                         "reference_cell": ref["id"] if ref else None}
                    groups.append(g)
                    if done:
                        key = f"{v} · {p}"
                        cands[key] = pd.DataFrame({s: _series(r, p) for s, r in done})
                        refs_of[key] = ref_res
            first = next((r for r in results.values() if r and r["cell"]["universe"] == u
                          and r["cell"]["window"] == w), None)
            meta = first["meta"] if first else {}
            ref_res = next((refs_of[k] for k in refs_of if refs_of[k]), None)
            table = {"universe": u, "window": w, "groups": groups, "n_trials": grid.n_trials,
                     "test_first": meta.get("test_first"), "test_last": meta.get("test_last"),
                     "test_weeks": meta.get("test_weeks"),
                     "references": ({n: {m: ref_res["presets"][n]["metrics"].get(m)
                                         for m in METRICS} for n in ref_res["presets"]}
                                    if ref_res else {})}
            _significance(table, cands, refs_of, grid.n_trials, compare)
            tables.append(table)
    return {"grid": {"name": grid.name, "presets": list(grid.presets),
                     "references": list(grid.references), "seeds": list(grid.seeds),
                     "universes": list(grid.universes), "windows": list(grid.windows),
                     "variants": grid.variants, "n_trials": grid.n_trials},
            "cells": {"total": len(cells), "done": sum(r is not None for r in results.values()),
                      "failed": failed,
                      "missing": sorted(i for i, r in results.items()
                                        if r is None and i not in failed)},
            "cell_time": {"wall_s": round(sum(r.get("timing", {}).get("wall_s", 0.0)
                                              for r in results.values() if r), 1),
                          "cpu_s": round(sum(r.get("timing", {}).get("cpu_s", 0.0)
                                             for r in results.values() if r), 1)},
            "periods_per_year": PERIODS_PER_YEAR, "tables": tables}


def _significance(table: dict, cands: dict, refs_of: dict, n_trials: int, compare) -> None:
    """Add ``vs_equal_weight``, ``vs_index`` and ``deflated_sharpe`` to each group of a table."""
    import numpy as np

    from analyzers.stats import sharpe
    from feeds.errors import PluginError
    from strategies.pipeline.seeds import REFERENCES
    by_key = {f"{g['variant']} · {g['preset']}": g for g in table["groups"]}
    pooled = np.array([sharpe(df[c], PERIODS_PER_YEAR) for df in cands.values() for c in df])
    pooled = pooled[np.isfinite(pooled)]
    var = float(pooled.var(ddof=1)) if len(pooled) >= 2 else None
    for key, ref_name in REFERENCES:
        for name, df in cands.items():
            ref_res = refs_of.get(name)
            g = by_key[name]
            if not ref_res or ref_name not in ref_res["presets"]:
                continue
            try:
                st = compare({name: df}, _series(ref_res, ref_name), PERIODS_PER_YEAR,
                             n_trials=n_trials, sharpe_var=var)[name]
            except PluginError as e:
                g.setdefault("notes", []).append(f"vs {ref_name}: {e}")
                continue
            g[key] = {**st["vs"], "beats_reference": st["beats_reference"],
                      "reference": ref_name}
            g.setdefault("deflated_sharpe", st["dsr"])


# ----------------------------------------------------------------------------------- text
def _f(v, pct: bool = False) -> str:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return "-"
    if not math.isfinite(x):
        return "-"
    return f"{100 * x:.2f}" if pct else f"{x:.2f}"


def _stats_view(table: dict) -> dict:
    """A table's groups in :mod:`analyzers.significance`'s shape (for its formatter)."""
    view = {}
    for g in table["groups"]:
        if not g["seeds"]:
            continue
        st = {"sharpe_seeds": g["summary"]["sharpe"]}
        for key in REF_LABELS:
            if key in g:
                st[key] = g[key]
        if "deflated_sharpe" in g:
            st["deflated_sharpe"] = g["deflated_sharpe"]
        view[f"{g['variant']} · {g['preset']}"] = st
    for name, m in table["references"].items():
        view[name] = {"sharpe_seeds": {"n": 1, "mean": m.get("sharpe")}}
    return view


def format_summary(summary: dict) -> str:
    """The compact printed report: one significance table per universe x window."""
    from analyzers.significance import format_stats_table
    c = summary["cells"]
    lines = [f"sweep {summary['grid']['name']}: {c['done']}/{c['total']} cells done"
             + (f", {len(c['failed'])} failed" if c["failed"] else "")
             + (f", {len(c['missing'])} not run" if c["missing"] else "")]
    for t in summary["tables"]:
        view = _stats_view(t)
        table = format_stats_table(view, PERIODS_PER_YEAR) if view else "(no cell done)\n"
        lines += ["", f"universe {t['universe']}, window {t['window']}"
                  + (f": test weeks {t['test_first']} .. {t['test_last']} ({t['test_weeks']})"
                     if t["test_first"] else ""), table.rsplit("\n", 1)[0]]
    return "\n".join(lines + ["", _explanation(summary)])


# ----------------------------------------------------------------------------------- html
CSS = """body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; font-size: 0.9em; font-variant-numeric: tabular-nums;
        margin-bottom: 0.6em; }
th, td { border: 1px solid #ccc; padding: 4px 8px; white-space: nowrap; }
td.num { text-align: right; }
td.name, tbody th { text-align: left; }
thead th { background: #f0f0f0; white-space: normal; max-width: 8em; vertical-align: bottom; }
tbody tr:nth-child(even) { background: #fafafa; }
tr.reference { color: #555; font-style: italic; }
.defs { max-width: 62em; font-size: 0.9em; color: #444; }
.bad { color: #a00; }
.caption { font-size: 0.9em; color: #444; margin-top: 0; }"""


def _td(text: str, num: bool = True) -> str:
    return f'<td class="{"num" if num else "name"}">{_html.escape(text)}</td>'


def _group_row(g: dict, refs: list[str]) -> str:
    s = g["summary"]
    sh = s["sharpe"]
    cells = [_td(g["variant"], False), _td(g["preset"], False), _td(str(sh["n"])),
             _td(f"{_f(sh['mean'])} ± {_f(sh['std'])}" if sh["n"] > 1 else _f(sh["mean"])),
             _td(_f(sh["median"])), _td(f"{_f(sh['min'])} .. {_f(sh['max'])}")]
    cells += [_td(_f(s[m]["mean"], True)) for m in PCT]
    for key in refs:
        v = g.get(key)
        cells += ([_td(f"{_f(v['diff'])} [{_f(v['ci_low'])}, {_f(v['ci_high'])}]"),
                   _td(_f(v["p_le_0"])), _td(f"{v['beats_reference']}/{sh['n']}")]
                  if v else [_td("-")] * 3)
    cells.append(_td(_f((g.get("deflated_sharpe") or {}).get("dsr"))))
    return f"<tr>{''.join(cells)}</tr>"


def _table_html(t: dict, level: float) -> str:
    refs = [k for k in REF_LABELS if any(k in g for g in t["groups"])]
    heads = ["variant", "strategy", "seeds", "Sharpe mean ± std", "Sharpe median",
             "Sharpe min .. max"] + [f"{HEADS[m]}, seed mean" for m in PCT]
    for key in refs:
        lab = REF_LABELS[key]
        heads += [f"ΔSharpe vs {lab} [{level:.0%} CI]", "P(Δ ≤ 0)", f"seeds > {lab}"]
    heads.append("deflated Sharpe (probability)")
    rows = [_group_row(g, refs) for g in t["groups"] if g["seeds"]]
    blanks = len(heads) - 10
    for name, m in t["references"].items():
        rows.append(f'<tr class="reference">{_td("reference", False)}{_td(name, False)}'
                    f"{_td('1')}{_td(_f(m.get('sharpe')))}{_td('')}{_td('')}"
                    + "".join(_td(_f(m.get(k), True)) for k in PCT) + _td("") * blanks
                    + "</tr>")
    seed_rows = [f"<tr>{_td(g['variant'], False)}{_td(g['preset'], False)}{_td(s)}"
                 + "".join(_td(_f(d[m], m in PCT)) for m in METRICS) + "</tr>"
                 for g in t["groups"] for s, d in g["per_seed"].items()]
    period = (f": test weeks {t['test_first']} .. {t['test_last']} ({t['test_weeks']} weeks)"
              if t["test_first"] else "")
    notes = "".join(f'<p class="bad">{_html.escape(g["variant"])} · '
                    f"{_html.escape(g['preset'])}: {_html.escape(n)}</p>"
                    for g in t["groups"] for n in g.get("notes", []))
    v = next((g[k] for g in t["groups"] for k in REF_LABELS if k in g), None)
    boot = (f'<p class="caption">Bootstrap of this table: paired {v["method"]} block bootstrap '
            f'of {v["n_obs"]} test weeks, mean block length {v["block"]} weeks, {v["n_boot"]} '
            f"resamples; deflated Sharpe over {t['n_trials']} trials.</p>\n"
            if v else "")
    head = "".join(f"<th>{_html.escape(h)}</th>" for h in heads)
    seed_head = "".join(f"<th>{_html.escape(h)}</th>" for h in
                        ["variant", "strategy", "seed"] + [HEADS[m] for m in METRICS])
    tid = f"{t['universe']}-{t['window']}"
    return (f'<h2>universe {_html.escape(t["universe"])}, window {_html.escape(t["window"])}'
            f"{_html.escape(period)}</h2>\n"
            f'<table class="sweep" data-table="{_html.escape(tid)}"><thead><tr>{head}</tr>'
            f"</thead><tbody>{''.join(rows) or ''}</tbody></table>\n{boot}{notes}"
            f"<details><summary>per-seed figures</summary>"
            f'<table class="seeds" data-table="{_html.escape(tid)}"><thead><tr>{seed_head}'
            f"</tr></thead><tbody>{''.join(seed_rows)}</tbody></table></details>\n")


def _explanation(summary: dict) -> str:
    from analyzers.metrics import SHARPE_DEFINITION
    from analyzers.significance import explanation
    stats = {}
    for t in summary["tables"]:
        stats.update({f"{t['universe']} {k}": v for k, v in _stats_view(t).items()})
    return (SHARPE_DEFINITION.format(P=PERIODS_PER_YEAR, period="weekly") + ". "
            + explanation(stats, PERIODS_PER_YEAR) + " The number of trials is the variants x "
            f"presets of this sweep ({summary['grid']['n_trials']}). CAGR, max drawdown, "
            "turnover (traded value / portfolio value per week) and costs (commissions as % of "
            "the capital at the start of the test) are per seed, then averaged over the seeds. "
            "Reference rows (equal weight, the index) are deterministic: one run each.")


def write_html(summary: dict, path: str | Path) -> Path:
    """``report.html``: self-contained (no script, no network), one table per universe x window."""
    level = next((1 - g[k]["alpha"] for t in summary["tables"] for g in t["groups"]
                  for k in REF_LABELS if k in g), 0.90)
    c = summary["cells"]
    status = (f"{c['done']} of {c['total']} cells done"
              + (f"; failed: {', '.join(c['failed'])}" if c["failed"] else "")
              + (f"; not run yet: {len(c['missing'])}" if c["missing"] else ""))
    ct = summary["cell_time"]
    title = f"Sweep {summary['grid']['name']}"
    page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>'
            f"{_html.escape(title)}</title>\n<style>\n{CSS}\n</style></head><body>\n"
            f"<h1>{_html.escape(title)}</h1>\n<p id=\"status\">{_html.escape(status)}. "
            f"Seeds {_html.escape(', '.join(map(str, summary['grid']['seeds'])))}; time summed "
            f"over the cells done: {ct['wall_s']:.0f} s wall, {ct['cpu_s']:.0f} s CPU.</p>\n"
            + "".join(_table_html(t, level) for t in summary["tables"])
            + f'<p class="defs" id="definitions">{_html.escape(_explanation(summary))}</p>\n'
            "</body></html>\n")
    from models.common.runner import write_text
    write_text(path, page)
    return Path(path)


def _m(x, pct: bool = False, sign: bool = False) -> str:
    x = _finite(x)
    if x is None:
        return "-"
    return f"{100 * x:.1f}%" if pct else (f"{x:+.2f}" if sign else f"{x:.2f}")


def markdown_tables(summary: dict) -> str:
    """The report as Markdown tables (``report.md``; what the README quotes): one row per
    variant x preset with the seed summary, medians of the other figures, and the statistics
    against equal weight and the index."""
    out = []
    for t in summary["tables"]:
        out += [f"Universe `{t['universe']}`, window `{t['window']}`: test weeks "
                f"{t.get('test_first')} .. {t.get('test_last')} ({t.get('test_weeks')}); "
                f"{t.get('n_trials')} variants x presets tried.", "",
                "| strategy | seeds | Sharpe mean ± std | median | min .. max | CAGR (median) "
                "| max DD (median) | turnover/wk | costs | ΔSharpe vs EW [90% CI] | P(Δ≤0) "
                "| seeds > EW | ΔSharpe vs index [90% CI] | deflated Sharpe |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for g in t["groups"]:
            sm = g["summary"]
            sh = sm["sharpe"]
            name = g["preset"] if g["variant"] == "default" else f"{g['variant']} · {g['preset']}"
            cells = [name, str(sh["n"]), f"{_m(sh['mean'])} ± {_m(sh['std'])}", _m(sh["median"]),
                     f"{_m(sh['min'])} .. {_m(sh['max'])}", _m(sm["cagr"]["median"], True),
                     _m(sm["max_drawdown"]["median"], True),
                     _m(sm["mean_turnover"]["mean"], True), _m(sm["costs_pct"]["mean"], True)]
            for key, extra in (("vs_equal_weight", True), ("vs_index", False)):
                v = g.get(key) or {}
                cells.append(f"{_m(v.get('diff'), sign=True)} [{_m(v.get('ci_low'), sign=True)}, "
                             f"{_m(v.get('ci_high'), sign=True)}]" if v else "-")
                if extra:
                    cells += [_m(v.get("p_le_0")) if v else "-",
                              f"{v.get('beats_reference', '-')}/{sh['n']}" if v else "-"]
            cells.append(_m((g.get("deflated_sharpe") or {}).get("dsr")))
            out.append("| " + " | ".join(cells) + " |")
        for ref, m in (t.get("references") or {}).items():
            out.append(f"| {ref} | 1 | {_m(m.get('sharpe'))} | | | {_m(m.get('cagr'), True)} | "
                       f"{_m(m.get('max_drawdown'), True)} | {_m(m.get('mean_turnover'), True)} "
                       f"| {_m(m.get('costs_pct'), True)} | | | | | |")
        out.append("")
    return "\n".join(out)


def write_report(grid, out: str | Path, run: dict | None = None) -> str:
    """Write ``report.html``, ``report.md`` and ``summary.json`` in ``out``; returns the printed
    summary."""
    out = Path(out)
    summary = collect(grid, out)
    if run is not None:
        summary["run"] = run
    write_json(out / "summary.json", summary)
    write_html(summary, out / "report.html")
    from models.common.runner import write_text
    write_text(out / "report.md", markdown_tables(summary))
    text = format_summary(summary)
    if run is not None:
        text += (f"\n\nthis run: {run['done']} cells run, {run['skipped']} already done, "
                 f"{len(run['failed'])} failed; wall {run['wall_s']} s, CPU in cells "
                 f"{run['cpu_s']} s")
    return text + f"\nreport: {out / 'report.html'}"
