"""Pins of every QuantStats workaround in ``analyzers.quantstats_fixes``.

Each ``test_pin_*`` reproduces a fault with the *unpatched* QuantStats. If a QuantStats upgrade
changes that behaviour, the pin fails loudly: check whether the matching fix (F1-F10) is still
needed, then update or remove it and its pin. Each ``test_fixed_*`` checks the fix itself.
"""

import matplotlib

matplotlib.use("Agg")

import math
import re

import numpy as np
import pandas as pd
import pytest

qs = pytest.importorskip("quantstats")

from analyzers.quantstats_fixes import (
    QUANTSTATS_VERSION,
    patched_quantstats,
    period_returns,
    period_words,
)

# QuantStats' own EOY chart warns that its labels may be misplaced (the fault F5 pins)
pytestmark = pytest.mark.filterwarnings("ignore:set_ticklabels:UserWarning")

UPGRADE = ("QuantStats changed here: re-check fix {fix} in analyzers/quantstats_fixes.py "
           "(remove it if QuantStats now gets this right)")


def _weekly(seed=0, n=109, start="2022-11-11", name="strategy"):
    rng = np.random.default_rng(seed)
    idx = pd.date_range(start, periods=n, freq="W-FRI")
    return pd.Series(rng.normal(0.008, 0.035, n), index=idx, name=name)


def _daily(seed=0, n=400, start="2021-11-29", name="strategy"):
    rng = np.random.default_rng(seed)
    idx = pd.bdate_range(start, periods=n)
    return pd.Series(rng.normal(0.0005, 0.015, n), index=idx, name=name)


def _metrics(r, b, ppy):
    return qs.reports.metrics(r, b, rf=0.0, display=False, mode="full", sep=True,
                              internal="True", compounded=True, periods_per_year=ppy,
                              prepare_returns=False, strategy_title="strategy",
                              benchmark_title="bench", match_dates=False)


@pytest.fixture(scope="module")
def raw_table():
    """The weekly metrics table as QuantStats makes it (no fixes)."""
    return _metrics(_weekly(), _weekly(1, name="bench"), 52)


@pytest.fixture(scope="module")
def fixed_table():
    """The same table with the fixes."""
    with patched_quantstats(52):
        return _metrics(_weekly(), _weekly(1, name="bench"), 52)


@pytest.fixture(autouse=True)
def _close_figures():
    import matplotlib.pyplot as plt
    yield
    plt.close("all")


def test_pinned_version():
    assert qs.__version__ == QUANTSTATS_VERSION, (
        f"QuantStats {qs.__version__} installed, fixes pinned against {QUANTSTATS_VERSION}: "
        "run this file, re-check each fix, then update QUANTSTATS_VERSION")


def test_patches_are_restored_after_the_block():
    from quantstats import plots, reports, stats
    from quantstats._plotting import core
    before = (reports.metrics, plots.yearly_returns, core.plot_distribution, plots.rolling_beta,
              stats.monthly_returns, plots.daily_returns)
    fonttype = matplotlib.rcParams["svg.fonttype"]
    with pytest.raises(RuntimeError):
        with patched_quantstats(52):
            assert reports.metrics is not before[0]
            assert matplotlib.rcParams["svg.fonttype"] == "none"  # text stays text in SVGs
            raise RuntimeError("boom")
    after = (reports.metrics, plots.yearly_returns, core.plot_distribution, plots.rolling_beta,
             stats.monthly_returns, plots.daily_returns)
    assert after == before
    assert matplotlib.rcParams["svg.fonttype"] == fonttype


# ----------------------------------------------------------------------------- F1 labels
def test_pin_f1_per_period_rows_are_named_after_days(raw_table):
    rows = set(raw_table.index)
    assert {"Expected Daily", "Daily Value-at-Risk", "Best Day", "Worst Day",
            "Win Days"} <= rows, UPGRADE.format(fix="F1")


def test_fixed_f1_weekly_rows_are_named_after_weeks_daily_unchanged(fixed_table):
    rows = list(fixed_table.index)
    for name in ("Expected Weekly", "Weekly Value-at-Risk", "Best Week", "Worst Week",
                 "Win Weeks"):
        assert name in rows
    assert not [r for r in rows if "Day" in r and "DD" not in r and "Drawdown" not in r]
    with patched_quantstats(252):
        daily_rows = set(_metrics(_daily(), _daily(1, name="bench"), 252).index)
    assert {"Expected Daily", "Best Day", "Win Days"} <= daily_rows
    assert period_words(52)["adj"] == "Weekly" and period_words(252)["noun"] == "Day"


# ----------------------------------------------------------------------------- F2 glyph
def test_pin_f2_cagr_label_has_a_rare_glyph(raw_table):
    assert "CAGR\ufe6a" in raw_table.index, UPGRADE.format(fix="F2")


def test_fixed_f2_cagr_label(fixed_table):
    rows = list(fixed_table.index)
    assert "CAGR" in rows and not any("\ufe6a" in r for r in rows)


