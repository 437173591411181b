"""Named universes (ticker lists with asset classes) and benchmarks.

Presets (see docs/DATA.md for how each list was chosen):

* ``paper`` (32 assets, the Hybrid LSTM+PPO paper's four classes): the 11 largest Nasdaq-100
  members by market value at the start of 2018 among the packaged names, the 10 largest of the 25
  packaged IDX stocks at the start of 2018, the US 10-year Treasury yield ``^TNX`` and the paper's
  10 cryptocurrencies (top 10 as of 2025-05).
* ``paper_wide`` (56): 30 Nasdaq-100 + 15 IDX + ``^TNX`` + the 10 cryptocurrencies.
* one per class: ``nasdaq100`` (85), ``idx`` (25), ``crypto`` (14), ``treasury`` (5 yields),
  ``etf`` (SHY, IEF, TLT), and ``benchmarks`` (SPY, QQQ, ^JKSE).

Ranks are *approximate*: year-end-2017 market values were compiled from shares outstanding x
price (Nasdaq, $B: AAPL 861, GOOGL 729 (one Alphabet class only), MSFT 660, AMZN 564, META 513,
INTC 216, CSCO 189, CMCSA 186, PEP 170, AMGN 126, NVDA 117); names that joined the Nasdaq later
(HON, LIN, AEP, XEL moved there after 2018) are excluded; ranks near the cut-off may differ by a
place from other compilations. For IDX, HMSP and GGRM were larger than INTP at the start of 2018
but are not in the packaged data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from feeds.errors import ConfigError

NASDAQ100 = (
    "AAPL ABNB ADBE ADI ADP ADSK AEP ALGN AMAT AMD AMGN AMZN ANSS AVGO BIIB BKNG BKR CDNS CDW CEG "
    "CHTR CMCSA COST CPRT CRWD CSCO CSGP CSX CTAS CTSH DLTR DXCM EA EBAY EXC FANG FAST FTNT GEHC "
    "GILD GOOG GOOGL HON IDXX INTC INTU ISRG KDP KHC KLAC LIN LRCX LULU MAR MCHP MDLZ META MNST "
    "MRNA MSFT MU NFLX NVDA NXPI ODFL ON ORLY PANW PAYX PCAR PEP PLTR PYPL QCOM REGN ROST SBUX "
    "SNPS TMUS TSLA TXN VRSK VRTX WBD XEL").split()
IDX = tuple(f"{s}.JK" for s in (
    "ANTM ASII AUTO BBCA BBNI BBRI BBTN BMRI DSNG ICBP INCO INDF INTP JPFA JSMR KLBF PTPP SILO "
    "SMGR SSMS TINS TLKM UNTR UNVR WIKA").split())
CRYPTO = tuple(f"{s}-USD" for s in
               "BTC ETH XRP BNB SOL DOGE ADA TRX TON DOT LTC LINK BCH AVAX".split())
TREASURY = ("DGS3MO", "DGS2", "DGS5", "DGS10", "DGS30")
ETF = ("SHY", "IEF", "TLT")
INDEXES = ("SPY", "QQQ", "^JKSE")

PAPER_NASDAQ = ("AAPL", "GOOGL", "MSFT", "AMZN", "META", "INTC", "CSCO", "CMCSA", "PEP", "AMGN",
                "NVDA")
PAPER_IDX = tuple(f"{s}.JK" for s in
                  ("BBCA", "BBRI", "TLKM", "UNVR", "BMRI", "ASII", "BBNI", "UNTR", "ICBP", "INTP"))
PAPER_CRYPTO = tuple(f"{s}-USD" for s in
                     ("BTC", "ETH", "XRP", "BNB", "SOL", "DOGE", "ADA", "TRX", "TON", "DOT"))
WIDE_NASDAQ = PAPER_NASDAQ + ("AVGO", "TXN", "GILD", "QCOM", "CHTR", "PYPL", "ADBE", "BKNG",
                              "NFLX", "COST", "SBUX", "BIIB", "MDLZ", "AMAT", "TMUS", "ADP", "CSX",
                              "MU", "ISRG")
WIDE_IDX = PAPER_IDX + tuple(f"{s}.JK" for s in ("KLBF", "INDF", "SMGR", "BBTN", "JSMR"))

YIELD_ALIASES = {"^TNX": "DGS10", "^FVX": "DGS5", "^TYX": "DGS30", "^IRX": "DGS3MO"}
"""Yahoo yield indices and the FRED series the packaged dataset serves them from."""

MATURITY_YEARS = {"DGS1MO": 1 / 12, "DGS3MO": 0.25, "DGS6MO": 0.5, "DGS1": 1.0, "DGS2": 2.0,
                  "DGS5": 5.0, "DGS10": 10.0, "DGS20": 20.0, "DGS30": 30.0,
                  "^TNX": 10.0, "^FVX": 5.0, "^TYX": 30.0, "^IRX": 0.25}


def ticker_kind(ticker: str) -> str:
    """``yield`` for Treasury yield tickers (``^TNX``, ``DGS10``, ...), else ``price``."""
    return "yield" if ticker.upper() in MATURITY_YEARS else "price"


KNOWN_CLASSES = ("nasdaq100", "idx", "treasury", "crypto", "etf", "index")
"""Classes the presets and the ``composite`` benchmark use."""
UNKNOWN_CLASS = "other"
"""Class of a ticker nobody classified (not a packaged name, no class given by the user)."""
_NASDAQ100 = frozenset(NASDAQ100)
_CLASS_NAME = re.compile(r"[a-z0-9][a-z0-9_\-]{0,31}")


def ticker_class(ticker: str) -> str:
    """Asset class of a ticker from its name, or ``other`` when it cannot be known.

    Treasury yields (``^TNX``, ``DGS10``), ``.JK`` -> ``idx``, ``-USD`` -> ``crypto``, the packaged
    ETFs -> ``etf``, ``SPY``/``QQQ``/``^...`` -> ``index``, the packaged Nasdaq-100 names ->
    ``nasdaq100``; anything else -> ``other`` (give its class with ``asset_classes=``).
    """
    t = ticker.upper()
    if t in MATURITY_YEARS:
        return "treasury"
    if t.endswith(".JK"):
        return "idx"
    if t.endswith("-USD"):
        return "crypto"
    if t in ETF:
        return "etf"
    if t in INDEXES or t.startswith("^"):
        return "index"
    return "nasdaq100" if t in _NASDAQ100 else UNKNOWN_CLASS


def _class_name(cls, ticker: str) -> str:
    name = str(cls).strip().lower()
    if not _CLASS_NAME.fullmatch(name):
        raise ConfigError(f"bad asset class {str(cls)[:40]!r} for {ticker}: use 1-32 lower-case "
                          f"letters, digits, _ or - (e.g. equity, crypto, bond)")
    return name


def parse_asset_classes(text: str) -> dict[str, str]:
    """``"AAPL=equity,BTC-USD=crypto"`` -> ``{"AAPL": "equity", "BTC-USD": "crypto"}``.

    Pairs are separated by commas; each splits at its *last* ``=`` (so ``EURUSD=X=fx`` works).
    Class names are lower-cased. Empty text gives ``{}``.

    Raises:
        ConfigError: a pair without ``=``, a bad ticker or class name, or a ticker given twice
            with different classes.
    """
    from feeds.errors import DataError
    from feeds.names import validate_ticker

    out: dict[str, str] = {}
    for pair in (p.strip() for p in (text or "").split(",")):
        if not pair:
            continue
        ticker, eq, cls = (x.strip() for x in pair.rpartition("="))
        if not eq or not ticker or not cls:
            raise ConfigError(f"asset classes: {pair[:40]!r} is not TICKER=CLASS; write pairs "
                              f"separated by commas, e.g. AAPL=equity,BTC-USD=crypto")
        try:
            validate_ticker(ticker)
        except DataError as exc:
            raise ConfigError(f"asset classes: {exc}") from None
        cls = _class_name(cls, ticker)
        if out.get(ticker, cls) != cls:
            raise ConfigError(f"asset classes: {ticker} is given two classes ({out[ticker]}, "
                              f"{cls}); give one")
        out[ticker] = cls
    return out


@dataclass(frozen=True)
class Universe:
    """An ordered list of tickers with their asset classes and kinds.

    Attributes:
        name: preset name (or ``custom``).
        tickers: ordered tickers (panel columns follow this order).
        asset_class: ticker -> ``nasdaq100``, ``idx``, ``treasury``, ``crypto``, ``etf``,
            ``index``, a class the user gave (``equity``...), or ``other`` (unknown).
        kind: ticker -> ``price`` or ``yield`` (yields become a total-return index in panels).
        description: one line on how the list was chosen.
    """

    name: str
    tickers: tuple
    asset_class: dict = field(default_factory=dict)
    kind: dict = field(default_factory=dict)
    description: str = ""

    def __post_init__(self):
        object.__setattr__(self, "tickers", tuple(self.tickers))
        ac = {t: self.asset_class.get(t) or ticker_class(t) for t in self.tickers}
        kd = {t: self.kind.get(t) or ticker_kind(t) for t in self.tickers}
        object.__setattr__(self, "asset_class", ac)
        object.__setattr__(self, "kind", kd)
        if len(set(self.tickers)) != len(self.tickers):
            raise ConfigError(f"universe {self.name}: duplicate tickers")

    def __len__(self) -> int:
        return len(self.tickers)

    def classes(self) -> dict[str, list[str]]:
        """asset class -> its tickers, in universe order."""
        out: dict[str, list[str]] = {}
        for t in self.tickers:
            out.setdefault(self.asset_class[t], []).append(t)
        return out

    def unknown_classes(self) -> list[str]:
        """Tickers whose asset class is unknown (``other``), in universe order; [] if all known.

        Anything built on classes (the ``composite`` benchmark) should refuse to run, or say
        so, when this is not empty: give the classes with ``asset_classes=``.
        """
        return [t for t in self.tickers if self.asset_class[t] == UNKNOWN_CLASS]

    def with_classes(self, asset_classes: dict, only_unknown: bool = False) -> "Universe":
        """A copy with ``asset_classes`` (ticker -> class) applied to the tickers it names.

        Tickers not in the universe are ignored. ``only_unknown``: change only tickers whose
        class is ``other`` (how a long file's ``asset_class`` column is applied).
        """
        ac = dict(self.asset_class)
        for t, cls in (asset_classes or {}).items():
            if t in ac and (not only_unknown or ac[t] == UNKNOWN_CLASS):
                ac[t] = _class_name(cls, t)
        return replace(self, asset_class=ac)


def _apply_classes(uni: Universe, asset_classes) -> Universe:
    if not asset_classes:
        return uni
    extra = [t for t in asset_classes if t not in uni.tickers]
    if extra:
        raise ConfigError(f"asset classes given for {extra[:5]}, which are not in universe "
                          f"{uni.name} ({len(uni)} tickers); check the spelling")
    return uni.with_classes(asset_classes)


def custom_universe(tickers, name: str = "custom", asset_classes: dict | None = None) -> Universe:
    """A Universe from a ticker list (classes and kinds from the names; unknown -> ``other``).

    ``asset_classes`` (ticker -> class, e.g. from :func:`parse_asset_classes`) overrides them.
    """
    uni = Universe(name, tuple(tickers), description="user-supplied ticker list")
    return _apply_classes(uni, asset_classes)


_PRESETS = {
    "paper": (PAPER_NASDAQ + PAPER_IDX + ("^TNX",) + PAPER_CRYPTO,
              "32 assets: Nasdaq-100 top 11 and IDX top 10 by market value at the start of 2018 "
              "(among packaged names), ^TNX, the paper's 10 cryptocurrencies"),
    "paper_wide": (WIDE_NASDAQ + WIDE_IDX + ("^TNX",) + PAPER_CRYPTO,
                   "56 assets: Nasdaq-100 top 30, IDX top 15 (start of 2018), ^TNX, 10 cryptos"),
    "nasdaq100": (tuple(NASDAQ100), "all 85 packaged Nasdaq-100 names (today's members: "
                                    "survivorship-biased)"),
    "idx": (IDX, "the 25 packaged Indonesian stocks (IDX30/LQ45 members and others)"),
    "crypto": (CRYPTO, "the 14 packaged cryptocurrencies"),
    "treasury": (TREASURY, "US Treasury constant-maturity yields (FRED), as total-return indices"),
    "etf": (ETF, "tradeable Treasury ETFs SHY, IEF, TLT"),
    "benchmarks": (INDEXES, "index proxies SPY, QQQ and the Jakarta Composite ^JKSE"),
}


def list_universes() -> list[str]:
    """Names of the preset universes."""
    return list(_PRESETS)


def get_universe(name, asset_classes: dict | None = None) -> Universe:
    """The preset universe ``name`` (a Universe passes through; a list/tuple becomes custom).

    Args:
        name: preset name, a ticker list/tuple, or a Universe.
        asset_classes: ticker -> class given by the user (``parse_asset_classes`` turns the CLI
            string ``AAPL=equity,BTC-USD=crypto`` into one); it overrides the built-in classes.

    Raises:
        ConfigError: unknown name, or a class given for a ticker not in the universe.
    """
    if isinstance(name, Universe):
        return _apply_classes(name, asset_classes)
    if isinstance(name, (list, tuple)):
        return custom_universe(name, asset_classes=asset_classes)
    if name not in _PRESETS:
        raise ConfigError(f"unknown universe {name!r}; choose one of {list_universes()} "
                          f"(python -m feeds universes)")
    tickers, desc = _PRESETS[name]
    return _apply_classes(Universe(name, tickers, description=desc), asset_classes)


@dataclass(frozen=True)
class Benchmark:
    """A benchmark as a weights spec the strategies/analyzers layer turns into returns.

    Attributes:
        name: ``sp500``, ``qqq``, ``jkse`` or ``composite``.
        tickers: the tickers held (single-ticker benchmarks) -- empty for ``composite``.
        class_weights: for ``composite``: asset class -> weight (0.25 each for ``nasdaq100``,
            ``idx``, ``treasury``, ``crypto``); inside a class, equal weight over the universe's
            members that are available (``panel.mask``) that week; rebalanced weekly.
        description: one line.
    """

    name: str
    tickers: tuple = ()
    class_weights: dict = field(default_factory=dict)
    description: str = ""

    def weekly_returns(self, panel):
        """Weekly simple returns of the benchmark on ``panel`` (a WeeklyPanel).

        Single-ticker benchmarks need the ticker in the panel (``load_panel(get_universe(
        "benchmarks"))``). ``composite``: each week, the return of each class is the mean return
        of its members available at the previous week's close (the weights are set then: no
        look-ahead); classes with no available member are left out and the others renormalised.
        """
        import pandas as pd

        if self.tickers:
            t = self.tickers[0]
            if t not in panel.close.columns:
                from feeds.errors import DataError
                raise DataError(f"benchmark {self.name}: {t} is not in the panel; load it with "
                                f"load_panel('benchmarks') or add it to the universe")
            return panel.returns[t].rename(self.name)
        held = panel.mask.shift(1, fill_value=False)
        rets = panel.returns.where(held)
        parts, weights = [], []
        for cls, w in self.class_weights.items():
            cols = [t for t in panel.tickers if panel.asset_class.get(t) == cls]
            if not cols:
                continue
            parts.append(rets[cols].mean(axis=1))
            weights.append(w)
        if not parts:
            return pd.Series(0.0, index=panel.index, name=self.name)
        frame = pd.concat(parts, axis=1)
        wts = frame.notna().mul(weights, axis=1)
        out = (frame.fillna(0.0) * wts).sum(axis=1) / wts.sum(axis=1).replace(0.0, float("nan"))
        return out.fillna(0.0).rename(self.name)


_BENCHMARKS = {
    "sp500": Benchmark("sp500", ("SPY",), description="S&P 500 via the SPY ETF (adjusted)"),
    "qqq": Benchmark("qqq", ("QQQ",), description="Nasdaq-100 via the QQQ ETF (adjusted)"),
    "jkse": Benchmark("jkse", ("^JKSE",), description="Jakarta Composite index (IHSG)"),
    "composite": Benchmark("composite", (), {"nasdaq100": 0.25, "idx": 0.25, "treasury": 0.25,
                                             "crypto": 0.25},
                           description="25/25/25/25 of the four classes, equal weight inside each "
                                       "class, rebalanced weekly"),
}


def list_benchmarks() -> list[str]:
    return list(_BENCHMARKS)


def get_benchmark(name: str) -> Benchmark:
    """The benchmark ``name`` (``sp500``, ``qqq``, ``jkse``, ``composite``).

    Raises:
        ConfigError: unknown name.
    """
    if name not in _BENCHMARKS:
        raise ConfigError(f"unknown benchmark {name!r}; choose one of {list_benchmarks()}")
    return _BENCHMARKS[name]
