"""System 1 pipeline: data -> (train or reuse) LSTM and PPO bundles -> Backtrader backtests.

Used by the CLI (:mod:`strategies.run`) and usable from Python::

    from strategies.pipeline.system1 import RunConfig, run_system1
    results = run_system1(["hybrid_top5", "equal_weight", "sp500"], RunConfig(timesteps=20000))

Chronology: the panel's weeks are split into the first ``train_frac`` (training: LSTM and PPO
fit, feature statistics) and the rest (test). The first test decision is taken at the close of the
last training week and filled at the open of the first test week; reported returns are those of
the test weeks only.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from feeds import get_benchmark, get_universe, load_panel, to_backtrader
from feeds.errors import ConfigError, DataError
from feeds.panel import WeeklyPanel
from strategies.pipeline.common import (RunSettings, StrategyResult, config_key,
                                       run_backtest)
from strategies.presets import Preset

log = logging.getLogger(__name__)

PERIODS_PER_YEAR = 52


@dataclass(frozen=True)
class RunConfig(RunSettings):
    """Settings of a System 1 run (the CLI options); the shared ones are in RunSettings."""

    universe: str = "paper"  #: universe preset (feeds.list_universes()) or comma-separated tickers
    #: ticker -> asset class for the user's tickers (feeds.parse_asset_classes); unknown = other
    asset_classes: dict = field(default_factory=dict)
    #: benchmark ticker of the ``sp500`` preset (None = SPY), from the user's data when they have it
    benchmark: str | None = None
    env_overrides: dict = field(default_factory=dict)  #: EnvConfig fields to override
    ppo_overrides: dict = field(default_factory=dict)  #: PPOConfig fields to override
    lstm_overrides: dict = field(default_factory=dict)  #: LSTMConfig fields to override
    #: walk-forward: retrain every this many weeks and trade the next ones (0 = the paper's
    #: single split at ``train_frac``); the first window trains on the weeks before the split
    walk_forward: int = 0
    #: "expanding" (each window trains on every week before it) or "rolling" (on as many weeks
    #: as the first window had)
    walk_forward_mode: str = "expanding"


# ----------------------------------------------------------------------------------- data
def _universe(run: RunConfig):
    """The run's Universe: a preset name (``feeds.list_universes()``) or tickers separated by
    commas; one name that is not a preset is one ticker (``EFA``). Empty items are skipped.

    Raises:
        ConfigError: no ticker at all, or a ticker listed twice.
    """
    from feeds import list_universes
    classes = dict(run.asset_classes) or None
    if run.universe in list_universes():
        return get_universe(run.universe, asset_classes=classes)
    tickers = [t.strip() for t in str(run.universe).split(",") if t.strip()]
    if not tickers:
        raise ConfigError(f"universe {run.universe!r} is empty; give a preset "
                          f"({', '.join(list_universes())}) or tickers such as AAPL,MSFT")
    twice = sorted({t for t in tickers if tickers.count(t) > 1})
    if twice:
        raise ConfigError(f"universe lists {', '.join(twice)} more than once; list each "
                          "ticker once")
    return get_universe(tickers, asset_classes=classes)


def load_run_panel(run: RunConfig) -> WeeklyPanel:
    """The weekly panel of the run's universe between ``start`` and ``end``."""
    uni = _universe(run)
    if run.source == "files" and run.data_path and Path(run.data_path).expanduser().is_file():
        # one long/wide file: name every ticker of the universe it lacks, and what it has
        from feeds.files import SingleFile
        held = SingleFile(Path(run.data_path).expanduser())
        missing = [t for t in uni.tickers if held.column_of(t) is None]
        if missing:
            have = [str(t) for t in held.tickers()]
            holds = (f"it holds {', '.join(have[:8])}{' ...' if len(have) > 8 else ''}: pass "
                     f"those with --universe (e.g. --universe {','.join(have[:3])})"
                     if have else "it holds no ticker: check the file")
            raise DataError(f"{run.data_path} has no prices for {', '.join(missing[:5])}"
                            f"{' ...' if len(missing) > 5 else ''} ({len(missing)} of the "
                            f"{len(uni)} tickers of universe {run.universe}); {holds} or add "
                            "rows for the others")
    panel = load_panel(uni, source=run.source, path=run.data_path, start=run.start, end=run.end,
                       asset_classes=dict(run.asset_classes) or None)
    if len(panel) < 60:
        held = (f" (prices cover {panel.index[0].date()} .. {panel.index[-1].date()})"
                if len(panel) else "")
        raise DataError(f"only {len(panel)} weeks between {run.start} and {run.end}{held}; the "
                        "models need at least 60 (30-week LSTM lookback plus training and "
                        "test): widen --start/--end or give longer price histories")
    return panel


