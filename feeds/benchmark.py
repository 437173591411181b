"""Where a single-ticker benchmark's prices come from: the user's data first, else packaged.

A run on the user's files (``source="files"``) used to take SPY from the packaged dataset, which
starts in 2015, so no such run could start earlier. :func:`resolve_benchmark` takes the benchmark
ticker from the user's data when it is there and says where it came from; the caller prints or
records the provenance string.
"""

from __future__ import annotations

import pandas as pd

from feeds.errors import ConfigError, DataError
from feeds.names import validate_ticker
from feeds.universe import get_benchmark, list_benchmarks


def benchmark_ticker(name_or_ticker: str, ticker: str | None = None) -> str:
    """The ticker behind a benchmark name (``sp500`` -> ``SPY``), a ticker itself, or ``ticker``.

    Raises:
        ConfigError: ``composite`` (it is built from the panel's classes, not one ticker).
        DataError: not a safe ticker name.
    """
    if ticker is not None:
        return validate_ticker(ticker)
    if name_or_ticker in list_benchmarks():
        bm = get_benchmark(name_or_ticker)
        if not bm.tickers:
            raise ConfigError(f"benchmark {name_or_ticker} is built from the panel's asset "
                              f"classes (Benchmark.weekly_returns), not from one ticker; pass "
                              f"sp500, qqq, jkse or a ticker such as SPY")
        return bm.tickers[0]
    return validate_ticker(name_or_ticker)


def _span(df: pd.DataFrame) -> str:
    return f"{df.index[0]:%Y-%m-%d}..{df.index[-1]:%Y-%m-%d}"


def _packaged(t: str, start, end, user_path=None) -> tuple[pd.DataFrame, str]:
    """The packaged copy of ``t``; ``user_path``: the user's data that lacked it (for messages)."""
    from feeds.packaged import packaged_tickers, resolve
    from feeds.sources import load_daily

    if resolve(t) not in packaged_tickers():
        where = f"neither in your data ({user_path}) nor" if user_path is not None else "not"
        raise DataError(f"benchmark {t} is {where} in the packaged dataset; add {t}.csv (or a "
                        f"{t} column) to your data, or choose another benchmark ticker")
    full = load_daily([t], source="packaged")[t]
    try:
        df = load_daily([t], source="packaged", start=start, end=end)[t]
    except DataError:
        lead = f"{t} is not in your data ({user_path}) and" if user_path is not None else f"{t}:"
        raise DataError(f"benchmark {lead} the packaged copy covers {_span(full)} only, not "
                        f"{start or '...'}..{end or '...'}; add {t} to your data or narrow "
                        f"--start/--end") from None
    note = " (not in your data)" if user_path is not None else ""
    return df, f"{t} from the packaged dataset{note}, {_span(df)}"


def resolve_benchmark(name_or_ticker: str, source: str = "packaged", path=None, start=None,
                      end=None, cache_dir=None, *, ticker: str | None = None,
                      today=None) -> tuple[pd.DataFrame, str]:
    """Daily bars of a single-ticker benchmark and where they came from.

    Args:
        name_or_ticker: ``sp500``, ``qqq``, ``jkse`` or a ticker (``SPY``, ``^GSPC``, ``VOO``).
        source, path, start, end, cache_dir: as for :func:`feeds.load_daily` -- the run's own.
        ticker: explicit benchmark ticker; overrides the one behind ``name_or_ticker``.
        today: passed to :func:`feeds.load_daily` (future-dated user rows raise).

    Returns:
        ``(daily frame, provenance)``, e.g. ``"SPY from your data (/data/prices.csv),
        2005-01-03..2024-12-31"`` or ``"SPY from the packaged dataset (not in your data),
        2015-01-02..2025-09-26"``. With ``source="files"`` the user's data are used when they
        hold the ticker; otherwise the packaged copy. Other sources load the ticker from the
        same source.

    Raises:
        ConfigError: ``composite``. DataError: bad ticker name; the ticker is neither in the
        user's data nor packaged; no rows in ``[start, end]``.
    """
    from feeds.sources import load_daily

    t = benchmark_ticker(name_or_ticker, ticker)
    if source == "files":
        from feeds.files import has_ticker
        if has_ticker(path, t):
            df = load_daily([t], source="files", path=path, start=start, end=end, today=today)[t]
            return df, f"{t} from your data ({path}), {_span(df)}"
        return _packaged(t, start, end, user_path=path)
    if source == "packaged":
        return _packaged(t, start, end)
    df = load_daily([t], source=source, path=path, start=start, end=end, cache_dir=cache_dir,
                    today=today)[t]
    return df, f"{t} from {source}, {_span(df)}"


__all__ = ["benchmark_ticker", "resolve_benchmark"]
