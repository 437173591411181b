"""System 2 settings: one frozen dataclass for the environment, the position map and PPO."""

from __future__ import annotations

from dataclasses import dataclass

from feeds.errors import ConfigError
from models.common.config import ConfigBase


@dataclass(frozen=True)
class AlphaConfig(ConfigBase):
    """Settings of System 2 (environment, position mapping, PPO). PPO fields keep SB3 names."""

    tc: float = 0.001  #: proportional cost per unit of traded weight (0.001 = 10 bp, the paper's)
    signal_gain: float = 2.0  #: position = tanh(signal_gain * composite signal) before vol targeting
    target_vol: float | None = 0.20  #: annualised volatility target; None disables vol targeting
    lev_cap: float = 1.0  #: absolute position cap (1.0 = no leverage, position in [-1, 1])
    window: int = 10  #: number of recent daily log returns in the state
    include_alphas: bool = True  #: put the current standardised alphas in the state
    episode_length: int | None = 252  #: random training sub-episodes (days); None = whole window
    scaler_clip: float = 5.0  #: clip of standardised alphas (|z| <= scaler_clip)
    n_envs: int = 4  #: parallel copies of the env in the DummyVecEnv (different random starts)
    norm_reward: bool = True  #: VecNormalize reward scaling during training (obs are not normalised)
    learning_rate: float = 3e-4  #: SB3 PPO learning_rate
    n_steps: int = 256  #: SB3 PPO rollout length per env
    batch_size: int = 256  #: SB3 PPO minibatch size
    n_epochs: int = 10  #: SB3 PPO epochs per rollout
    gamma: float = 0.99  #: SB3 PPO discount
    gae_lambda: float = 0.95  #: SB3 PPO GAE lambda
    clip_range: float = 0.2  #: SB3 PPO clip range
    ent_coef: float = 0.0  #: SB3 PPO entropy coefficient
    vf_coef: float = 0.5  #: SB3 PPO value-loss coefficient
    max_grad_norm: float = 0.5  #: SB3 PPO gradient clipping
    net_arch: tuple[int, ...] = (64, 64)  #: hidden layers of policy and value MLPs
    log_std_init: float = -0.5  #: initial log std of the Gaussian policy
    total_timesteps: int = 200_000  #: PPO env steps per run (full run; ~50_000 for a quick run)

    def __post_init__(self):
        if self.tc < 0 or self.lev_cap <= 0 or self.window < 1 or self.n_envs < 1:
            raise ConfigError("AlphaConfig: need tc >= 0, lev_cap > 0, window >= 1, n_envs >= 1")
        if self.target_vol is not None and self.target_vol <= 0:
            raise ConfigError("AlphaConfig.target_vol must be positive or None")
        if (self.n_steps * self.n_envs) % self.batch_size:
            raise ConfigError(f"AlphaConfig: n_steps * n_envs ({self.n_steps * self.n_envs}) "
                              f"must be a multiple of batch_size ({self.batch_size})")

    def policy_kwargs(self) -> dict:
        """``policy_kwargs`` of SB3's ``PPO``: tanh MLPs of ``net_arch``, ``log_std_init``."""
        import torch
        return {"net_arch": dict(pi=list(self.net_arch), vf=list(self.net_arch)),
                "log_std_init": self.log_std_init, "activation_fn": torch.nn.Tanh}

    def position_kwargs(self) -> dict:
        return {"signal_gain": self.signal_gain, "target_vol": self.target_vol,
                "lev_cap": self.lev_cap}