def split(panel: WeeklyPanel, train_frac: float) -> int:
    """Number of training weeks; checks both parts are long enough."""
    n_train = panel.split_index(train_frac)
    if n_train < 40 or len(panel) - n_train < 8:
        raise DataError(f"{len(panel)} weeks split at {train_frac:.0%} gives {n_train} training "
                        f"and {len(panel) - n_train} test weeks; need >= 40 and >= 8: widen "
                        "--start/--end or change --train-frac")
    return n_train


def validation_config(run: RunConfig) -> RunConfig:
    """``run`` cut at its last training week: its own ``train_frac`` split then puts a
    validation slice inside the training window, where settings are chosen (never on the test
    weeks)."""
    panel = load_run_panel(run)
    return replace(run, end=str(panel.index[split(panel, run.train_frac) - 1].date()))


def _data_key(panel: WeeklyPanel, n_train: int) -> str:
    h = hashlib.sha256()
    h.update(json.dumps(panel.tickers).encode())
    h.update(pd.util.hash_pandas_object(panel.close.iloc[:n_train], index=True).values.tobytes())
    h.update(pd.util.hash_pandas_object(panel.mask.iloc[:n_train].astype(int),
                                        index=True).values.tobytes())
    return h.hexdigest()


# ----------------------------------------------------------------------------------- configs
def configs(run: RunConfig, preset: Preset):
    from models.portfolio.config import EnvConfig, LSTMConfig, PPOConfig
    env = EnvConfig(**{"tc": run.tc, "top_k": preset.top_k or 5,
                       "use_forecasts": preset.family == "hybrid",
                       **dict(preset.env_overrides), **run.env_overrides})
    ppo = PPOConfig(**run.ppo_overrides)
    if run.timesteps is not None:
        ppo = replace(ppo, total_timesteps=int(run.timesteps))
    lstm = LSTMConfig(**run.lstm_overrides)
    return env, ppo, lstm


