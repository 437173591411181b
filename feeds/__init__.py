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

from feeds.errors import BundleError, ConfigError, DataError, PluginError  # noqa: F401
from feeds.lazy import lazy_exports

# loaded on first use, so `import feeds` (and `feeds.errors`, which every package imports)
# pulls in neither pandas nor Backtrader
_EXPORTS = {
    "feeds.errors": ("BundleError", "ConfigError", "DataError", "PluginError"),
    "feeds.benchmark": ("resolve_benchmark",),
    "feeds.names": ("safe_join", "validate_ticker"),
    "feeds.panel": ("WeeklyPanel",),
    "feeds.resample": ("load_panel", "weekly_panel"),
    "feeds.sources": ("load_daily",),
    "feeds.universe": ("Benchmark", "Universe", "get_benchmark", "get_universe",
                       "list_universes", "parse_asset_classes"),
    "feeds.btfeeds": ("to_backtrader", "daily_to_backtrader", "PanelData"),
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
