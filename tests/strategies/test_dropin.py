"""Drop-in behaviour: feeds by name in any order, late and ended feeds, mixed calendars, bar size
checks, live (bar by bar) feeds, and the README's two drop-in examples run verbatim."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from feeds import load_daily, to_backtrader
from feeds.btfeeds import daily_to_backtrader
from feeds.errors import BundleError, ConfigError
from feeds.panel import panel_from_close
from strategies.allocation import BuyAndHold, ClassComposite, EqualWeight, HybridLSTMPPO
from strategies.alpha import AlphaEqualWeight, MomentumStrategy
from strategies.commission import ProportionalCommission

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
WEEKS = pd.date_range("2020-01-03", periods=80, freq="W-FRI")
TRADE_START = WEEKS[56]
RESAMPLE_HINT = "cerebro.resampledata(data, timeframe=bt.TimeFrame.Weeks, compression=1)"


# ------------------------------------------------------------------ fixtures and helpers
@pytest.fixture(scope="module")
def s1(tmp_path_factory):
    """(bundle path, weekly closes) of a tiny trained hybrid on 5 synthetic assets, one late."""
    from models.portfolio.bundle import save_bundle
    from tests.models._s1data import synthetic_arrays
    from tests.models._s1fixtures import TICKERS, TINY_LSTM, TINY_PPO, trained
    _, fcm, tp = trained("hybrid")
    path = save_bundle(tmp_path_factory.mktemp("s1") / "hybrid", variant="hybrid",
                       tickers=TICKERS, env_config=tp.env_config, seed=3, ppo_config=TINY_PPO,
                       builder=tp.builder, obs_norm=tp.obs_norm, model=tp.model,
                       lstm_config=TINY_LSTM, forecaster=fcm)
    _, close, _, _, _ = synthetic_arrays(T=80, N=5, late=1, late_start=20, seed=5)
    return path, pd.DataFrame(close, index=WEEKS, columns=list(TICKERS))


def _frame(panel, t: str) -> pd.DataFrame:
    return pd.DataFrame({"open": panel.open[t], "high": panel.high[t], "low": panel.low[t],
                         "close": panel.close[t], "volume": panel.volume[t]})


def project_feeds(close: pd.DataFrame, order=None) -> list:
    """feeds.to_backtrader feeds: one calendar, NaN before a start, an ``available`` line."""
    feeds = to_backtrader(panel_from_close(close))
    return [feeds[i] for i in (order if order is not None else range(len(feeds)))]


def plain_feeds(close: pd.DataFrame, order=None, **kw) -> list:
    """Your own weekly feeds: each only has the rows where its asset trades, no extra line."""
    panel = panel_from_close(close)
    names = [close.columns[i] for i in (order if order is not None else range(close.shape[1]))]
    out = []
    for t in names:
        df = _frame(panel, t).loc[close[t].notna()]
        out.append(bt.feeds.PandasData(dataname=df, name=t, openinterest=None, **kw))
    return out


class ListFeed(bt.feed.DataBase):
    """A feed delivered bar by bar from a list, like a live feed (``islive()`` = param ``live``)."""

    params = (("rows", ()), ("live", False))
    preloaded = False

    def islive(self):
        return bool(self.p.live)

    def preload(self):  # Cerebro preloads only feeds that are not live
        self.preloaded = True
        return super().preload()

    def start(self):
        super().start()
        self._rows = iter(self.p.rows)

    def _load(self):
        row = next(self._rows, None)
        if row is None:
            return False
        dt, o, h, lo, c, v = row
        self.lines.datetime[0] = bt.date2num(pd.Timestamp(dt).to_pydatetime())
        for line, x in ((self.lines.open, o), (self.lines.high, h), (self.lines.low, lo),
                        (self.lines.close, c), (self.lines.volume, v)):
            line[0] = float(x)
        self.lines.openinterest[0] = 0.0
        return True


def list_feed(df: pd.DataFrame, name: str, live: bool, **kw) -> ListFeed:
    rows = list(df[["open", "high", "low", "close", "volume"]].itertuples(name=None))
    return ListFeed(rows=rows, live=live, name=name, **kw)


def run(feeds, cls, cash=1_000_000.0, **params):
    c = bt.Cerebro(stdstats=False)
    for f in feeds:
        c.adddata(f, name=f._name)
    c.broker.setcash(cash)
    c.broker.addcommissioninfo(ProportionalCommission(commission=0.001))
    c.addstrategy(cls, **params)
    s = c.run()[0]
    return s, c.broker.getvalue()


def assert_same_decisions(a, b):
    """Same dates and bit-identical weights, matched by ticker (``tickers`` orders each row)."""
    assert sorted(a.tickers) == sorted(b.tickers)
    assert [d for d, _ in a.decisions] == [d for d, _ in b.decisions]
    to_b = [b.tickers.index(t) for t in a.tickers]
    for (d, x), (_, y) in zip(a.decisions, b.decisions):
        np.testing.assert_array_equal(x, y[to_b], err_msg=str(d))


SHUFFLE = [3, 0, 4, 2, 1]


def _strategies(s1):
    return [(EqualWeight, {}), (HybridLSTMPPO, {"bundle": str(s1[0]), "top_k": 2,
                                                "trade_start": TRADE_START})]


# ------------------------------------------------------------------ feeds in any order
@pytest.mark.parametrize("which", [0, 1], ids=["equal_weight", "hybrid"])
def test_feeds_in_any_order_give_the_same_decisions(s1, which):
    """to_backtrader feeds in bundle order vs shuffled: the same decisions, in bundle order."""
    cls, kw = _strategies(s1)[which]
    a, va = run(project_feeds(s1[1]), cls, **kw)
    b, vb = run(project_feeds(s1[1], SHUFFLE), cls, **kw)
    assert a.tickers == list(s1[1].columns) and len(a.decisions) >= 24
    assert_same_decisions(a, b)
    assert vb == pytest.approx(va, rel=1e-12)
    assert a.rejected == b.rejected == 0


@pytest.mark.parametrize("which", [0, 1], ids=["equal_weight", "hybrid"])
def test_late_feed_enters_when_it_starts_and_the_rest_trade(s1, which):
    """Plain feeds (the late one has no rows before its start), shuffled: the decisions of the
    project's feeds (NaN rows before the start, ``available`` line), from the first week on."""
    cls, kw = _strategies(s1)[which]
    a, va = run(project_feeds(s1[1]), cls, **kw)
    c, vc = run(plain_feeds(s1[1], SHUFFLE, timeframe=bt.TimeFrame.Weeks), cls, **kw)
    assert_same_decisions(a, c)
    assert vc == pytest.approx(va, rel=1e-12)
    if cls is EqualWeight:  # invested from week 0, the late asset (AAA) from week 20 on
        w = pd.DataFrame([x for _, x in c.decisions], index=[d for d, _ in c.decisions],
                         columns=c.tickers)
        assert w.index[0] == WEEKS[0].date() and len(w) == len(WEEKS)
        assert (w["AAA"].iloc[:20] == 0).all()
        assert (w.drop(columns="AAA").iloc[:20] == 0.25).all().all()
        np.testing.assert_allclose(w.iloc[20:], 0.2)


