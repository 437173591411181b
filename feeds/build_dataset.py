"""Build the packaged offline dataset ``feeds/data/`` from the raw public files.

Usage::

    python -m feeds.build_dataset --raw /work/shared/data/raw [--out feeds/data] [--start 2015-01-01]

Reads the raw per-ticker files (layouts and quirks described in ``feeds/data/README.md``), applies
the same cleaning every source gets (:mod:`feeds.clean`), adjusts O/H/L/C by ``Adj Close / Close``
where a file has both, keeps rows from ``--start`` on, and writes one long-format
``date,ticker,open,high,low,close,volume`` ``.csv.gz`` per asset class (prices with 7 significant
digits, integer volumes, deterministic gzip) plus ``manifest.json`` (sha256, rows, tickers, date
ranges, provenance). Only the build reads the raw folder; at run time the program reads the
packaged copy.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import logging
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from feeds.clean import clean_daily
from feeds.errors import PluginError
from feeds.files import read_csv_file
from feeds.universe import CRYPTO, ETF, IDX, NASDAQ100, TREASURY

log = logging.getLogger("feeds.build_dataset")

PROVENANCE = {
    "nasdaq100": {
        "repository": "Alexshch09/Stocks-prices", "commit": "11c6cc3c", "path": "data/<T>.csv",
        "licence": "none stated; Yahoo Finance data (yfinance history(), split- and "
                   "dividend-adjusted)",
    },
    "crypto": {
        "repository": "Alexshch09/Stocks-prices", "commit": "11c6cc3c",
        "path": "data/<T>-USD.csv (TON: data/TON11419-USD.csv, published here as TON-USD)",
        "licence": "none stated; Yahoo Finance data",
    },
    "idx": {
        "repository": "aloyyola/Clustering-and-Prediction-Stock-Use-K-means-LSTM",
        "commit": "d2e378ed", "path": "<T>.csv / <T>.JK.csv (repository root)",
        "licence": "none stated; Yahoo Finance data",
    },
    "treasury": {
        "repository": "leo-lightfoot/Yield_Curve_PCA", "commit": "99922501",
        "path": "data/DGS*.csv (FRED / Federal Reserve H.15)", "licence": "public domain (FRED)",
    },
    "etf": {
        "repository": "jmlestevez-source/taa-dashboard", "commit": "4e2c5c06",
        "path": "data/<T>.csv", "licence": "none stated; Yahoo Finance data",
    },
    "benchmarks": {
        "SPY, QQQ": {"repository": "jmlestevez-source/taa-dashboard", "commit": "4e2c5c06",
                     "path": "data/<T>.csv", "licence": "none stated; Yahoo Finance data"},
        "^JKSE (to 2023-03-03)": {"repository": "itsmecevi/ihsg_dataset", "commit": "b2909d6b",
                                  "path": "^JKSE.csv", "licence": "MIT"},
        "^JKSE (after 2023-03-03)": {"repository": "sardion/skripsi_2602214545",
                                     "commit": "9c189712", "path": "data/raw/ihsg_raw.csv",
                                     "licence": "none stated; Yahoo Finance data"},
    },
}

FILE_OF = {"nasdaq100": "nasdaq100.csv.gz", "crypto": "crypto.csv.gz", "idx": "idx.csv.gz",
           "treasury": "treasury.csv.gz", "etf": "etf.csv.gz", "benchmarks": "benchmarks.csv.gz"}


def _raw_file(folder: Path, *stems: str) -> Path:
    for s in stems:
        for ext in (".csv", ".csv.gz"):
            p = folder / f"{s}{ext}"
            if p.is_file():
                return p
    raise PluginError(f"{folder}: none of {stems} found; is --raw the raw data folder?")


def _load(path: Path, ticker: str, kind: str = "price") -> pd.DataFrame:
    df, kind = read_csv_file(path, ticker, kind)
    return clean_daily(df, ticker, str(path), kind=kind)


def splice_jkse(raw: Path) -> tuple[pd.DataFrame, dict]:
    """^JKSE: ``^JKSE.csv`` up to its last date, ``ihsg_raw.csv`` strictly after it.

    Checks the two agree on their overlap (2019-01..2023-03) and returns the max relative
    close difference there.
    """
    a = _load(raw / "jkse" / "^JKSE.csv", "^JKSE")
    b = _load(raw / "jkse" / "ihsg_raw.csv", "^JKSE")
    common = a.index.intersection(b.index)
    rel = (b.loc[common, "close"] / a.loc[common, "close"] - 1.0).abs()
    info = {"overlap": [str(common.min().date()), str(common.max().date())],
            "overlap_days": int(len(common)),
            "max_rel_close_diff": float(rel.max()),
            "median_rel_close_diff": float(rel.median()),
            "switch_after": str(a.index.max().date())}
    log.info("^JKSE splice: overlap %s..%s (%d days), close max rel diff %.2e, median %.2e; "
             "^JKSE.csv up to %s, ihsg_raw.csv after", *info["overlap"], len(common),
             info["max_rel_close_diff"], info["median_rel_close_diff"], info["switch_after"])
    if info["max_rel_close_diff"] > 0.02:
        raise PluginError(f"^JKSE sources disagree on the overlap by "
                          f"{info['max_rel_close_diff']:.1%}; inspect the raw files")
    out = pd.concat([a, b[b.index > a.index.max()]])
    return out, info


def collect(raw: Path) -> tuple[dict[str, dict[str, pd.DataFrame]], dict]:
    """Read and clean every raw file; returns {class: {ticker: daily frame}} and extra info."""
    raw = Path(raw)
    data: dict[str, dict[str, pd.DataFrame]] = {k: {} for k in FILE_OF}
    for t in NASDAQ100:
        data["nasdaq100"][t] = _load(_raw_file(raw / "nasdaq100", t), t)
    for t in CRYPTO:
        stems = (t, "TON11419-USD") if t == "TON-USD" else (t,)
        data["crypto"][t] = _load(_raw_file(raw / "crypto", *stems), t)
    for t in IDX:
        data["idx"][t] = _load(_raw_file(raw / "idx", t, t[:-3]), t)
    for t in TREASURY:
        data["treasury"][t] = _load(_raw_file(raw / "treasury_fred", t), t, kind="yield")
    for t in ETF:
        data["etf"][t] = _load(_raw_file(raw / "etf", t), t)
    for t in ("SPY", "QQQ"):
        data["benchmarks"][t] = _load(_raw_file(raw / "etf", t), t)
    data["benchmarks"]["^JKSE"], jk = splice_jkse(raw)
    return data, {"jkse_splice": jk}


def to_long(frames: dict[str, pd.DataFrame], start) -> pd.DataFrame:
    parts = []
    for t, df in frames.items():
        d = df.loc[df.index >= pd.Timestamp(start)] if start else df
        d = d.reset_index()
        d.insert(1, "ticker", t)
        parts.append(d)
    return pd.concat(parts, ignore_index=True)


def write_csv_gz(long: pd.DataFrame, path: Path) -> bytes:
    """Deterministic gzip (mtime 0) of the long CSV; returns the bytes written."""
    d = long.copy()
    d["date"] = d["date"].dt.strftime("%Y-%m-%d")
    d["volume"] = np.round(d["volume"].to_numpy()).astype("int64")
    buf = io.StringIO()
    d.to_csv(buf, index=False, float_format="%.7g", lineterminator="\n")
    raw = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
        gz.write(buf.getvalue().encode())
    data = raw.getvalue()
    path.write_bytes(data)
    return data


def build(raw: Path, out: Path, start: str = "2015-01-01") -> dict:
    """Build the dataset into ``out``; returns the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    data, extra = collect(raw)
    files = {}
    for cls, fname in FILE_OF.items():
        long = to_long(data[cls], start)
        blob = write_csv_gz(long, out / fname)
        ranges = {t: {"first": str(g["date"].min().date()), "last": str(g["date"].max().date()),
                      "rows": int(len(g))} for t, g in long.groupby("ticker", sort=False)}
        files[fname] = {"asset_class": cls, "sha256": hashlib.sha256(blob).hexdigest(),
                        "bytes": len(blob), "rows": int(len(long)),
                        "tickers": list(data[cls]), "ranges": ranges,
                        "provenance": PROVENANCE[cls]}
        log.info("%s: %d rows, %d tickers, %.0f kB", fname, len(long), len(data[cls]),
                 len(blob) / 1e3)
    manifest = {
        "name": "bt-rlportfolio packaged research sample",
        "format": "long csv.gz: date,ticker,open,high,low,close,volume; prices 7 significant "
                  "digits; adjusted OHLC; treasury close = yield in percent",
        "start": start,
        "aliases": {"TON-USD": "raw file TON11419-USD.csv", "^TNX": "DGS10 (packaged)"},
        "build_command": "python -m feeds.build_dataset --raw /work/shared/data/raw",
        "licence_note": "research sample of Yahoo Finance and FRED data republished without a "
                        "stated licence, except ^JKSE.csv (MIT) and FRED series (public domain)",
        "files": files, **extra,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=False) + "\n")
    return manifest


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m feeds.build_dataset", description=__doc__.split(
        "\n\n")[0])
    p.add_argument("--raw", required=True, help="raw data folder (nasdaq100/, crypto/, idx/, ...)")
    p.add_argument("--out", default=str(Path(__file__).parent / "data"), help="output folder")
    p.add_argument("--start", default="2015-01-01", help="first date kept")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        m = build(Path(args.raw), Path(args.out), args.start)
    except PluginError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    total = sum(f["bytes"] for f in m["files"].values())
    log.info("wrote %d files, %.2f MB, into %s", len(m["files"]), total / 1e6, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
