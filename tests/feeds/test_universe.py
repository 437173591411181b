import numpy as np
import pandas as pd
import pytest

from feeds import get_benchmark, get_universe, list_universes
from feeds.errors import ConfigError
from feeds.panel import panel_from_close


def test_presets_sizes_and_classes():
    p = get_universe("paper")
    assert len(p) == 32
    assert {c: len(v) for c, v in p.classes().items()} == {"nasdaq100": 11, "idx": 10,
                                                           "treasury": 1, "crypto": 10}
    assert p.kind["^TNX"] == "yield" and p.kind["AAPL"] == "price"
    w = get_universe("paper_wide")
    assert len(w) == 56 and set(p.tickers) <= set(w.tickers)
    assert {c: len(v) for c, v in w.classes().items()} == {"nasdaq100": 30, "idx": 15,
                                                           "treasury": 1, "crypto": 10}
    assert len(get_universe("nasdaq100")) == 85 and len(get_universe("idx")) == 25
    assert len(get_universe("crypto")) == 14
    assert "GOOG" not in p.tickers and "TON-USD" in p.tickers
    assert all(t.endswith(".JK") for t in get_universe("idx").tickers)
    assert set(list_universes()) >= {"paper", "paper_wide", "nasdaq100", "idx", "crypto",
                                     "treasury", "etf"}


def test_universe_is_frozen_and_unknown_is_config_error():
    u = get_universe("paper")
    with pytest.raises(Exception):
        u.name = "x"
    with pytest.raises(ConfigError, match="paper"):
        get_universe("nope")
    with pytest.raises(ConfigError):
        get_benchmark("nope")


def test_benchmarks_and_composite():
    assert get_benchmark("sp500").tickers == ("SPY",)
    assert get_benchmark("jkse").tickers == ("^JKSE",)
    comp = get_benchmark("composite")
    assert comp.class_weights == {"nasdaq100": .25, "idx": .25, "treasury": .25, "crypto": .25}
    idx = pd.date_range("2024-01-05", periods=4, freq="W-FRI")
    close = pd.DataFrame({"A": [1, 1.1, 1.21, 1.21], "B": [1, 1, 1, 2.0],
                          "C": [np.nan, 1, 2, 2], "D": [1, 1, 1, 1.0]}, index=idx)
    panel = panel_from_close(close, {"A": "nasdaq100", "B": "idx", "C": "crypto",
                                     "D": "treasury"})
    r = comp.weekly_returns(panel)
    assert r.iloc[0] == 0.0
    assert r.iloc[1] == pytest.approx((0.1 + 0 + 0) / 3)      # C not yet held (weights set before)
    assert r.iloc[2] == pytest.approx((0.1 + 0 + 1.0 + 0) / 4)
    assert r.iloc[3] == pytest.approx((0 + 1.0 + 0 + 0) / 4)
