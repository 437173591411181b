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

from dataclasses import dataclass, field

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


def ticker_class(ticker: str) -> str:
    """Best-guess asset class of a ticker (used for ad-hoc ticker lists)."""
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
    return "nasdaq100"


@dataclass(frozen=True)
class Universe:
    """An ordered list of tickers with their asset classes and kinds.

    Attributes:
        name: preset name (or ``custom``).
        tickers: ordered tickers (panel columns follow this order).
        asset_class: ticker -> ``nasdaq100``, ``idx``, ``treasury``, ``crypto``, ``etf``, ``index``.
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


def custom_universe(tickers, name: str = "custom") -> Universe:
    """A Universe from a ticker list (classes and kinds guessed from the ticker names)."""
    return Universe(name, tuple(tickers), description="user-supplied ticker list")


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


def get_universe(name) -> Universe:
    """The preset universe ``name`` (a Universe passes through; a list/tuple becomes custom).

    Raises:
        ConfigError: unknown name.
    """
    if isinstance(name, Universe):
        return name
    if isinstance(name, (list, tuple)):
        return custom_universe(name)
    if name not in _PRESETS:
        raise ConfigError(f"unknown universe {name!r}; choose one of {list_universes()} "
                          f"(python -m feeds universes)")
    tickers, desc = _PRESETS[name]
    return Universe(name, tickers, description=desc)


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
