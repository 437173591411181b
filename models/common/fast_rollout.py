"""PPO's rollout forward without SB3's module and distribution wrapping (bit-identical).

While PPO collects a rollout, SB3 calls ``policy(obs)`` once per step:
``ActorCriticPolicy.forward`` runs the features extractor, the MLP extractor, the value and
action heads through ``nn.Module.__call__`` (about 15 module calls), builds a
``DiagGaussianDistribution`` and a ``torch.distributions.Normal``, samples with the
reparametrisation trick and sums the log-probabilities. With one env the networks are tiny
(64x64) and that wrapping costs about as much as the arithmetic.

:func:`fast_rollout_forward` replaces ``forward`` on the policy object for the duration of a
``learn`` call with the same torch operations in the same order (``F.linear`` and ``tanh`` as the
``nn.Linear``/``nn.Tanh`` modules call them; ``ones_like(mean) * log_std.exp()`` as the std;
``empty(shape).normal_()`` as ``Normal.rsample`` draws from the global torch generator;
``Normal.log_prob``'s expression; ``sum(dim=1)``), so actions, values, log-probabilities, the
random stream and the trained weights are bit-identical (``tests/models/test_perf_ppo.py``).
It applies only to SB3's plain ``ActorCriticPolicy`` with a flattening, shared features
extractor, MLPs of ``nn.Linear`` and ``nn.Tanh``/``nn.ReLU`` layers, a diagonal Gaussian without
gSDE or squashing, Box spaces and the CPU; any other policy keeps SB3's forward. Training
(``evaluate_actions``) and ``predict`` are untouched.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

#: False keeps SB3's own forward during rollouts (for comparisons).
FAST_ROLLOUT = True

_LOG_SQRT_2PI = math.log(math.sqrt(2 * math.pi))  # the constant of Normal.log_prob


def _layers(seq) -> list | None:
    """An ``nn.Sequential`` of Linear and Tanh/ReLU layers as [(kind, module)], else None."""
    from torch import nn
    out = []
    for m in seq:
        kind = {nn.Linear: "linear", nn.Tanh: "tanh", nn.ReLU: "relu"}.get(type(m))
        if kind is None:
            return None
        out.append((kind, m))
    return out


def _plan(policy) -> tuple | None:
    """What the fast forward needs, or None when the policy is not the plain structure."""
    from stable_baselines3.common.policies import ActorCriticPolicy
    from stable_baselines3.common.torch_layers import FlattenExtractor, MlpExtractor

    from models.common.ppo import _direct_ok
    if type(policy) is not ActorCriticPolicy or not policy.share_features_extractor:
        return None
    if type(policy.features_extractor) is not FlattenExtractor or not _direct_ok(policy):
        return None
    mlp = policy.mlp_extractor
    if type(mlp) is not MlpExtractor:
        return None
    pi, vf = _layers(mlp.policy_net), _layers(mlp.value_net)
    if pi is None or vf is None:
        return None
    return pi, vf


def _run(layers, x):
    import torch
    import torch.nn.functional as F
    for kind, m in layers:
        if kind == "linear":
            x = F.linear(x, m.weight, m.bias)
        elif kind == "tanh":
            x = torch.tanh(x)
        else:
            x = torch.relu(x)
    return x


def _make_forward(policy, pi, vf):
    import torch
    import torch.nn.functional as F
    fl = policy.features_extractor.flatten  # nn.Flatten: input.flatten(start_dim, end_dim)
    dims = (fl.start_dim, fl.end_dim)
    shape = policy.action_space.shape

    def forward(obs, deterministic: bool = False):
        features = obs.float().flatten(*dims)  # preprocess_obs of a Box, then the extractor
        latent_pi, latent_vf = _run(pi, features), _run(vf, features)
        values = F.linear(latent_vf, policy.value_net.weight, policy.value_net.bias)
        mean = F.linear(latent_pi, policy.action_net.weight, policy.action_net.bias)
        std = torch.ones_like(mean) * policy.log_std.exp()
        if deterministic:
            actions = mean
        else:  # Normal(mean, std).rsample()
            actions = mean + torch.empty(mean.shape, dtype=mean.dtype).normal_() * std
        log_prob = (-((actions - mean) ** 2) / (2 * std ** 2) - std.log()
                    - _LOG_SQRT_2PI)
        log_prob = log_prob.sum(dim=1) if log_prob.dim() > 1 else log_prob.sum()
        return actions.reshape((-1, *shape)), values, log_prob

    return forward


@contextlib.contextmanager
def fast_rollout_forward(policy: Any) -> Iterator[bool]:
    """Within the block, ``policy.forward`` is the lean rollout forward (module doc) when the
    policy has the plain structure and :data:`FAST_ROLLOUT` is on; yields whether it is."""
    plan = _plan(policy) if FAST_ROLLOUT else None
    if plan is None:
        yield False
        return
    policy.forward = _make_forward(policy, *plan)
    try:
        yield True
    finally:
        del policy.forward
