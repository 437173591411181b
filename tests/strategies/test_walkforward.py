"""Walk-forward System 1: window arithmetic, no training on traded weeks, stitched backtest."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from feeds import get_universe, load_panel
from feeds.errors import BundleError, ConfigError
from strategies.presets import get_preset
from strategies.pipeline.system1 import RunConfig, run_system1, split
from strategies.pipeline.walkforward import Window, walk_forward_params, window_trainers, windows
from tests.strategies.test_portfolio import TICKERS, TINY


def test_windows_expanding_and_rolling():
    assert windows(100, 70, 0) == [Window(0, 0, 70, 100)]
    exp = windows(100, 70, 12)
    assert [(w.lo, w.hi, w.trade_end) for w in exp] == [(0, 70, 82), (0, 82, 94), (0, 94, 100)]
    roll = windows(100, 70, 12, "rolling")
    assert [(w.lo, w.hi) for w in roll] == [(0, 70), (12, 82), (24, 94)]
    assert all(w.hi - w.lo == 70 for w in roll)
    # every traded row is after its window's training rows, and the windows tile the test rows
    traded = [r for w in exp for r in range(w.hi, w.trade_end)]
    assert traded == list(range(70, 100))
    with pytest.raises(ConfigError, match="at least 4"):
        windows(100, 70, 2)
    with pytest.raises(ConfigError, match="mode"):
        windows(100, 70, 12, "sliding")


def _digests(bundle) -> dict:
    """The content digests of a bundle's weight files (what training produced)."""
    m = json.loads((bundle.path / "manifest.json").read_text())
    return {k: v for k, v in m["files"].items() if not k.endswith("manifest.json")}


@pytest.fixture(scope="module")
def wf_setup(tmp_path_factory):
    run = RunConfig(bundle_dir=str(tmp_path_factory.mktemp("wf")), walk_forward=26, **TINY)
    panel = load_panel(get_universe(TICKERS), start=run.start, end=run.end)
    n0 = split(panel, run.train_frac)
    return run, panel, n0


def test_past_windows_do_not_change_when_the_future_does(wf_setup, tmp_path):
    run, panel, n0 = wf_setup
    preset = get_preset("hybrid_top5")
    base = window_trainers(panel, n0, run)
    assert len(base) >= 3
    cut = base[1][0].hi  # alter every week from window 1's first traded week on
    rng = np.random.default_rng(1)
    shock = pd.DataFrame(np.exp(rng.normal(0, 0.2, panel.close.shape)), index=panel.index,
                         columns=panel.close.columns)
    shock.iloc[:cut] = 1.0
    scaled = shock.cumprod()
    altered = dataclasses.replace(  # week t's return is multiplied by shock t
        panel, open=panel.open * scaled, high=panel.high * scaled, low=panel.low * scaled,
        close=panel.close * scaled, returns=(1.0 + panel.returns) * shock - 1.0,
        log_returns=panel.log_returns + np.log(shock))
    other = window_trainers(altered, n0, dataclasses.replace(run, bundle_dir=str(tmp_path)))
    a = walk_forward_params(preset, base, panel)["schedule"]
    b = walk_forward_params(preset, other, altered)["schedule"]
    assert [d for d, _ in a] == [d for d, _ in b]
    for i in range(len(a)):
        same = _digests(a[i][1]) == _digests(b[i][1])
        if base[i][0].hi <= cut:  # trained on weeks before the alteration: identical
            assert same, f"window {i} changed although it trains before week {cut}"
        else:
            assert not same, f"window {i} trains on altered weeks yet did not change"
    # and no window's training data reaches into the weeks it trades
    for (w, tr) in base:
        assert tr.panel.index[-1] == panel.index[w.hi - 1] < panel.index[w.hi]


def test_first_window_is_the_single_split(wf_setup):
    run, panel, n0 = wf_setup
    preset = get_preset("ppo_top5")
    wf = window_trainers(panel, n0, run)
    single = run_system1(["ppo_top5"], dataclasses.replace(run, walk_forward=0))[0]["ppo_top5"]
    first = wf[0][1].policy_bundle(preset)
    assert str(first.path) == single.bundle  # the same data key: the same (reused) bundle


def test_walk_forward_run_switches_windows_and_carries_positions(wf_setup):
    run, panel, n0 = wf_setup
    res, meta = run_system1(["hybrid_top5", "lstm_top5", "equal_weight"], run)
    wins = meta["walk_forward"]["windows"]
    assert len(wins) >= 3 and meta["walk_forward"]["every_weeks"] == 26
    assert wins[0]["train_last"] == str(panel.index[n0 - 1].date())
    for w in wins:
        assert w["train_last"] <= w["first_decision"]
    for name in ("hybrid_top5", "lstm_top5"):
        r = res[name]
        assert len(r.returns) == meta["test_weeks"]  # one stitched out-of-sample curve
        assert r.returns.index[0] == panel.index[n0]
        assert r.metrics["rejected_orders"] == 0
    # the LSTM's skill is scored on the traded weeks only, each window with its own LSTM
    sk = meta["forecast_skill"]
    assert sk["verdict"] in ("no skill", "some skill") and sk["pooled"]["n"] > 0
    n_assets = len(panel.tickers)
    assert sk["pooled"]["n"] <= (len(panel) - n0) * n_assets
    # the same weeks as the single split's test, so the two evaluations compare directly
    assert res["equal_weight"].returns.index.equals(res["hybrid_top5"].returns.index)


def test_schedule_refuses_a_bundle_trading_its_training_weeks(wf_setup):
    import backtrader as bt

    from feeds import to_backtrader
    from strategies.composite import WalkForward
    run, panel, n0 = wf_setup
    wf = window_trainers(panel, n0, run)
    late = wf[1][1].lstm_bundle()  # trained up to window 1's last week
    cerebro = bt.Cerebro(stdstats=False)
    for d in to_backtrader(panel):
        cerebro.adddata(d, name=d._name)
    cerebro.addstrategy(WalkForward, schedule=[(panel.index[n0 - 1], late)], top_k=5)
    with pytest.raises(BundleError, match="trained up to"):
        cerebro.run()
