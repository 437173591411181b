"""``python -m feeds``: data coverage, yfinance downloads, universe listing.

Commands::

    python -m feeds universes
    python -m feeds coverage --universe paper [--source packaged|yfinance|files] [--path P]
                             [--start D] [--end D] [--cache-dir DIR]
    python -m feeds download --universe paper [--start D] [--end D] [--cache-dir DIR]

Errors a user can fix print one line ``error: ...`` on stderr and exit with code 2.
"""

from __future__ import annotations

import argparse
import logging
import sys

import pandas as pd

from feeds.errors import PluginError


def coverage_table(daily: dict, panel) -> list[dict]:
    """Per ticker: class, first/last daily bar, weeks in life (first..last traded week) and gaps
    (weeks in life where the mask is False)."""
    rows = []
    for t in panel.tickers:
        d = daily[t]
        first, last = d.index[0], d.index[-1]
        w = panel.index
        in_life = (w >= first) & (w < last + pd.Timedelta(days=7))
        rows.append({"ticker": t, "class": panel.asset_class.get(t, "?"),
                     "first": first.date().isoformat(), "last": last.date().isoformat(),
                     "weeks": int(in_life.sum()), "gaps": int((~panel.mask[t][in_life]).sum())})
    return rows


def _print_table(rows: list[dict]) -> None:
    if not rows:
        print("(no rows)")
        return
    cols = list(rows[0])
    width = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    print("  ".join(c.ljust(width[c]) for c in cols))
    for r in rows:
        print("  ".join(str(r[c]).ljust(width[c]) for c in cols))


def _tickers(universe: str):
    """A preset name, or ``A,B,C`` as a ticker list."""
    return [t.strip() for t in universe.split(",") if t.strip()] if "," in universe else universe


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m feeds", description="price data tools")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("universes", help="list the preset universes and benchmarks")
    c = sub.add_parser("coverage", help="per-ticker weekly coverage of a universe")
    c.add_argument("--universe", default="paper",
                   help="preset name (see `universes`) or comma-separated tickers")
    c.add_argument("--source", default="packaged", choices=["packaged", "yfinance", "files"])
    c.add_argument("--path", default=None,
                   help="files source: folder of per-ticker CSVs, or one long or wide CSV")
    c.add_argument("--start", default=None, help="first date (YYYY-MM-DD)")
    c.add_argument("--end", default=None, help="last date (YYYY-MM-DD)")
    c.add_argument("--cache-dir", default=None, help="yfinance cache folder")
    c.add_argument("--ffill-limit", type=int, default=2, help="missing weeks kept investable")
    c.add_argument("--asset-classes", default=None,
                   help="classes of your tickers, e.g. AAPL=equity,BTC-USD=crypto")
    d = sub.add_parser("download", help="download a universe with yfinance into the cache")
    d.add_argument("--universe", default="paper")
    d.add_argument("--start", default=None)
    d.add_argument("--end", default=None)
    d.add_argument("--cache-dir", default=None, help="default: the user cache dir")
    p.add_argument("-v", "--verbose", action="store_true", help="log cleaning steps")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "universes":
            from feeds.universe import get_benchmark, get_universe, list_benchmarks, list_universes
            for name in list_universes():
                u = get_universe(name)
                print(f"{name:<11} {len(u):>3}  {u.description}")
                print(f"{'':<16}{' '.join(u.tickers)}")
            print("benchmarks:")
            for name in list_benchmarks():
                print(f"{name:<11}      {get_benchmark(name).description}")
        elif args.command == "coverage":
            from feeds.files import file_asset_classes
            from feeds.resample import calendar_end, weekly_panel
            from feeds.sources import load_daily
            from feeds.universe import get_universe, parse_asset_classes
            uni = get_universe(_tickers(args.universe), parse_asset_classes(args.asset_classes))
            if args.source == "files":
                uni = uni.with_classes(file_asset_classes(args.path), only_unknown=True)
            daily = load_daily(list(uni.tickers), source=args.source, path=args.path,
                               start=args.start, end=args.end, cache_dir=args.cache_dir,
                               kinds=uni.kind)
            panel = weekly_panel(daily, uni, ffill_limit=args.ffill_limit)
            panel = panel.slice(None, calendar_end(daily, args.end))
            print(f"universe {args.universe}: {len(panel.tickers)} tickers, {len(panel)} weeks "
                  f"{panel.index[0].date()}..{panel.index[-1].date()} (source {args.source})")
            _print_table(coverage_table(daily, panel))
        elif args.command == "download":
            from feeds.universe import get_universe
            from feeds.yahoo import download
            uni = get_universe(_tickers(args.universe))
            done = download(list(uni.tickers), start=args.start, end=args.end,
                            cache_dir=args.cache_dir)
            print(f"downloaded {len(done)} tickers into {next(iter(done.values())).parent}")
    except PluginError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