# ----------------------------------------------------------------------------- F3 windows
def test_pin_f3_ten_years_from_two_years_of_data(raw_table):
    m = raw_table
    assert m.loc["10Y (ann.)", "strategy"] == m.loc["All-time (ann.)", "strategy"], \
        UPGRADE.format(fix="F3")
    assert m.loc["3Y (ann.)", "strategy"] == m.loc["All-time (ann.)", "strategy"]


def test_fixed_f3_uncovered_windows_are_dashes(fixed_table):
    m = fixed_table
    for row in ("3Y (ann.)", "5Y (ann.)", "10Y (ann.)"):
        assert list(m.loc[row]) == ["-", "-"]
    for row in ("3M", "6M", "1Y", "All-time (ann.)"):
        assert m.loc[row, "strategy"] not in ("-", "")
    with patched_quantstats(52):
        long = _metrics(_weekly(n=52 * 4), None, 52)
    assert long.loc["3Y (ann.)", "strategy"] != "-" and long.loc["5Y (ann.)", "strategy"] == "-"


# ----------------------------------------------------------------------------- F4 RaR
def test_pin_f4_risk_adjusted_return_assumes_252_periods(raw_table):
    r = _weekly()
    m = raw_table
    wrong = qs.stats.cagr(r, 0.0, True, 252) / qs.stats.exposure(r) * 100
    assert m.loc["Risk-Adjusted Return", "strategy"] == f"{round(wrong, 2)}%", \
        UPGRADE.format(fix="F4")


def test_fixed_f4_risk_adjusted_return_is_cagr_over_exposure(fixed_table):
    m = fixed_table
    # fully invested synthetic series: exposure 100%, so RaR = CAGR
    assert m.loc["Risk-Adjusted Return", "strategy"] == m.loc["CAGR", "strategy"]
    assert m.loc["Risk-Adjusted Return", "bench"] == m.loc["CAGR", "bench"]


# ----------------------------------------------------------------------------- F5 years
def _bar_labels(fig):
    ax = fig.axes[0]
    ticks = dict(zip(np.round(ax.get_xticks(), 6), [t.get_text() for t in ax.get_xticklabels()]))
    centres = np.round(np.mean([[p.get_x() + p.get_width() / 2 for p in c]
                                for c in ax.containers], axis=0), 6)
    return [ticks.get(c, "") for c in centres]


@pytest.mark.parametrize("make, ppy", [(_weekly, 52), (_daily, 252)])
def test_pin_f5_eoy_bars_are_labelled_a_year_late(make, ppy):
    r, b = make(), make(1, name="bench")
    fig = qs.plots.yearly_returns(r, b, show=False, subtitle=False, prepare_returns=False)
    years = [str(y) for y in sorted(set(r.index.year))]
    assert _bar_labels(fig) != years, UPGRADE.format(fix="F5")


@pytest.mark.parametrize("make, ppy", [(_weekly, 52), (_daily, 252)])
def test_fixed_f5_each_bar_has_its_year(make, ppy):
    r, b = make(), make(1, name="bench")
    with patched_quantstats(ppy):
        fig = qs.plots.yearly_returns(r, b, show=False, subtitle=False, prepare_returns=False)
    assert _bar_labels(fig) == [str(y) for y in sorted(set(r.index.year))]


# ----------------------------------------------------------------------------- F6 quantiles
def test_pin_f6_return_quantiles_lose_boxes_for_weekly_bars():
    from quantstats._plotting import core
    fig = core.plot_distribution(_weekly(), show=False, subtitle=False)
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels[0] == "Daily" and len(fig.axes[0].patches) < 5, UPGRADE.format(fix="F6")


def test_fixed_f6_one_value_per_calendar_period():
    r = _weekly()
    groups = period_returns(r, 52)
    assert list(groups) == ["Weekly", "Monthly", "Quarterly", "Yearly"]
    monthly = r.groupby(r.index.to_period("M")).apply(lambda g: np.prod(1 + g) - 1)
    np.testing.assert_allclose(groups["Monthly"].to_numpy(), monthly.to_numpy())
    assert len(groups["Yearly"]) == 3 and len(groups["Weekly"]) == len(r)
    assert list(period_returns(_daily(), 252))[0] == "Daily"
    from quantstats._plotting import core
    with patched_quantstats(52):
        fig = core.plot_distribution(r, show=False, subtitle=False)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(groups)
    medians = [float(np.asarray(line.get_ydata())[0]) for line in ax.get_lines()
               if line.get_color() == "#333333"]
    np.testing.assert_allclose(medians, [np.median(g) for g in groups.values()])