# ----------------------------------------------------------------------------------- training
class Trainer:
    """Trains or reuses the bundles a set of presets needs (one LSTM shared by all of them)."""

    def __init__(self, panel: WeeklyPanel, n_train: int, run: RunConfig):
        self.panel, self.n_train, self.run = panel, n_train, run
        self.data_key = _data_key(panel, n_train)
        self.train_first = str(panel.index[0].date())
        self.train_last = str(panel.index[n_train - 1].date())
        self._lstm = None
        self._forecasts = None
        self.timings: dict[str, float] = {}
        self.notes: dict[str, str] = {}  #: facts for run.json (e.g. where the benchmark came from)

    def _dir(self, name: str, key: str) -> Path:
        from feeds import safe_join
        return safe_join(self.run.bundles(), f"{name}-{key}")

    def _reuse(self, path: Path, variant: str):
        from models.common.bundle import BundleFormatError
        from models.portfolio.bundle import load_bundle
        if self.run.retrain or not (path / "manifest.json").is_file():
            return None
        try:
            b = load_bundle(path)
        except BundleFormatError as e:  # an older format: retrain over it (tampering raises)
            log.warning("bundle %s is of an older format (%s); retraining", path, e)
            return None
        b.verify_against(self.panel.tickers, variant=variant)
        log.info("reusing %s bundle %s", variant, path)
        return b

    def lstm_bundle(self):
        """The LSTM forecaster bundle (variant 'lstm'), trained on the training weeks."""
        import time

        from models.portfolio.bundle import save_bundle
        from models.portfolio.config import EnvConfig
        from models.portfolio.forecaster import LSTMForecaster
        _, _, lstm_cfg = configs(self.run, Preset("lstm", "lstm", 1, ""))
        key = config_key("lstm", self.data_key, lstm_cfg.to_dict(), self.run.seed)
        path = self._dir("lstm", key)
        b = self._reuse(path, "lstm")
        if b is not None:
            return b
        lr = self.panel.log_returns.to_numpy(dtype=np.float64)
        mask = self.panel.mask.to_numpy(dtype=bool)
        t0 = time.perf_counter()
        fc = LSTMForecaster(lstm_cfg, seed=self.run.seed, num_threads=1,
                            progress=self.run.progress)
        fc.fit(lr[:self.n_train], mask[:self.n_train])
        self.timings["lstm_fit_s"] = time.perf_counter() - t0
        save_bundle(path, variant="lstm", tickers=self.panel.tickers, env_config=EnvConfig(),
                    seed=self.run.seed, asset_class=self.panel.asset_class,
                    train_first=self.train_first, train_last=self.train_last,
                    lstm_config=lstm_cfg, forecaster=fc,
                    extra={"key": key, "history": fc.history_})
        from models.portfolio.bundle import load_bundle
        return load_bundle(path)

    def forecasts(self) -> np.ndarray:
        """Walk-forward forecasts for every week (row t forecasts t+1 from rows <= t)."""
        if self._forecasts is None:
            b = self.lstm_bundle()
            self._lstm = b
            lr = self.panel.log_returns.to_numpy(dtype=np.float64)
            mask = self.panel.mask.to_numpy(dtype=bool)
            self._forecasts = np.asarray(b.forecaster.forecast(lr, mask), dtype=np.float64)
        return self._forecasts

    def policy_bundle(self, preset: Preset):
        """The PPO bundle of a hybrid_topK / ppo_topK preset."""
        import time

        from models.portfolio.bundle import load_bundle, save_bundle
        from models.portfolio.env import build_env_arrays
        from models.portfolio.train import train_portfolio_policy
        env_cfg, ppo_cfg, lstm_cfg = configs(self.run, preset)
        key = config_key(preset.family, self.data_key, env_cfg.to_dict(), ppo_cfg.to_dict(),
                   lstm_cfg.to_dict() if preset.family == "hybrid" else None, self.run.seed)
        path = self._dir(preset.name, key)
        b = self._reuse(path, preset.family)
        if b is not None:
            return b
        n_avail = int(self.panel.mask.iloc[:self.n_train].any().sum())
        if preset.top_k and preset.top_k > len(self.panel.tickers):
            raise ConfigError(f"{preset.name}: K={preset.top_k} is larger than the "
                              f"{len(self.panel.tickers)} assets of the universe; choose a "
                              "smaller K or a wider universe")
        log.info("%s: %d of %d assets trade in the training window", preset.name, n_avail,
                 len(self.panel.tickers))
        fc = self.forecasts() if preset.family == "hybrid" else None
        from models.portfolio.macro import yields_for  # state forecasts (gated) + macro block
        arrays = build_env_arrays(self.panel, self._lstm.forecaster if fc is not None else None,
                                  fc, env_config=env_cfg, yields=yields_for(env_cfg))
        t0 = time.perf_counter()
        tp = train_portfolio_policy(arrays, self.n_train, env_cfg, ppo_cfg,
                                    lstm_forecasts=arrays.forecasts,
                                    seed=self.run.seed, progress_bar=self.run.progress)
        self.timings[f"ppo_{preset.name}_s"] = time.perf_counter() - t0
        forecaster = self._lstm.forecaster if preset.family == "hybrid" else None
        save_bundle(path, variant=preset.family, tickers=self.panel.tickers, env_config=env_cfg,
                    seed=self.run.seed, asset_class=self.panel.asset_class,
                    train_first=self.train_first, train_last=self.train_last,
                    ppo_config=ppo_cfg, lstm_config=lstm_cfg if forecaster else None,
                    builder=tp.builder, obs_norm=tp.obs_norm, model=tp.model,
                    forecaster=forecaster, extra={"key": key, "preset": preset.name})
        return load_bundle(path)


