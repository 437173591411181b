"""The packaged offline dataset: ``feeds/data/*.csv.gz`` + ``manifest.json``.

Read through :mod:`importlib.resources`, so it works from an installed wheel; nothing outside
the package is read at run time. See ``feeds/data/README.md`` for contents and provenance and
:mod:`feeds.build_dataset` for how it is built.

Aliases: ``^TNX`` is served from FRED's ``DGS10`` (also ``^FVX`` -> DGS5, ``^TYX`` -> DGS30,
``^IRX`` -> DGS3MO); ``TON-USD`` is Yahoo's ``TON11419-USD``.
"""

from __future__ import annotations

import functools
import gzip
import io
import json
from importlib import resources

import numpy as np
import pandas as pd

from feeds.clean import clean_daily
from feeds.errors import DataError
from feeds.names import validate_ticker
from feeds.universe import YIELD_ALIASES, ticker_kind

TICKER_ALIASES = {"TON11419-USD": "TON-USD", **YIELD_ALIASES}


def _data_dir():
    return resources.files("feeds") / "data"


@functools.lru_cache(maxsize=1)
def manifest() -> dict:
    """The packaged ``manifest.json`` (sha256, rows, tickers, ranges, provenance per file)."""
    f = _data_dir() / "manifest.json"
    if not f.is_file():
        raise DataError("the packaged dataset is missing (feeds/data/manifest.json); reinstall the "
                        "package or rebuild it with python -m feeds.build_dataset --raw <folder>")
    return json.loads(f.read_text())


def packaged_tickers() -> dict[str, str]:
    """ticker -> packaged file name, for every packaged ticker."""
    return {t: fname for fname, info in manifest()["files"].items() for t in info["tickers"]}


def _read_file(fname: str) -> pd.DataFrame:
    blob = (_data_dir() / fname).read_bytes()
    df = pd.read_csv(io.BytesIO(gzip.decompress(blob)), dtype={"ticker": str})
    df["date"] = pd.to_datetime(df["date"], format="%Y-%m-%d")
    return df


@functools.lru_cache(maxsize=8)
def _file_rows(fname: str) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """One packaged file without its ticker column, and each ticker's row positions: the file is
    read and grouped once per process (before, every ticker scanned the whole file)."""
    df = _read_file(fname)
    rows = {str(t): pos for t, pos in df.groupby("ticker", sort=False).indices.items()}
    return df.drop(columns=["ticker"]), rows


def resolve(ticker: str) -> str:
    """The packaged ticker a requested ticker is served from (``^TNX`` -> ``DGS10``)."""
    return TICKER_ALIASES.get(ticker.upper(), ticker)


def load_packaged(tickers) -> dict[str, pd.DataFrame]:
    """Cleaned daily bars for ``tickers`` from the packaged dataset, keyed by requested ticker.

    Raises:
        DataError: a ticker is not a safe name, or is not packaged (the message says how to get
            it).
    """
    where = packaged_tickers()
    out = {}
    for t in tickers:
        src = resolve(validate_ticker(t))
        if src not in where:
            raise DataError(f"packaged dataset: unknown ticker {t}; packaged tickers are listed by "
                            f"`python -m feeds universes`; use source='yfinance' or 'files' for "
                            f"others")
        body, rows = _file_rows(where[src])
        if src not in rows:
            raise DataError(f"packaged dataset: {where[src]} has no rows for {t} although the "
                            "manifest lists it; reinstall the package")
        sub = body.iloc[rows[src]]  # a new frame: the cached file is never changed
        out[t] = clean_daily(sub, t, f"packaged:{where[src]}", kind=ticker_kind(t))
    return out