# ----------------------------------------------------------------------------- F7 beta
def test_pin_f7_rolling_beta_drawn_as_zero_before_the_window_fills():
    fig = qs.plots.rolling_beta(_weekly(), _weekly(1), window1=26, window2=52, show=False,
                                subtitle=False, prepare_returns=False)
    y = np.asarray(fig.axes[0].get_lines()[0].get_ydata(), dtype=float)
    assert y[0] == 0.0 and np.all(y[:25] == 0.0), UPGRADE.format(fix="F7")


def test_fixed_f7_rolling_beta_starts_when_the_window_fills():
    r, b = _weekly(), _weekly(1)
    with patched_quantstats(52):
        fig = qs.plots.rolling_beta(r, b, window1=26, window2=52, show=False, subtitle=False,
                                    prepare_returns=False)
    lines = fig.axes[0].get_lines()
    y = np.asarray(lines[0].get_ydata(), dtype=float)
    assert np.isnan(y[:25]).all() and np.isfinite(y[25:]).all()
    mean = float(np.nanmean(y))
    assert any(np.allclose(np.asarray(line.get_ydata(), dtype=float), mean)
               for line in lines[1:])


# ----------------------------------------------------------------------------- F8 heatmap
def test_pin_f8_months_before_the_series_are_zero():
    table = qs.stats.monthly_returns(_weekly(), eoy=False)
    assert table.loc["2022", "JAN"] == 0.0, UPGRADE.format(fix="F8")


def test_fixed_f8_months_outside_the_series_are_blank():
    r = _weekly()
    with patched_quantstats(52):
        table = qs.stats.monthly_returns(r, eoy=False)
    assert table.loc["2022"].iloc[:10].isna().all()  # Jan..Oct 2022: before the series
    assert np.isfinite(table.loc["2022", "NOV"]) and np.isfinite(table.loc["2023", "JAN"])
    last = r.index[-1]
    after = table.loc[str(last.year)].iloc[last.month:]
    assert after.isna().all()


# ----------------------------------------------------------------------------- F9 per bar
def test_pin_f9_cumulative_sum_drops_to_zero_between_bars():
    fig = qs.plots.daily_returns(_weekly(), None, show=False, subtitle=False,
                                 prepare_returns=False)
    y = np.asarray(fig.axes[0].get_lines()[0].get_ydata(), dtype=float)
    assert fig._suptitle.get_text().startswith("Daily Returns"), UPGRADE.format(fix="F9")
    assert len(y) > 5 * len(_weekly()) and (y == 0).sum() > len(_weekly()), \
        UPGRADE.format(fix="F9")


def test_fixed_f9_cumulative_sum_on_the_bars_titled_after_them():
    r = _weekly()
    with patched_quantstats(52):
        fig = qs.plots.daily_returns(r, None, show=False, subtitle=False,
                                     prepare_returns=False)
    y = np.asarray(fig.axes[0].get_lines()[0].get_ydata(), dtype=float)
    np.testing.assert_allclose(y, r.cumsum().to_numpy())
    assert fig._suptitle.get_text() == "Weekly Returns (Cumulative Sum)"


# ----------------------------------------------------------------------------- F10 decimals
def _sharpe_exactly(value, n=109):
    e = np.random.default_rng(5).normal(size=n)
    e = (e - e.mean()) / e.std(ddof=1)
    idx = pd.date_range("2022-11-11", periods=n, freq="W-FRI")
    return pd.Series(0.03 * e + 0.03 * value / np.sqrt(52), index=idx, name="strategy")


def test_pin_f10_one_decimal_when_the_second_is_zero():
    m = _metrics(_sharpe_exactly(1.5), None, 52)
    assert m.loc["Sharpe", "strategy"] == "1.5", UPGRADE.format(fix="F10")


def test_fixed_f10_two_decimals():
    with patched_quantstats(52):
        m = _metrics(_sharpe_exactly(1.5), None, 52)
    assert m.loc["Sharpe", "strategy"] == "1.50"
    values = [v for v in m["strategy"] if isinstance(v, str) and re.fullmatch(r"-?[\d,]+\.\d+%?", v)]
    assert values and all(re.fullmatch(r"-?[\d,]+\.\d\d%?", v) for v in values)
    assert m.loc["Longest DD Days", "strategy"].isdigit()  # counts stay integers


# ----------------------------------------------------------------------------- options
def test_pin_match_dates_would_start_the_page_later():
    """Why write_tearsheet passes match_dates=False: a leading 0 return (a strategy that stays
    in cash on its first bar) would move the page's first date."""
    r = _weekly()
    r.iloc[0] = 0.0
    r2, _ = qs.reports._match_dates(r, _weekly(1))
    assert r2.index[0] == r.index[1], "QuantStats' _match_dates changed: re-check html_options"


def test_sharpe_figure_of_the_tearsheet_is_ours(fixed_table):
    from analyzers.metrics import compute_metrics
    r, m = _weekly(), fixed_table
    assert float(m.loc["Sharpe", "strategy"]) == pytest.approx(
        round(compute_metrics(r, 52)["sharpe"], 2))
    assert math.isfinite(float(m.loc["Sharpe", "bench"]))