# ----------------------------------------------------------------------------------- backtest
def backtest(strategy_cls, params: dict, panel: WeeklyPanel, run: RunConfig, test_start,
             name: str, periods_per_year: int = PERIODS_PER_YEAR) -> StrategyResult:
    """Run one strategy in a fresh Cerebro on ``panel`` and keep the test weeks' results."""
    result, _ = run_backtest(strategy_cls, params, to_backtrader(panel), panel.asset_class,
                             cash=run.cash, tc=run.tc, cash_buffer=run.cash_buffer,
                             test_start=test_start, name=name, periods_per_year=periods_per_year)
    return result


def strategy_for(preset: Preset, trainer: Trainer, panel: WeeklyPanel, trade_start):
    """(strategy class, params, panel to run on) of a System 1 preset."""
    from strategies import allocation as P
    fam = preset.family
    if fam in ("hybrid", "ppo"):
        cls = P.HybridLSTMPPO if fam == "hybrid" else P.PPOOnly
        b = trainer.policy_bundle(preset)
        from models.portfolio.macro import yields_for  # the yields a yield-feature policy reads
        return cls, {"bundle": b, "top_k": preset.top_k, "trade_start": trade_start,
                     "macro": yields_for(b.env_config)}, panel
    if fam == "lstm":
        return P.LSTMOnly, {"bundle": trainer.lstm_bundle(), "top_k": preset.top_k,
                            "trade_start": trade_start}, panel
    if fam == "equal_weight":
        return P.EqualWeight, {"trade_start": trade_start}, panel
    if fam == "composite":
        bm = get_benchmark("composite")
        return P.ClassComposite, {"class_weights": dict(bm.class_weights),
                                  "asset_class": panel.asset_class,
                                  "trade_start": trade_start}, panel
    if fam == "index":
        bpanel, trainer.notes["benchmark"] = benchmark_panel("SPY", panel, trainer.run)
        return P.BuyAndHold, {"trade_start": trade_start}, bpanel
    raise ConfigError(f"{preset.name} is not a System 1 strategy")


def benchmark_panel(ticker: str, like: WeeklyPanel, run: RunConfig
                    ) -> tuple[WeeklyPanel, str]:
    """A one-ticker panel (e.g. SPY) on exactly the weeks of ``like``, and where it came from:
    the user's data when they hold the ticker (``--data``), otherwise the packaged copy."""
    from feeds import resolve_benchmark, weekly_panel
    daily, provenance = resolve_benchmark(ticker, source=run.source, path=run.data_path,
                                          start=run.start, end=run.end, ticker=run.benchmark)
    t = run.benchmark or ticker
    p = weekly_panel({t: daily}, get_universe([t]))
    frames = {f: getattr(p, f).reindex(like.index) for f in
              ("open", "high", "low", "close", "volume", "returns", "log_returns")}
    if frames["close"].iloc[0].isna().any():
        raise DataError(f"benchmark {t} has no price on {like.index[0].date()} ({provenance}); "
                        "choose a later --start or add its earlier prices to your data")
    mask = p.mask.reindex(like.index).fillna(False).astype(bool)
    return WeeklyPanel(**frames, mask=mask, asset_class=dict(p.asset_class)), provenance


def _check_composite(panel: WeeklyPanel) -> None:
    """ConfigError unless every ticker has one of the composite's asset classes."""
    weights = get_benchmark("composite").class_weights
    off = sorted(t for t, c in panel.asset_class.items() if c not in weights)
    if off:
        raise ConfigError(f"composite weights the classes {', '.join(weights)} but "
                          f"{', '.join(off[:5])}{' ...' if len(off) > 5 else ''} have none of "
                          "them; give them with --asset-classes TICKER=CLASS,... or drop "
                          "composite")