def test_unknown_and_missing_feeds_are_named(s1):
    close = s1[1].rename(columns={"EEE": "ZZZ"})
    with pytest.raises(BundleError, match=r"missing EEE.*extra ZZZ.*name='TICKER'"):
        run(project_feeds(close), HybridLSTMPPO, bundle=str(s1[0]))
    with pytest.raises(BundleError, match="missing EEE"):
        run(project_feeds(s1[1].drop(columns="EEE")), HybridLSTMPPO, bundle=str(s1[0]))


# ------------------------------------------------------------------ ended feeds
def test_ended_feed_is_unavailable_after_stale_limit_and_its_close_not_budgeted(s1):
    close = s1[1].copy()
    close.loc[WEEKS[50]:, "CCC"] = np.nan  # CCC's last bar is week 49
    s, _ = run(plain_feeds(close, timeframe=bt.TimeFrame.Weeks), EqualWeight)
    w = dict(s.decisions)
    ccc = s.tickers.index("CCC")
    assert w[WEEKS[51].date()][ccc] == pytest.approx(0.2)  # 2 missing weeks: carried, investable
    assert w[WEEKS[52].date()][ccc] == 0.0  # 3rd missing week: out
    assert np.allclose(w[WEEKS[60].date()], [0.25, 0.25, 0, 0.25, 0.25])
    assert s.rejected == 0 and s.partial_fills == 0  # the unfillable sell was not spent
    assert s.getposition(s.datas[ccc]).size > 0  # Backtrader fills only on a new bar of CCC


