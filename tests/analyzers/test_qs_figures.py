"""Tearsheets share the strategy-only figures between pages and never draw a figure twice,
without changing a single figure a user sees."""

import io
import re

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from analyzers import qs_figures
from analyzers.qs_figures import (
    NO_REDRAW_PYPLOT,
    STRATEGY_ONLY,
    clear_figure_cache,
    figure_cache_info,
    save_figure,
)
from analyzers.reports import write_tearsheet


def _returns(seed, n=90, name=None):
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2021-01-01", periods=n, freq="W-FRI", name="date")
    return pd.Series(rng.normal(0.002, 0.03, n), index=idx, name=name)


def _figures(path) -> list[str]:
    """The page's SVG figures, without what differs between two drawings of the same figure
    (random element ids and the creation date)."""
    text = path.read_text(encoding="utf-8")
    svgs = re.findall(r"<svg.*?</svg>", text, flags=re.DOTALL)
    out = []
    for s in svgs:
        s = re.sub(r"<dc:date>[^<]*</dc:date>", "", s)
        s = re.sub(r'(id|xlink:href|href)="#?[^"]*"', r'\1=""', s)
        out.append(re.sub(r"url\(#[^)]*\)", "url()", s))
    return out


def _page(tmp_path, name, strategy, bench, periods=52):
    return write_tearsheet(strategy, bench, tmp_path / f"{name}.html", title=name,
                           periods_per_year=periods, strategy_title="Hybrid",
                           benchmark_title=str(bench.name))


@pytest.fixture(autouse=True)
def fresh_cache():
    clear_figure_cache()
    yield
    clear_figure_cache()


def test_pages_of_one_strategy_share_its_figures_and_show_the_same(tmp_path):
    strat = _returns(1)
    benches = [_returns(2, name="SPY"), _returns(3, name="Equal weight")]
    shared = [_page(tmp_path, f"shared{i}", strat, b) for i, b in enumerate(benches)]
    info = figure_cache_info()
    assert info["misses"] == len(STRATEGY_ONLY)  # drawn for the first page only
    assert info["hits"] == len(STRATEGY_ONLY)  # and reused by the second
    alone = []
    for i, b in enumerate(benches):  # the same pages, every figure drawn from scratch
        clear_figure_cache()
        alone.append(_page(tmp_path, f"alone{i}", strat, b))
    for a, b in zip(shared, alone):
        figs_a, figs_b = _figures(a), _figures(b)
        assert len(figs_a) == len(figs_b) >= 14
        assert figs_a == figs_b
    # the benchmark's figures differ between the two pages (nothing shared that should not be)
    assert _figures(shared[0]) != _figures(shared[1])


class _Plotter:
    """A stand-in QuantStats plot function: counts its drawings, saves a tiny SVG."""

    def __init__(self):
        self.calls = 0

    def __call__(self, returns, benchmark=None, savefig=None, show=True, **kwargs):
        self.calls += 1
        savefig["fname"].write(f"<svg>{self.calls}</svg>".encode())


def _draw(plot, returns, benchmark=None, **kwargs):
    buf = io.BytesIO()
    plot(returns, benchmark, savefig={"fname": buf, "format": "svg"}, show=False, **kwargs)
    return buf.getvalue()


def test_a_figure_is_reused_only_when_everything_it_shows_is_the_same():
    inner = _Plotter()
    plot = qs_figures.shared_figures(inner, "monthly_heatmap", "periods_per_year=52")
    strat, spy, ew = _returns(1, name="Hybrid"), _returns(2, name="SPY"), _returns(3)
    first = _draw(plot, strat, spy)
    assert _draw(plot, strat, ew) == first and inner.calls == 1  # benchmark ignored here
    changed = strat.copy()
    changed.iloc[40] += 0.01  # one return differs
    variants = [(changed, {}), (strat.rename("Other"), {}),  # values, name
                (strat.tz_localize("UTC"), {}), (strat, {"figsize": (8, 5)}),  # dates, args
                (strat, {"active": True})]  # active: the benchmark is drawn, never shared
    for k, (r, kw) in enumerate(variants, start=2):
        assert _draw(plot, r, spy, **kw) == f"<svg>{k}</svg>".encode()
    with matplotlib.rc_context({"lines.linewidth": 3.0}):  # another style
        assert _draw(plot, strat, spy) == b"<svg>7</svg>"
    other_bar = qs_figures.shared_figures(inner, "monthly_heatmap", "periods_per_year=12")
    assert _draw(other_bar, strat, spy) == b"<svg>8</svg>"
    assert _draw(plot, strat, spy) == first and inner.calls == 8
    # where the figure shows the benchmark, another benchmark is another figure
    rolling = qs_figures.shared_figures(inner, "rolling_sharpe", "periods_per_year=52")
    assert _draw(rolling, strat, spy) != _draw(rolling, strat, ew)


def test_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(qs_figures, "MAX_FIGURES", 3)
    plot = qs_figures.shared_figures(_Plotter(), "drawdown", "")
    for seed in range(5):
        _draw(plot, _returns(seed))
    assert figure_cache_info()["size"] == 3
    assert _draw(plot, _returns(4)) == b"<svg>5</svg>"  # the newest are kept
    assert _draw(plot, _returns(0)) == b"<svg>6</svg>"  # the oldest are redrawn


def _line_figure():
    fig = Figure(figsize=(6, 3))
    ax = fig.add_subplot()
    idx = pd.date_range("2020-01-03", periods=60, freq="W-FRI")
    ax.plot(idx, np.linspace(1.0, 2.0, 60))
    ax.set_title("growth")
    fig.tight_layout()
    return fig


def test_save_figure_draws_once_and_saves_the_same_svg(monkeypatch):
    draws = []
    original = Figure.draw

    def counting_draw(self, renderer):
        draws.append(type(renderer).__name__)
        return original(self, renderer)

    with matplotlib.rc_context({"svg.hashsalt": "fixed", "svg.fonttype": "none"}):
        plain = io.BytesIO()
        _line_figure().savefig(plain, format="svg", metadata={"Date": None})
        monkeypatch.setattr(Figure, "draw", counting_draw)
        fast = io.BytesIO()
        save_figure(_line_figure(), fast, format="svg", metadata={"Date": None})
    assert len(draws) == 1  # matplotlib alone draws a tight-laid-out figure twice
    assert fast.getvalue() == plain.getvalue()


def test_no_redraw_pyplot_saves_the_current_figure_without_an_idle_draw(monkeypatch):
    import matplotlib.pyplot as plt
    from matplotlib.backend_bases import FigureCanvasBase
    idle = []
    monkeypatch.setattr(FigureCanvasBase, "draw_idle", lambda self, *a, **k: idle.append(1))
    fig, ax = NO_REDRAW_PYPLOT.subplots()  # everything else is pyplot's own
    ax.plot([0, 1], [1, 2])
    buf = io.BytesIO()
    try:
        NO_REDRAW_PYPLOT.savefig(buf, format="svg")
    finally:
        plt.close(fig)
    assert buf.getvalue().lstrip().startswith(b"<?xml") and b"<svg" in buf.getvalue()
    assert idle == []