def run_system1(names: list[str] | list[Preset], run: RunConfig
                ) -> tuple[dict[str, StrategyResult], dict]:
    """Train what the presets need (or reuse bundles) and backtest each on the test weeks.

    Returns the results by preset name and a dict describing the run (windows, tickers, timings).
    """
    from strategies.presets import get_preset
    presets = [get_preset(n) if isinstance(n, str) else n for n in names]
    panel = load_run_panel(run)
    n_train = split(panel, run.train_frac)
    if any(p.family == "composite" for p in presets):
        _check_composite(panel)  # before any training
    trainer = Trainer(panel, n_train, run)
    trade_start = panel.index[n_train - 1]
    test_start = panel.index[n_train]
    wf = None
    if run.walk_forward:  # one Trainer per window, each on the weeks before its window
        from strategies.pipeline.walkforward import walk_forward_params, window_trainers
        wf = window_trainers(panel, n_train, run)
    out: dict[str, StrategyResult] = {}
    for p in presets:
        if p.system != 1:
            raise ConfigError(f"{p.name} is a System 2 (alpha) strategy; run it on its own")
        if p.top_k and p.top_k > len(panel.tickers):
            raise ConfigError(f"{p.name}: K={p.top_k} is larger than the {len(panel.tickers)} "
                              "assets of the universe; choose a smaller K or a wider universe")
        if wf and p.family in ("hybrid", "ppo", "lstm"):
            from strategies.composite import WalkForward
            cls, params, p_panel = WalkForward, walk_forward_params(p, wf, panel), panel
        else:
            cls, params, p_panel = strategy_for(p, trainer, panel, trade_start)
        log.info("backtesting %s on %d test weeks from %s", p.name, len(panel) - n_train,
                 test_start.date())
        out[p.name] = backtest(cls, params, p_panel, run, test_start, p.name)
    meta = {"train_weeks": n_train, "test_weeks": len(panel) - n_train,
                "train_first": trainer.train_first, "train_last": trainer.train_last,
                "test_first": str(test_start.date()), "test_last": str(panel.index[-1].date()),
                "tickers": panel.tickers, "asset_class": dict(panel.asset_class),
                "timings": trainer.timings, **trainer.notes}
    skill = _forecast_skill(presets, trainer, wf, panel, n_train)
    if skill is not None:
        meta["forecast_skill"] = skill
    if wf:
        meta["walk_forward"] = {
            "every_weeks": run.walk_forward, "mode": run.walk_forward_mode,
            "windows": [{"train_first": str(panel.index[w.lo].date()),
                         "train_last": str(panel.index[w.hi - 1].date()),
                         "first_decision": str(panel.index[w.hi - 1].date()),
                         "last_week_traded": str(panel.index[w.trade_end - 1].date())}
                        for w, _ in wf]}
        for w, tr in wf:
            meta["timings"].update({f"w{w.index}_{k}": v for k, v in tr.timings.items()})
    return out, meta


def _forecast_skill(presets, trainer: Trainer, wf, panel: WeeklyPanel, n_train: int):
    """Out-of-sample skill of the LSTM forecasts on the test decisions (rows n_train-1 .. T-2),
    when a preset of the run uses them; walk-forward: each window's LSTM on its own rows."""
    if not any(p.family in ("hybrid", "lstm") for p in presets):
        return None
    from models.portfolio.skill import forecast_skill
    lr = panel.log_returns.to_numpy(dtype=np.float64)
    mask = panel.mask.to_numpy(dtype=bool)
    if not wf:
        fc = trainer.forecasts()
    else:
        fc = np.full(lr.shape, np.nan)
        for w, tr in wf:
            rows = slice(w.hi - 1, w.trade_end - 1)
            fc[rows] = np.asarray(tr.lstm_bundle().forecaster.forecast(lr, mask))[rows]
    return forecast_skill(fc, lr, mask, range(n_train - 1, len(panel) - 1), panel.tickers)


def prepare_bundle(strategy: str = "hybrid_top5", run: RunConfig | None = None):
    """Train (or reuse) the bundle of a learned System 1 preset, for use in your own Cerebro.

    Returns ``(bundle_path, panel, trade_start)``: the bundle folder, the weekly panel it was
    trained on (feed it with :func:`feeds.to_backtrader`), and the last training week, from which
    the strategy may trade out of sample (pass it as ``trade_start``).
    """
    from strategies.presets import get_preset
    run = run or RunConfig()
    preset = get_preset(strategy)
    if preset.system != 1 or preset.family not in ("hybrid", "ppo", "lstm"):
        raise ConfigError(f"{strategy} has no trained bundle; choose a hybrid_*, ppo_* or "
                          "lstm_* preset")
    panel = load_run_panel(run)
    n_train = split(panel, run.train_frac)
    trainer = Trainer(panel, n_train, run)
    b = trainer.lstm_bundle() if preset.family == "lstm" else trainer.policy_bundle(preset)
    return b.path, panel, panel.index[n_train - 1]