# ------------------------------------------------------------------ mixed calendars
def _daily(days: pd.DatetimeIndex, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    c = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, len(days))))
    o = np.r_[c[0], c[:-1]]
    return pd.DataFrame({"open": o, "high": np.maximum(o, c), "low": np.minimum(o, c),
                         "close": c, "volume": 1e6}, index=pd.DatetimeIndex(days, name="date"))


def test_resampled_feeds_on_two_calendars_decide_once_a_week():
    """Stocks (Mon-Fri, one Good Friday) and crypto (7 days, starting late) resampled by Cerebro:
    one decision per ISO week, at the week's last bar, every current feed in it."""
    stock_days = pd.bdate_range("2021-01-04", "2021-06-25").drop(pd.Timestamp("2021-04-02"))
    frames = {"STK": _daily(stock_days, 1), "STK2": _daily(stock_days, 2),
              "CRY": _daily(pd.date_range("2021-02-10", "2021-06-27"), 3)}
    c = bt.Cerebro(stdstats=False)
    for name in ("CRY", "STK", "STK2"):
        c.resampledata(bt.feeds.PandasData(dataname=frames[name]), name=name,
                       timeframe=bt.TimeFrame.Weeks, compression=1)
    c.broker.setcash(100_000)
    c.addstrategy(EqualWeight)
    s = c.run()[0]
    dates = pd.DatetimeIndex([d for d, _ in s.decisions])
    weeks = dates.isocalendar().week
    assert weeks.is_unique and len(dates) >= 24
    w = pd.DataFrame([x for _, x in s.decisions], index=dates, columns=s.tickers)
    crypto = w.index >= "2021-02-14"
    assert (dates[crypto].dayofweek == 6).all()  # decided on Sunday, once crypto trades
    assert (dates[~crypto].dayofweek == 4).all()
    np.testing.assert_allclose(w.loc[crypto], 1 / 3)  # stocks' Friday bar is current on Sunday
    np.testing.assert_allclose(w.loc[~crypto, ["STK", "STK2"]], 0.5)
    assert s.rejected == 0


# ------------------------------------------------------------------ bar size checks
@pytest.mark.parametrize("cls,kw", [(EqualWeight, {}), (BuyAndHold, {}),
                                    (ClassComposite, {"class_weights": {"x": 1.0},
                                                      "asset_class": {"STK": "x", "STK2": "x"}})])
def test_raw_daily_feeds_are_refused_by_system1(cls, kw):
    days = pd.bdate_range("2021-01-04", periods=60)
    feeds = [bt.feeds.PandasData(dataname=_daily(days, i), name=n)
             for i, n in enumerate(("STK", "STK2"))]
    with pytest.raises(ConfigError, match=re.escape(RESAMPLE_HINT)):
        run(feeds, cls, **kw)


def test_raw_daily_feeds_are_refused_by_a_bundle_strategy_also_live(s1):
    days = pd.bdate_range("2021-01-04", periods=60)
    for live in (False, True):
        feeds = [list_feed(_daily(days, i), t, live) for i, t in enumerate(s1[1].columns)]
        with pytest.raises(ConfigError, match=r"feed 'AAA' has daily bars.*" +
                           re.escape(RESAMPLE_HINT)):
            run(feeds, HybridLSTMPPO, bundle=str(s1[0]))


def test_weekly_bars_declared_as_days_are_weekly(s1):
    s, _ = run(plain_feeds(s1[1]), EqualWeight)  # PandasData's default timeframe is Days
    assert len(s.decisions) == len(WEEKS)


def test_system2_refuses_weekly_feeds(s1):
    weekly = project_feeds(s1[1])[1:2]
    with pytest.raises(ConfigError, match=r"daily bars.*weekly bars.*cerebro.adddata"):
        run(weekly, MomentumStrategy)
    df = load_daily(["AAPL"], start="2020-01-01", end="2020-06-30")["AAPL"]
    c = bt.Cerebro(stdstats=False)
    c.resampledata(daily_to_backtrader(df, "AAPL"), name="AAPL", timeframe=bt.TimeFrame.Weeks)
    c.addstrategy(MomentumStrategy)
    with pytest.raises(ConfigError, match="feed 'AAPL' has weekly bars"):
        c.run()


