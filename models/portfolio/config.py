"""Frozen configuration dataclasses for System 1 (LSTM forecaster, portfolio env, PPO).

Values the paper states are used as given; values it leaves unstated are chosen here and marked
"(our choice)" with the reason. Every config round-trips through ``to_dict``/``from_dict`` so a
bundle manifest records exactly what was trained.
"""

from __future__ import annotations

from dataclasses import dataclass

from feeds.errors import ConfigError
from models.common.config import ConfigBase


#: names accepted by EnvConfig.macro_features
MACRO_FEATURES = ("yield_level", "yield_slope", "realized_vol", "xmom")
#: names accepted by EnvConfig.forecast_gate
FORECAST_GATES = ("none", "mc_dropout")


@dataclass(frozen=True)
class LSTMConfig(ConfigBase):
    """Per-asset univariate LSTM forecaster (paper section on the forecaster)."""

    lookback: int = 30  #: weekly log returns fed to the LSTM to predict the next week's
    hidden: int = 64  #: LSTM hidden units
    dropout: float = 0.2  #: dropout applied to the LSTM output before the linear head
    lr: float = 1e-3  #: Adam learning rate
    weight_decay: float = 1e-4  #: Adam weight decay (L2)
    batch_size: int = 64  #: minibatch size (windows)
    max_epochs: int = 40  #: maximum training epochs
    patience: int = 5  #: early-stopping patience in epochs on validation MSE
    val_frac: float = 0.15  #: fraction of the training window (its end) held out for early stopping

    def __post_init__(self) -> None:
        if self.lookback < 1 or self.hidden < 1 or self.batch_size < 1 or self.max_epochs < 1:
            raise ConfigError("LSTMConfig: lookback, hidden, batch_size, max_epochs must be "
                              f">= 1: {self}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"LSTMConfig: dropout must be in [0, 1), got {self.dropout}")
        if not 0.0 < self.val_frac < 1.0:
            raise ConfigError(f"LSTMConfig: val_frac must be in (0, 1), got {self.val_frac}")


@dataclass(frozen=True)
class EnvConfig(ConfigBase):
    """System 1 portfolio environment (state, Top-K projection, reward)."""

    window: int = 8  #: L, weeks of past returns in the state (our choice: ~2 months)
    top_k: int = 5  #: K, number of assets the projection may hold (paper: 5, 10, 30)
    tau: float = 0.02  #: weights below tau are zeroed after the softmax (our choice)
    tc: float = 0.001  #: proportional cost per unit of traded value (paper: 10 bp)
    sparsity: float = 0.001  #: lambda_sparse, penalty per held asset / N in the reward (our choice)
    use_forecasts: bool = True  #: include LSTM forecasts in the state (hybrid) or not (PPO-only)
    logit_scale: float = 5.0  #: actions in [-1, 1] are multiplied by this before the softmax
    reward_clip: float = 0.0  #: if > 0, clip the reward to [-reward_clip, reward_clip] (0 = off)
    random_start: int = 0  #: if > 0, reset starts at a random offset in [0, random_start] weeks
    #: if > 0, each training episode is a stationary block bootstrap of the training rows with
    #: this mean block length in weeks (0 = the real path); see PortfolioEnv
    bootstrap_block: int = 0
    episode_weeks: int = 0  #: steps of a bootstrapped episode (0 = as many as the real path)
    # ---- turnover control and variance reduction (issue 12; defaults = the paper's behaviour)
    #: no-trade band: a target is not traded when every weight is within this of the weight held
    #: (same rule as strategies.mixins.RebalanceBandMixin, applied in the env and the strategy;
    #: 0 = trade every week, the paper)
    rebalance_band: float = 0.0
    #: target smoothing: the traded target is ``smoothing * held + (1 - smoothing) * projected``
    #: (0 = off, the paper); applied in the env and the allocator alike
    smoothing: float = 0.0
    #: extra reward penalty per unit of one-way turnover, training only (0 = off, the paper)
    turnover_penalty: float = 0.0
    #: std of Gaussian noise added to the normalised observation while training (0 = off)
    obs_noise: float = 0.0
    # ---- the paper's future work (issue 12): macro features and uncertainty-gated forecasts
    #: extra state features, any of "yield_level", "yield_slope" (packaged DGS10 / DGS10-DGS2,
    #: last value known at the week's close), "realized_vol", "xmom" (from the assets' returns)
    macro_features: tuple[str, ...] = ()
    #: forecast gate: "none" (the paper), "mc_dropout" (MC-dropout variance of the LSTM)
    forecast_gate: str = "none"
    gate_samples: int = 16  #: MC-dropout passes of the gate
    #: a forecast enters the state only where |mean| / std of the passes >= this (else 0)
    gate_threshold: float = 0.5

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ConfigError(f"EnvConfig: window must be >= 1, got {self.window}")
        if self.top_k < 1:
            raise ConfigError(f"EnvConfig: top_k must be >= 1, got {self.top_k}")
        if not 0.0 <= self.tau < 1.0:
            raise ConfigError(f"EnvConfig: tau must be in [0, 1), got {self.tau}")
        if self.tc < 0 or self.sparsity < 0 or self.reward_clip < 0 or self.random_start < 0:
            raise ConfigError("EnvConfig: tc, sparsity, reward_clip, random_start must be "
                              f">= 0: {self}")
        if self.bootstrap_block < 0 or self.episode_weeks < 0:
            raise ConfigError("EnvConfig: bootstrap_block and episode_weeks must be >= 0: "
                              f"{self}")
        if self.logit_scale <= 0:
            raise ConfigError(f"EnvConfig: logit_scale must be > 0, got {self.logit_scale}")
        if (self.rebalance_band < 0 or self.turnover_penalty < 0 or self.obs_noise < 0
                or not 0.0 <= self.smoothing < 1.0):
            raise ConfigError("EnvConfig: rebalance_band, turnover_penalty, obs_noise must be "
                              f">= 0 and smoothing in [0, 1): {self}")
        macro = tuple(str(m) for m in self.macro_features)
        unknown = sorted(set(macro) - set(MACRO_FEATURES))
        if unknown:
            raise ConfigError(f"EnvConfig: unknown macro_features {unknown}; choose from "
                              f"{', '.join(MACRO_FEATURES)}")
        object.__setattr__(self, "macro_features", macro)
        if self.forecast_gate not in FORECAST_GATES:
            raise ConfigError(f"EnvConfig: forecast_gate must be one of {FORECAST_GATES}, got "
                              f"{self.forecast_gate!r}")
        if self.gate_samples < 2 or self.gate_threshold < 0:
            raise ConfigError("EnvConfig: gate_samples must be >= 2 and gate_threshold >= 0: "
                              f"{self}")


@dataclass(frozen=True)
class PPOConfig(ConfigBase):
    """PPO settings, named as in stable-baselines3 ``PPO(...)``."""

    learning_rate: float = 1e-4  #: Adam learning rate (paper)
    n_steps: int = 512  #: rollout length before each update, all env copies together (paper)
    batch_size: int = 128  #: minibatch size (paper)
    n_epochs: int = 10  #: optimisation epochs per rollout (our choice: SB3 default)
    clip_range: float = 0.2  #: PPO ratio clip (paper)
    ent_coef: float = 0.01  #: entropy bonus (paper)
    vf_coef: float = 0.5  #: value-loss weight (paper)
    max_grad_norm: float = 0.5  #: gradient-norm clip (paper)
    gamma: float = 0.99  #: discount (paper)
    gae_lambda: float = 0.95  #: GAE lambda (paper)
    net_arch: tuple[int, ...] = (64, 64)  #: hidden layers of actor and critic (our choice)
    total_timesteps: int = 10_000  #: env steps; chosen on a validation slice (README)
    n_envs: int = 1  #: env copies in a DummyVecEnv, n_steps / n_envs steps each per rollout
    normalize_reward: bool = False  #: VecNormalize reward scaling (obs are always normalised)
    clip_obs: float = 10.0  #: VecNormalize observation clip
    torch_threads: int = 1  #: torch.set_num_threads while training (1 was fastest for 64x64)
    weight_decay: float = 0.0  #: Adam weight decay of the policy and value nets (0 = SB3's default)

    def __post_init__(self) -> None:
        if self.n_steps < 1 or self.batch_size < 1 or self.n_epochs < 1 or self.n_envs < 1:
            raise ConfigError("PPOConfig: n_steps, batch_size, n_epochs, n_envs must be "
                              f">= 1: {self}")
        if self.total_timesteps < 1:
            raise ConfigError("PPOConfig: total_timesteps must be >= 1, got "
                              f"{self.total_timesteps}")
        if not all(int(h) >= 1 for h in self.net_arch):
            raise ConfigError(f"PPOConfig: net_arch sizes must be >= 1, got {self.net_arch}")
        if self.weight_decay < 0:
            raise ConfigError(f"PPOConfig: weight_decay must be >= 0, got {self.weight_decay}")
        object.__setattr__(self, "net_arch", tuple(int(h) for h in self.net_arch))

    def policy_kwargs(self) -> dict:
        """``policy_kwargs`` of SB3's ``PPO``: separate actor and critic MLPs of ``net_arch``."""
        kw: dict = {"net_arch": {"pi": list(self.net_arch), "vf": list(self.net_arch)}}
        if self.weight_decay > 0:
            kw["optimizer_kwargs"] = {"weight_decay": float(self.weight_decay)}
        return kw
