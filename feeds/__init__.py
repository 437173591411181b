"""Price data: packaged dataset, yfinance, user files; cleaning, weekly panels, Backtrader feeds.

Public API::

    load_daily(tickers, source="packaged", path=None, start=None, end=None, cache_dir=None)
    load_panel(universe="paper", source="packaged", path=None, start=None, end=None)
    weekly_panel(daily, universe, ffill_limit=2)
    get_universe(name, asset_classes=None), list_universes(), get_benchmark(name)
    parse_asset_classes(text) -> dict;  resolve_benchmark(name_or_ticker, source, path, ...)
    validate_ticker(name) -> str;  safe_join(root, *parts) -> Path
    to_backtrader(panel), daily_to_backtrader(df, name)

See docs/DATA.md.
"""

from feeds.benchmark import resolve_benchmark
from feeds.errors import BundleError, ConfigError, DataError, PluginError
from feeds.names import safe_join, validate_ticker
from feeds.panel import WeeklyPanel
from feeds.resample import load_panel, weekly_panel
from feeds.sources import load_daily
from feeds.universe import (Benchmark, Universe, get_benchmark, get_universe, list_universes,
                            parse_asset_classes)


def __getattr__(name):
    # the Backtrader adapter is imported lazily so `import feeds` does not pull in backtrader
    if name in ("to_backtrader", "daily_to_backtrader", "PanelData"):
        from feeds import btfeeds
        return getattr(btfeeds, name)
    raise AttributeError(f"module 'feeds' has no attribute {name!r}")


__all__ = [
    "load_daily", "load_panel", "weekly_panel", "get_universe", "list_universes",
    "get_benchmark", "WeeklyPanel", "to_backtrader", "daily_to_backtrader", "DataError",
    "ConfigError", "BundleError", "PluginError", "Universe", "Benchmark", "PanelData",
    "validate_ticker", "safe_join", "parse_asset_classes", "resolve_benchmark",
]