# ------------------------------------------------------------------ bar by bar (live) feeds
@pytest.mark.parametrize("which", [0, 1], ids=["equal_weight", "hybrid"])
def test_live_feeds_give_the_backtest_decisions_system1(s1, which):
    cls, kw = _strategies(s1)[which]
    back, vb = run(plain_feeds(s1[1], timeframe=bt.TimeFrame.Weeks), cls, **kw)
    panel = panel_from_close(s1[1])
    for live in (False, True):
        feeds = [list_feed(_frame(panel, t).loc[s1[1][t].notna()], t, live)
                 for t in reversed(s1[1].columns)]  # declared Days: weekly spacing inferred
        s, v = run(feeds, cls, **kw)
        assert all(f.preloaded is not live for f in feeds)
        assert_same_decisions(back, s)
        assert v == pytest.approx(vb, rel=1e-12)


@pytest.fixture(scope="module")
def aapl():
    return load_daily(["AAPL"], start="2019-01-01", end="2020-06-30")["AAPL"]


@pytest.mark.parametrize("which", ["momentum", "alpha_equal"])
def test_live_feed_gives_the_backtest_decisions_system2(aapl, which):
    from models.alpha import AlphaConfig, EqualWeightPolicy
    from models.alpha.language import load_alphas
    if which == "momentum":
        cls, kw = MomentumStrategy, {"lookback": 20}
    else:
        pol = EqualWeightPolicy.fit(aapl, load_alphas(), "2019-08-01", "2020-03-31",
                                    AlphaConfig())
        cls, kw = AlphaEqualWeight, {"policy": pol}
    back, vb = run([daily_to_backtrader(aapl, "AAPL")], cls, trade_start="2020-03-31", **kw)
    feed = list_feed(aapl, "AAPL", True)
    live, vl = run([feed], cls, trade_start="2020-03-31", **kw)
    assert not feed.preloaded
    assert len(back.decisions) > 40 and back.decisions == live.decisions
    assert vl == pytest.approx(vb, rel=1e-12)


# ------------------------------------------------------------------ README examples
TINY_RUN = ('run = RunConfig(universe="paper", seed=0, timesteps=256, progress=False, '
            'bundle_dir={dir!r}, env_overrides={{"window": 4}}, '
            'ppo_overrides={{"n_steps": 128, "batch_size": 64, "n_epochs": 1, '
            '"net_arch": (16, 16)}}, lstm_overrides={{"lookback": 8, "hidden": 8, '
            '"max_epochs": 2, "patience": 1}})')


@pytest.mark.parametrize("path", ["examples/own_daily_feeds.py", "examples/system2_dropin.py"])
def test_readme_embeds_the_example(path):
    m = re.search(rf"<!-- example: {re.escape(path)} -->\s*```python\n(.*?)```", README, re.DOTALL)
    assert m, f"README must embed {path}"
    assert m.group(1).strip() == (ROOT / path).read_text().strip()


def test_own_daily_feeds_example_runs(tmp_path, capsys):
    """Verbatim, except for tiny training settings and a temporary bundle folder."""
    src = (ROOT / "examples/own_daily_feeds.py").read_text()
    line = 'run = RunConfig(universe="paper", seed=0)'
    assert line in src
    script = tmp_path / "example.py"
    script.write_text(src.replace(line, TINY_RUN.format(dir=str(tmp_path))))
    runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out
    m = re.search(r"(\d+) weekly decisions, (\d+) weeks; rejected orders (\d+)", out)
    assert m and int(m.group(1)) > 100 and m.group(1) == m.group(2) and m.group(3) == "0", out


def test_system2_example_runs(capsys):
    runpy.run_path(str(ROOT / "examples/system2_dropin.py"), run_name="__main__")
    out = capsys.readouterr().out
    m = re.search(r"(\d+) daily decisions, (\d+) days .*rejected orders (\d+)", out)
    assert m and int(m.group(1)) > 200 and m.group(1) == m.group(2) and m.group(3) == "0", out
