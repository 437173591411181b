import numpy as np
import pandas as pd
import pytest

from feeds import get_benchmark, get_universe, list_universes, load_panel, parse_asset_classes
from feeds.errors import ConfigError, DataError
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


# --- asset classes given by the user -------------------------------------------------------


def test_unknown_ticker_class_is_other_not_nasdaq100():
    # before: ZZZ was classed nasdaq100, so `composite` silently equalled equal weight
    u = get_universe(["AAPL", "ZZZ", "BTC-USD", "^TNX", "BBCA.JK", "MY_FUND"])
    assert u.asset_class == {"AAPL": "nasdaq100", "ZZZ": "other", "BTC-USD": "crypto",
                             "^TNX": "treasury", "BBCA.JK": "idx", "MY_FUND": "other"}
    assert u.unknown_classes() == ["ZZZ", "MY_FUND"]
    assert get_universe("paper").unknown_classes() == []
    assert all(not get_universe(n).unknown_classes() for n in list_universes())


def test_user_classes_override_and_fill():
    u = get_universe(["AAPL", "ZZZ"], asset_classes={"ZZZ": "Equity", "AAPL": "equity"})
    assert u.asset_class == {"AAPL": "equity", "ZZZ": "equity"} and u.unknown_classes() == []
    p = get_universe("paper", asset_classes={"AAPL": "mega_cap"})
    assert p.asset_class["AAPL"] == "mega_cap" and p.asset_class["MSFT"] == "nasdaq100"
    with pytest.raises(ConfigError, match="NVDAX"):
        get_universe(["AAPL"], asset_classes={"NVDAX": "equity"})
    with pytest.raises(ConfigError, match="bad asset class"):
        get_universe(["AAPL"], asset_classes={"AAPL": "two words"})


def test_parse_asset_classes():
    assert parse_asset_classes("AAPL=equity, BTC-USD=Crypto,EURUSD=X=fx,") == {
        "AAPL": "equity", "BTC-USD": "crypto", "EURUSD=X": "fx"}
    assert parse_asset_classes("") == {} and parse_asset_classes(None) == {}
    assert parse_asset_classes("AAPL=equity,AAPL=equity") == {"AAPL": "equity"}


@pytest.mark.parametrize("text,what", [
    ("AAPL", "is not TICKER=CLASS"),
    ("AAPL=", "is not TICKER=CLASS"),
    ("=equity", "is not TICKER=CLASS"),
    ("../X=equity", "bad ticker"),
    ("AAPL=eq uity", "bad asset class"),
    ("AAPL=equity,AAPL=bond", "two classes"),
])
def test_parse_asset_classes_errors_one_line(text, what):
    with pytest.raises(ConfigError) as ei:
        parse_asset_classes(text)
    assert what in str(ei.value) and "\n" not in str(ei.value)


LONG_CLASSES = """date,ticker,open,high,low,close,volume,asset_class
2024-01-02,AAA,1,1,1,1,10,equity
2024-01-03,AAA,1.1,1.1,1.1,1.1,10,equity
2024-01-02,BBB,2,2,2,2,10,bond
2024-01-03,BBB,2.1,2.1,2.1,2.1,10,
2024-01-02,AAPL,3,3,3,3,10,equity
2024-01-03,AAPL,3.1,3.1,3.1,3.1,10,equity
2024-01-02,CCC,4,4,4,4,10,
"""


def test_long_file_asset_class_column(tmp_path):
    f = tmp_path / "long.csv"
    f.write_text(LONG_CLASSES)
    p = load_panel(["AAA", "BBB", "AAPL", "CCC"], source="files", path=f)
    # the column fills unknown classes; known names keep theirs; no class stays `other`
    assert p.asset_class == {"AAA": "equity", "BBB": "bond", "AAPL": "nasdaq100",
                             "CCC": "other"}
    # an explicit mapping wins over the file
    u = get_universe(["AAA", "CCC"], asset_classes={"AAA": "growth", "CCC": "cash"})
    p2 = load_panel(u, source="files", path=f)
    assert p2.asset_class == {"AAA": "growth", "CCC": "cash"}


def test_long_file_conflicting_classes(tmp_path):
    f = tmp_path / "long.csv"
    f.write_text(LONG_CLASSES + "2024-01-03,CCC,4,4,4,4,10,bond\n2024-01-04,CCC,4,4,4,4,10,fx\n")
    with pytest.raises(DataError, match=r"CCC has asset_class values \['bond', 'fx'\]"):
        load_panel(["CCC"], source="files", path=f)


def test_composite_can_ask_whether_classes_are_known():
    u = get_universe(["AAPL", "ZZZ"])
    comp = get_benchmark("composite")
    assert u.unknown_classes() == ["ZZZ"]
    assert "other" not in comp.class_weights
