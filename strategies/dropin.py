"""What lets the strategies drop into any Cerebro: feeds by name, feeds on any calendar, bar size.

Small steps, each doing one thing (bt's ``algos`` style):

* :func:`match_feeds`: the user's feeds in any order, matched by name to a bundle's tickers.
  Requires: feed names (``cerebro.adddata(feed, name=TICKER)``). Sets: nothing; returns the
  feed index of each bundle ticker, so ``feeds[order]`` is in bundle order.
* :class:`BarCheck`: refuses feeds whose bars are not the size the strategy decides on (weekly
  for System 1, daily for System 2) with a :class:`~feeds.errors.ConfigError` that names the fix.
  The size is the feed's declared ``_timeframe``/``_compression`` (``Weeks``/1 or ``Days``/1); a
  feed declared ``Days`` whose first three bars span 9 days or more holds weekly bars.
* :class:`FeedClock`: which feeds have a current weekly bar and when a week's decision is due.
* :class:`WeeklyBarsMixin`: one decision per week from feeds that start late, end early or
  follow other calendars (Backtrader's weekly resampling dates a bar by the week's last daily
  bar: Friday for stocks, Sunday for crypto, Thursday in a holiday week).

How a week is decided (:class:`FeedClock`). Weeks are ISO weeks (Monday to Sunday); each tick
of Backtrader's clock belongs to one. A feed is *pending* at a tick if its last bar is from the
previous week and was dated later in that week than the tick (last week crypto closed on Sunday,
now it is Friday: this week's crypto bar is still to come). The week is decided at its first tick
at which no feed is pending, once; later ticks of the same week only record (so if the only
feed that closes its weeks late, say the one crypto feed, ends, the week after its last bar has
no decision: nothing says the bar will not come until the week is over). Feeds on one
calendar (``feeds.to_backtrader``) give one tick per week and are decided at every tick, as
before. A feed without a bar yet is unavailable (no price, mask 0). A started feed that has not
delivered a bar for ``stale_limit`` weeks or fewer keeps its last close (return 0) and stays
investable, as ``feeds.weekly_panel`` does with ``ffill_limit``; after that it is unavailable and
a held position is sold at its next bar, if it ever delivers one (Backtrader fills an order only
on a new bar of its own feed; until then the position is valued at the last close).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import backtrader as bt
import numpy as np

from feeds.errors import BundleError, ConfigError

__all__ = [
    "DAILY",
    "WEEKLY",
    "BarCheck",
    "FeedClock",
    "WeeklyBarsMixin",
    "bar_size",
    "bundle_frequency",
    "match_feeds",
]

WEEKLY, DAILY = "weekly", "daily"
_WEEKLY_SPAN_DAYS = 9.0  # first three bars of a feed declared Days spanning >= this are weekly

FIX = {
    WEEKLY: "resample daily feeds to weeks in Cerebro: cerebro.resampledata(data, "
            "timeframe=bt.TimeFrame.Weeks, compression=1) (or feed a weekly panel with "
            "feeds.to_backtrader(panel))",
    DAILY: "add the daily feed itself with cerebro.adddata(data) (timeframe=bt.TimeFrame.Days, "
           "compression=1, e.g. feeds.daily_to_backtrader(df, ticker)), not a weekly one; "
           "resample intraday bars with cerebro.resampledata(data, "
           "timeframe=bt.TimeFrame.Days, compression=1)",
}


def match_feeds(names: Sequence[str], tickers: Sequence[str], where: str) -> np.ndarray:
    """Feed index of each ticker (feeds matched by name, in any order); BundleError if they differ.

    ``where`` starts the message (e.g. ``"bundle /path"``).
    """
    names, tickers = list(names), list(tickers)
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise BundleError(f"{where}: several feeds are named {', '.join(dup)}; give each feed its "
                          "ticker as name (cerebro.adddata(feed, name='TICKER'))")
    missing = [t for t in tickers if t not in names]
    extra = [n for n in names if n not in tickers]
    if missing or extra:
        detail = []
        if missing:
            detail.append(f"missing {', '.join(missing)} (no feed of that name)")
        if extra:
            detail.append(f"extra {', '.join(extra)} (not a ticker of the bundle)")
        raise BundleError(
            f"{where} was trained on tickers {tickers} but the feeds are named {names}: "
            f"{'; '.join(detail)}; add one feed per bundle ticker, named after it "
            "(cerebro.adddata(feed, name='TICKER') or cerebro.resampledata(feed, name='TICKER', "
            "...); any order), or retrain the bundle on your universe (--retrain)")
    pos = {n: i for i, n in enumerate(names)}
    return np.array([pos[t] for t in tickers], dtype=int)


def bundle_frequency(manifest: dict, default: str = WEEKLY) -> str:
    """The bar size a bundle was trained on (manifest ``frequency``; older bundles: ``default``)."""
    return str(manifest.get("frequency") or default)


def bar_size(timeframe: int, compression: int, first: Sequence[float]) -> tuple[str | None, str]:
    """(size, description) of a feed's bars: size ``weekly``, ``daily``, another Backtrader size
    (``"5 Minutes"``), or None while a feed declared ``Days`` has shown fewer than 3 bars.

    ``first``: Backtrader date numbers of the feed's first bars (at most 3 are used).
    """
    if timeframe == bt.TimeFrame.Weeks and compression == 1:
        return WEEKLY, "weekly bars (timeframe Weeks)"
    if timeframe == bt.TimeFrame.Days and compression == 1:
        if len(first) < 3:
            return None, ""
        span = float(first[2] - first[0])
        size = WEEKLY if span >= _WEEKLY_SPAN_DAYS else DAILY
        return size, (f"{size} bars (declared timeframe Days; its first three bars span "
                      f"{span:g} days)")
    name = bt.TimeFrame.getname(timeframe, compression)
    return f"{compression} {name}", f"{compression}-{name.lower()} bars"


class BarCheck:
    """Refuse feeds whose bars are not ``expected`` (``weekly`` or ``daily``), as soon as known.

    Declared sizes are judged at construction; a feed declared ``Days`` is judged from its first
    three bars: at :meth:`start` if they are preloaded, else as they arrive (:meth:`saw`).
    """

    def __init__(self, datas: Sequence, names: Sequence[str], expected: str, who: str):
        self.datas, self.names, self.expected, self.who = list(datas), list(names), expected, who
        self._first: list[list[float]] = [[] for _ in self.datas]
        self._todo = set(range(len(self.datas)))
        for i in range(len(self.datas)):
            self._judge(i)

    def start(self) -> None:
        """Judge feeds whose bars are preloaded (Cerebro preloads before strategies start)."""
        for i in sorted(self._todo):
            line = self.datas[i].lines.datetime
            if line.buflen() >= 3:
                self._first[i] = [float(x) for x in line.array[:3]]
                self._judge(i)

    def saw(self, i: int, num: float) -> None:
        """Feed ``i`` delivered a bar dated ``num`` (a Backtrader date number)."""
        if i in self._todo and len(self._first[i]) < 3:
            self._first[i].append(float(num))
            self._judge(i)

    def _judge(self, i: int) -> None:
        d = self.datas[i]
        size, what = bar_size(d._timeframe, d._compression, self._first[i])
        if size is None:
            return
        self._todo.discard(i)
        if size != self.expected:
            raise ConfigError(f"{self.who} decides on {self.expected} bars but feed "
                              f"'{self.names[i]}' has {what}; {FIX[self.expected]}")


def week_of(num: float) -> tuple[int, float]:
    """(ISO week number, days since that week's Monday 00:00) of a Backtrader date number."""
    day = math.floor(num)  # proleptic Gregorian ordinal; day 1 (0001-01-01) is a Monday
    week = (day - 1) // 7
    return week, float(num) - (week * 7 + 1)


class FeedClock:
    """Which feeds have a current weekly bar, and when a week's decision is due (module doc)."""

    def __init__(self, datas: Sequence, stale_limit: int):
        if int(stale_limit) != stale_limit or stale_limit < 0:
            raise ConfigError(f"stale_limit must be a whole number >= 0, got {stale_limit!r}")
        self.datas, self.stale_limit = list(datas), int(stale_limit)
        n = len(self.datas)
        self._seen = [0] * n  # bars delivered by each feed at the last tick
        self._week: list[int | None] = [None] * n  # week of each feed's last bar
        self._offset = [0.0] * n  # and its days since that week's Monday
        self.week: int = 0  # week of the current tick
        self._now = 0.0
        self._decided: int | None = None

    def tick(self, now: float) -> list[int]:
        """Move to the tick dated ``now``; return the feeds that delivered a new bar."""
        self.week, self._now = week_of(now)
        new = []
        for i, d in enumerate(self.datas):
            n = len(d)
            if n != self._seen[i]:
                self._seen[i] = n
                self._week[i], self._offset[i] = week_of(d.datetime[0])
                new.append(i)
        return new

    def pending(self, i: int) -> bool:
        """Feed ``i``'s bar of this week is still to come (see the module doc)."""
        return self._week[i] == self.week - 1 and self._offset[i] > self._now

    def ready(self) -> bool:
        """True once per week: at its first tick at which no feed is pending."""
        if self._decided == self.week or any(map(self.pending, range(len(self.datas)))):
            return False
        self._decided = self.week
        return True

    def is_current(self, i: int) -> bool:
        """Feed ``i`` has started and missed at most ``stale_limit`` weeks."""
        w = self._week[i]
        return w is not None and self.week - w <= self.stale_limit


class WeeklyBarsMixin(bt.Strategy):
    """One decision per week (:meth:`on_week`) from weekly feeds on any calendar (module doc).

    Requires: a :class:`strategies.engine.TargetWeightStrategy` after it in the bases. Sets:
    ``prenext`` (decides as soon as one feed has a bar) and ``next`` call :meth:`on_week` once
    per week; :meth:`is_tradable` is False for feeds without a bar yet or stale beyond
    ``stale_limit``. Feeds whose bars are not weekly are refused (:class:`BarCheck`).
    """

    params = (
        # Weeks a started feed may go without a new bar (holiday week, data hole, or after its
        # end) and still be investable at its last close, like feeds.weekly_panel's ffill_limit.
        # From the next missing week on its weight is 0 and a held position is sold at the
        # feed's next bar, if it delivers one.
        ('stale_limit', 2),
    )

    def __init__(self):
        super().__init__()
        self._weeks = FeedClock(self.datas, self.p.stale_limit)
        self._barcheck = BarCheck(self.datas, self._names, WEEKLY, type(self).__name__)

    def start(self):
        super().start()
        self._barcheck.start()

    def prenext(self):
        if any(len(d) for d in self.datas):
            self.next()

    def next(self):
        for i in self._weeks.tick(self.datetime[0]):
            self._barcheck.saw(i, self.datas[i].datetime[0])
        if self._weeks.ready():
            self.on_week()

    def on_week(self) -> None:
        """The week's decision: called once per week, at the first bar of the week after which
        no feed's bar is still to come (data up to this bar only)."""
        raise NotImplementedError

    def is_tradable(self, i: int) -> bool:
        return self._weeks.is_current(i) and super().is_tradable(i)

    def can_fill(self, i: int) -> bool:
        return self._weeks.is_current(i)
