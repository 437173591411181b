"""Macro features of the System 1 state (issue 12, the paper's future work).

Definitions, causality (alter the future), the default layout left bit-identical, env/allocator
parity for every option, the errors a user meets without yields, the bundle round trip and the
Backtrader strategy reading the yields by the bar's date.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest

from feeds.errors import ConfigError, DataError
from feeds.panel import panel_from_close
from models.portfolio.allocators import PPOAllocator, allocator_from_bundle
from models.portfolio.config import MACRO_FEATURES, EnvConfig, PPOConfig
from models.portfolio.env import PortfolioEnv, build_env_arrays
from models.portfolio.features import FeatureLayout
from models.portfolio.macro import (
    MacroSpec,
    check_yields,
    class_momentum,
    macro_at,
    realized_vol,
    yields_asof,
)
from models.portfolio.train import policy_action, train_portfolio_policy

T, N = 90, 5
TICKERS = ("AAA", "BBB", "CCC", "DDD", "EEE")
CLASSES = {"AAA": "eq", "BBB": "eq", "CCC": "bond", "DDD": "crypto", "EEE": "crypto"}
TINY_PPO = PPOConfig(n_steps=64, batch_size=32, n_epochs=1, net_arch=(16, 16), total_timesteps=64)
N_TRAIN = 60


def _panel(seed: int = 0, shock_after: int | None = None):
    """90 weekly bars of 5 assets (DDD lists at week 25); ``shock_after``: prices after that
    row are scrambled (the future altered)."""
    rng = np.random.default_rng(seed)
    lr = rng.normal(0.002, 0.04, (T, N))
    if shock_after is not None:
        lr[shock_after + 1:] = rng.normal(0.0, 0.3, lr[shock_after + 1:].shape)
    close = 100.0 * np.exp(np.cumsum(lr, axis=0))
    close[:25, 3] = np.nan
    idx = pd.date_range("2019-01-04", periods=T, freq="W-FRI", name="date")
    return panel_from_close(pd.DataFrame(close, index=idx, columns=list(TICKERS)), CLASSES)


def _yields(seed: int = 1, shock_after=None) -> pd.DataFrame:
    days = pd.bdate_range("2018-10-01", "2021-06-30")
    rng = np.random.default_rng(seed)
    y = pd.DataFrame({"DGS10": 2.5 + np.cumsum(rng.normal(0, 0.03, len(days))),
                      "DGS2": 2.0 + np.cumsum(rng.normal(0, 0.03, len(days)))}, index=days)
    if shock_after is not None:
        y.loc[y.index > shock_after] += 5.0
    return y


def _cfg(features=MACRO_FEATURES, **kw) -> EnvConfig:
    return EnvConfig(top_k=2, window=4, use_forecasts=False, macro_features=tuple(features), **kw)


@functools.cache
def _trained():
    """A tiny PPO-only policy with all four macro features, trained on the first 60 weeks."""
    arr = build_env_arrays(_panel(), env_config=_cfg(), yields=_yields())
    return arr, train_portfolio_policy(arr, N_TRAIN, _cfg(), TINY_PPO, seed=3, progress_bar=False)


def test_spec_columns_order_and_round_trip():
    spec = MacroSpec.from_config(_cfg(("xmom", "yield_level")), TICKERS, CLASSES)
    assert spec.features == ("yield_level", "xmom")  # canonical order, whatever the config's
    assert spec.columns(TICKERS) == ["yield_level", "xmom:eq", "xmom:bond", "xmom:crypto"]
    full = MacroSpec.from_config(_cfg(), TICKERS, CLASSES)
    assert full.size == 2 + N + 3 and full.history_needed == 12 and full.needs_yields
    assert full.columns(TICKERS)[2] == "realized_vol:AAA"
    assert MacroSpec.from_dict(full.to_dict()) == full
    assert MacroSpec.from_config(_cfg(()), TICKERS, CLASSES) is None
    prices_only = MacroSpec.from_config(_cfg(("realized_vol",)), TICKERS, {})
    assert not prices_only.needs_yields and prices_only.groups == ("other",)
    with pytest.raises(ConfigError, match="unknown macro_features"):
        EnvConfig(macro_features=("vix",))


def test_price_features_follow_their_definitions():
    p = _panel()
    lr = p.log_returns.to_numpy()
    avail = p.mask.to_numpy() & np.isfinite(lr)
    x = pd.DataFrame(np.where(avail, lr, np.nan))
    np.testing.assert_allclose(realized_vol(lr, avail), x.rolling(8, min_periods=2).std(),
                               rtol=1e-10, atol=1e-14)
    mom = x.fillna(0.0).rolling(12, min_periods=1).sum().to_numpy()
    got = class_momentum(lr, avail, [CLASSES[t] for t in TICKERS])
    for g, members in enumerate([[0, 1], [2], [3, 4]]):
        m = avail[:, members]
        expect = np.where(m, mom[:, members], 0.0).sum(1) / np.maximum(m.sum(1), 1)
        expect[m.sum(1) == 0] = np.nan
        np.testing.assert_allclose(got[:, g], expect, rtol=1e-12, atol=1e-15)
    assert np.isnan(got[:24, 2]).sum() == 0  # EEE is available, so crypto is defined
    assert np.isnan(realized_vol(lr, avail)[:25, 3]).all()  # DDD before its listing


def test_yields_asof_last_known_value_never_later_nor_stale():
    y = _yields()
    fri = pd.Timestamp("2019-03-08")
    got = yields_asof(y, [fri, fri + pd.Timedelta(days=1), pd.Timestamp("2018-09-28")])
    np.testing.assert_array_equal(got[0], y.loc[fri].to_numpy())
    np.testing.assert_array_equal(got[1], y.loc[fri].to_numpy())  # Saturday: Friday's value
    assert np.isnan(got[2]).all()  # before the first yield: unknown, never back-filled
    gap = y.drop(y.index[(y.index > "2019-03-08") & (y.index < "2019-04-01")])
    gap.loc["2019-03-08", "DGS2"] = np.nan
    got = yields_asof(gap, [pd.Timestamp("2019-03-15"), pd.Timestamp("2019-03-29")])
    assert got[0, 0] == y.loc[fri, "DGS10"] and got[0, 1] == y.loc["2019-03-07", "DGS2"]
    assert np.isnan(got[1]).all()  # 21 days old: stale, unknown
    with pytest.raises(DataError, match="DGS2"):
        check_yields(y[["DGS10"]])


def test_default_layout_unchanged_and_macro_block_appended():
    p, y = _panel(), _yields()
    assert FeatureLayout(N, 4, True).size == 4 * N + 3 * N  # the paper's state, as before
    plain = build_env_arrays(p)
    assert plain.macro is None and build_env_arrays(p, env_config=EnvConfig()).macro is None
    arr = build_env_arrays(p, env_config=_cfg(), yields=y)
    b0 = plain.feature_builder(_cfg(()), 0, N_TRAIN)
    b1 = arr.feature_builder(_cfg(), 0, N_TRAIN)
    e0 = PortfolioEnv(**plain.env_kwargs(), config=_cfg(()), start=20, end=T, builder=b0)
    e1 = PortfolioEnv(**arr.env_kwargs(), config=_cfg(), start=20, end=T, builder=b1)
    o0, _ = e0.reset(seed=0)
    o1, _ = e1.reset(seed=0)
    act = np.zeros(N, dtype=np.float32)
    for t in range(20, 40):
        np.testing.assert_array_equal(o1[:o0.size], o0)
        np.testing.assert_array_equal(o1[o0.size:],
                                      b1.zscore_macro(arr.macro[t]).astype(np.float32))
        o0, *_ = e0.step(act)
        o1, *_ = e1.step(act)
    # the macro statistics come from the training rows only
    from models.portfolio.features import fit_stats
    np.testing.assert_array_equal(b1.macro_mean, fit_stats(arr.macro[:N_TRAIN])[0])


@pytest.mark.parametrize("t", [30, 59, 75])
def test_altering_the_future_leaves_macro_features_unchanged(t):
    p = _panel()
    cut = p.index[t]
    base = build_env_arrays(p, env_config=_cfg(), yields=_yields()).macro
    other = build_env_arrays(_panel(shock_after=t), env_config=_cfg(),
                             yields=_yields(shock_after=cut)).macro
    np.testing.assert_array_equal(base[: t + 1], other[: t + 1])
    assert not np.allclose(base[t + 1:], other[t + 1:], equal_nan=True)  # the test can fail


@pytest.mark.parametrize("features", [("yield_level",), ("yield_slope",), ("realized_vol",),
                                      ("xmom",), MACRO_FEATURES])
def test_env_and_allocator_observations_agree(features):
    """The observation the env builds at row t equals the one built from the history up to t,
    the bar's date and the yields (the allocator's inputs), for each option."""
    p, y = _panel(), _yields()
    cfg = _cfg(features)
    arr = build_env_arrays(p, env_config=cfg, yields=y)
    builder = arr.feature_builder(cfg, 0, N_TRAIN)
    env = PortfolioEnv(**arr.env_kwargs(), config=cfg, start=2, end=T, builder=builder)
    obs, _ = env.reset(seed=0)
    avail = arr.mask & np.isfinite(arr.log_returns)
    rng = np.random.default_rng(0)
    for t in range(2, T - 1):
        row = macro_at(builder.macro, arr.log_returns[: t + 1], avail[: t + 1], p.index[t], y)
        mine = builder.observation(arr.log_returns[: t + 1], env._w, None, arr.mask[t], row)
        np.testing.assert_allclose(mine, obs, rtol=0, atol=1e-6, err_msg=f"t={t}")
        obs, *_ = env.step(rng.uniform(-1, 1, N).astype(np.float32))


def test_allocator_decides_like_the_env_and_ignores_the_future():
    arr, tp = _trained()
    y, p = _yields(), _panel()
    alloc = PPOAllocator(model=tp.model, obs_norm=tp.obs_norm, builder=tp.builder,
                         env_config=tp.env_config, macro=y)
    assert alloc.uses_dates and alloc.history_needed == 12
    env = PortfolioEnv(**arr.env_kwargs(), config=tp.env_config, start=N_TRAIN - 1, end=T,
                       builder=tp.builder)
    obs, _ = env.reset(seed=0)
    lr, mask = arr.log_returns, arr.mask
    for t in range(N_TRAIN - 1, T - 2):
        held = env._w
        w = alloc.target_weights(lr[: t + 1], held, mask[t], mask[: t + 1], date=p.index[t])
        s = t + 1 - alloc.history_needed
        w_trunc = alloc.target_weights(lr[s: t + 1], held, mask[t], mask[s: t + 1],
                                       date=p.index[t])
        np.testing.assert_array_equal(w, w_trunc)
        _, _, _, _, info = env.step(policy_action(tp.model, tp.obs_norm, obs).astype(np.float32))
        np.testing.assert_allclose(w, info["weights"], atol=1e-6, err_msg=f"t={t}")
        obs = env._obs()
    t = 70
    late = _yields(shock_after=p.index[t])
    alloc2 = PPOAllocator(model=tp.model, obs_norm=tp.obs_norm, builder=tp.builder,
                          env_config=tp.env_config, macro=late)
    held = np.full(N, 0.2)
    np.testing.assert_array_equal(
        alloc.target_weights(lr[: t + 1], held, mask[t], mask[: t + 1], date=p.index[t]),
        alloc2.target_weights(lr[: t + 1], held, mask[t], mask[: t + 1], date=p.index[t]))


def test_missing_yields_give_one_clear_error():
    arr, tp = _trained()
    with pytest.raises(ConfigError, match="load_yields"):
        build_env_arrays(_panel(), env_config=_cfg())
    with pytest.raises(ConfigError, match="build_env_arrays"):
        PortfolioEnv(**{**arr.env_kwargs(), "macro": None}, config=_cfg())
    with pytest.raises(ConfigError, match="rebuild them"):  # arrays built for other features
        arr.feature_builder(_cfg(("xmom",)), 0, N_TRAIN)
    with pytest.raises(ConfigError, match=r"yield features \(yield_level, yield_slope\).*"
                                          "load_yields"):
        PPOAllocator(model=tp.model, obs_norm=tp.obs_norm, builder=tp.builder,
                     env_config=tp.env_config)
    alloc = PPOAllocator(model=tp.model, obs_norm=tp.obs_norm, builder=tp.builder,
                         env_config=tp.env_config, macro=_yields())
    with pytest.raises(ConfigError, match="date"):
        alloc.target_weights(arr.log_returns[:70], None, arr.mask[69], arr.mask[:70])
    with pytest.raises(DataError, match="DGS10"):
        PPOAllocator(model=tp.model, obs_norm=tp.obs_norm, builder=tp.builder,
                     env_config=tp.env_config, macro=pd.DataFrame({"x": [1.0]}))
    # price-only features need no yields and no date
    spec = MacroSpec.from_config(_cfg(("realized_vol", "xmom")), TICKERS, CLASSES)
    lr = arr.log_returns
    assert np.isfinite(macro_at(spec, lr[:70], np.isfinite(lr[:70]))).all()


def test_bundle_round_trip_keeps_macro_spec_and_decisions(tmp_path):
    from models.portfolio.bundle import load_bundle, save_bundle
    arr, tp = _trained()
    y, p = _yields(), _panel()
    path = save_bundle(tmp_path / "b", variant="ppo", tickers=TICKERS, env_config=tp.env_config,
                       seed=3, asset_class=CLASSES, ppo_config=TINY_PPO, builder=tp.builder,
                       obs_norm=tp.obs_norm, model=tp.model)
    b = load_bundle(path)
    assert b.needs_yields and b.builder.macro == tp.builder.macro
    assert b.manifest["features"]["macro"]["features"] == list(MACRO_FEATURES)
    np.testing.assert_array_equal(b.builder.macro_std, tp.builder.macro_std)
    with pytest.raises(ConfigError, match="load_yields"):
        allocator_from_bundle(b)
    loaded = allocator_from_bundle(b, macro=y)
    direct = PPOAllocator(model=tp.model, obs_norm=tp.obs_norm, builder=tp.builder,
                          env_config=tp.env_config, macro=y)
    held = np.full(N, 0.2)
    for t in range(N_TRAIN, T, 5):
        args = (arr.log_returns[: t + 1], held, arr.mask[t], arr.mask[: t + 1])
        np.testing.assert_array_equal(loaded.target_weights(*args, date=p.index[t]),
                                      direct.target_weights(*args, date=p.index[t]))


def test_backtrader_strategy_reads_the_yields_at_each_bar_date(tmp_path):
    """The strategy's ``macro`` parameter reaches the allocator, and each decision gets the
    bar's own date; without ``macro`` the strategy stops with the one clear error."""
    import backtrader as bt

    from feeds import to_backtrader
    from models.portfolio.bundle import save_bundle
    from strategies.allocation import PPOOnly
    arr, tp = _trained()
    y, p = _yields(), _panel()
    path = save_bundle(tmp_path / "b", variant="ppo", tickers=TICKERS, env_config=tp.env_config,
                       seed=3, asset_class=CLASSES, ppo_config=TINY_PPO, builder=tp.builder,
                       obs_norm=tp.obs_norm, model=tp.model)

    class Recording(PPOOnly):
        def __init__(self):
            super().__init__()
            self.calls = []
            inner, calls = self.allocator, self.calls

            class Rec:
                uses_dates, history_needed = inner.uses_dates, inner.history_needed

                def target_weights(self, *a, **kw):
                    calls.append((a, kw))
                    return inner.target_weights(*a, **kw)

            self.allocator = Rec()

    def run(**kw):
        cerebro = bt.Cerebro(stdstats=False)
        for d in to_backtrader(p):
            cerebro.adddata(d, name=d._name)
        cerebro.broker.setcash(1_000_000)
        cerebro.addstrategy(Recording, bundle=str(path), trade_start=p.index[N_TRAIN - 1], **kw)
        return cerebro.run()[0]

    strat = run(macro=y)
    fresh = PPOAllocator(model=tp.model, obs_norm=tp.obs_norm, builder=tp.builder,
                         env_config=tp.env_config, macro=y)
    pos = {d: i for i, d in enumerate(p.index.date)}
    assert len(strat.calls) == len(strat.decisions) >= T - N_TRAIN - 1
    for (args, kw), (date, w) in zip(strat.calls, strat.decisions):
        t = pos[date]
        assert kw == {"date": date}
        np.testing.assert_allclose(args[0], arr.log_returns[t + 1 - len(args[0]): t + 1],
                                   rtol=1e-9, atol=1e-12)
        np.testing.assert_array_equal(fresh.target_weights(*args, **kw), w)
    with pytest.raises(ConfigError, match="macro"):
        run()
