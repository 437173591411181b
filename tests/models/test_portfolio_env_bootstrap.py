"""EnvConfig.bootstrap_block: training episodes that replay real weeks in a resampled order."""

import warnings

import numpy as np
import pytest

from feeds.errors import ConfigError
from models.common.execution import execute_step
from models.portfolio.config import EnvConfig
from models.common.execution import bar_returns
from models.portfolio.env import PortfolioEnv, initial_weights
from models.portfolio.projection import topk_project
from tests.models._s1data import synthetic_arrays

START, END = 10, 90


def make_env(cfg, start=START, end=END):
    opn, close, lr, mask, fc = synthetic_arrays()  # two assets list late (mask changes)
    env = PortfolioEnv(opn, close, lr, mask, fc if cfg.use_forecasts else None, cfg, start, end)
    return env, (opn, close, lr, mask, fc)


def roll(env, seed, n_max=10_000):
    """Random-action episode: (rows, actions, observations, rewards, infos)."""
    obs, info = env.reset(seed=seed)
    rows = env.episode_rows
    acts = np.random.default_rng(seed + 1).uniform(-1, 1, (n_max, env.n_assets)).astype(np.float32)
    observations, rewards, infos = [obs], [], [info]
    for a in acts:
        obs, r, term, trunc, info = env.step(a)
        observations.append(obs); rewards.append(r); infos.append(info)
        if term or trunc:
            break
    return rows, acts[:len(rewards)], observations, rewards, infos


def reference(env, data, rows, actions):
    """Hand replay: step i is the real transition rows[i] -> rows[i] + 1, weights carried."""
    opn, close, lr, mask, fc = data
    cfg, L = env.config, env.config.window
    gap, intra = bar_returns(opn, close)
    z = env.builder.zscore(lr)
    zf = env.builder.zscore(fc) if cfg.use_forecasts else None
    w = initial_weights(mask[rows[0]])

    def obs(t, w):
        return env.builder.assemble(z[max(0, t - L + 1): t + 1], w,
                                    zf[t] if zf is not None else None, mask[t])

    observations, rewards = [obs(rows[0], w)], []
    for i, a in enumerate(actions):
        t = rows[i]
        target = topk_project(a.astype(np.float64) * cfg.logit_scale, cfg.top_k, cfg.tau, mask[t])
        res = execute_step(w, target, gap[t], intra[t], cfg.tc)
        net = res.growth - 1.0 - cfg.sparsity * np.count_nonzero(target) / env.n_assets
        rewards.append(float(np.log(max(1.0 + net, 1e-12))))
        w = res.weights_close
        observations.append(obs(rows[i + 1], w))
    return observations, rewards


@pytest.mark.parametrize("use_fc", [True, False])
def test_default_config_is_the_real_path(use_fc):
    cfg = EnvConfig(use_forecasts=use_fc, top_k=3)
    assert cfg.bootstrap_block == 0 and cfg.episode_weeks == 0
    env, data = make_env(cfg)
    rows, acts, obs, rew, infos = roll(env, seed=3)
    np.testing.assert_array_equal(rows, np.arange(START, END))
    assert len(rew) == END - 1 - START
    assert [i["t"] for i in infos] == list(range(START, END))
    ref_obs, ref_rew = reference(env, data, rows, acts)
    np.testing.assert_array_equal(rew, ref_rew)
    for o, r in zip(obs, ref_obs):
        np.testing.assert_array_equal(o, r)


@pytest.mark.parametrize("block", [1, 4, 8])
@pytest.mark.parametrize("use_fc", [True, False])
def test_bootstrap_steps_are_real_transitions(block, use_fc):
    cfg = EnvConfig(use_forecasts=use_fc, top_k=3, bootstrap_block=block)
    env, data = make_env(cfg)
    for seed in range(3):
        rows, acts, obs, rew, infos = roll(env, seed)
        assert len(rew) == len(rows) - 1 == END - 1 - START
        assert [i["t"] for i in infos] == [int(r) for r in rows]
        ref_obs, ref_rew = reference(env, data, rows, acts)
        np.testing.assert_allclose(rew, ref_rew, rtol=1e-12, atol=0)
        for o, r in zip(obs, ref_obs):
            np.testing.assert_array_equal(o, r)


@pytest.mark.parametrize("block", [1, 3, 8, 50])
def test_bootstrap_rows_stay_inside_the_episode_rows(block):
    window = 6
    cfg = EnvConfig(use_forecasts=False, top_k=3, window=window, bootstrap_block=block)
    env, _ = make_env(cfg)
    seen = set()
    for seed in range(20):
        env.reset(seed=seed)
        rows = env.episode_rows
        # decision rows: full return window after START, next row r + 1 still before END
        assert rows.min() >= START + window and rows.max() <= END - 2
        assert (rows - window + 1).min() > START and (rows + 1).max() <= END - 1
        seen.update(rows.tolist())
    assert seen == set(range(START + window, END - 1))  # every training row gets used


def test_block_lengths_and_episode_weeks():
    env, _ = make_env(EnvConfig(use_forecasts=False, bootstrap_block=8, episode_weeks=5000))
    env.reset(seed=0)
    rows = env.episode_rows
    assert len(rows) == 5001
    d = np.diff(rows)
    continued = (d == 1) | (d == -(END - 2 - (START + 8)))  # +1, or wrap from hi to lo
    assert 0.8 < continued.mean() / (7 / 8) < 1.1  # a new block with probability 1/8
    env2, _ = make_env(EnvConfig(use_forecasts=False, bootstrap_block=4, episode_weeks=7))
    *_, rew, _ = roll(env2, seed=0)
    assert len(rew) == 7


def test_same_seed_same_episode():
    cfg = EnvConfig(top_k=3, bootstrap_block=4)
    a, b = make_env(cfg)[0], make_env(cfg)[0]
    ra, rb = roll(a, seed=7), roll(b, seed=7)
    np.testing.assert_array_equal(ra[0], rb[0])
    np.testing.assert_array_equal(ra[3], rb[3])
    # successive resets without a seed draw fresh orders (SB3 seeds once, then resets)
    a.reset(seed=7)
    first = a.episode_rows
    a.reset()
    assert not np.array_equal(first, a.episode_rows)
    assert not np.array_equal(roll(b, seed=8)[0], ra[0])


@pytest.mark.parametrize("use_fc", [True, False])
def test_check_env_with_bootstrap(use_fc):
    env, _ = make_env(EnvConfig(use_forecasts=use_fc, top_k=3, bootstrap_block=4,
                                episode_weeks=30))
    from gymnasium.utils.env_checker import check_env as gym_check
    from stable_baselines3.common.env_checker import check_env as sb3_check
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gym_check(env, skip_render_check=True)
    sb3_check(env, warn=False)


def test_config_validation_and_round_trip():
    with pytest.raises(ConfigError):
        EnvConfig(bootstrap_block=-1)
    with pytest.raises(ConfigError):
        EnvConfig(episode_weeks=-1)
    cfg = EnvConfig(bootstrap_block=8, episode_weeks=100)
    assert EnvConfig.from_dict(cfg.to_dict()) == cfg
    old = {k: v for k, v in EnvConfig().to_dict().items()
           if k not in ("bootstrap_block", "episode_weeks")}
    assert EnvConfig.from_dict(old) == EnvConfig()  # manifests written before the fields
