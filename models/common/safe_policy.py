"""Save and load a stable-baselines3 actor-critic policy without pickle.

``PPO.save``/``PPO.load`` store the policy's constructor arguments with cloudpickle, so loading a
shared ``ppo.zip`` can run arbitrary code. Here the policy is split into a JSON-able *spec*
(class, Box spaces, the policy kwargs SB3 itself uses to rebuild it, activation by whitelisted
name) and a ``.pt`` file holding only the ``state_dict`` tensors, read back with
``torch.load(..., weights_only=True)``. Loading never unpickles arbitrary objects, rejects any spec
outside the whitelist, and insists that the weights' keys, shapes and dtypes match the rebuilt
policy exactly.

What this does NOT do: it does not authenticate who wrote the file, nor detect a well-formed file
with altered weights. Integrity is the caller's job (the bundle manifest's file hash). Only what
inference needs is kept: the optimizer (class, kwargs, state) is not saved, so a loaded policy is
for ``predict`` only, not for further training.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import FlattenExtractor
from stable_baselines3.common.utils import ConstantSchedule

from feeds.errors import BundleError

FORMAT = 1  #: version of the spec layout below; bump on any incompatible change
ACTIVATIONS: dict[str, type[torch.nn.Module]] = {  # name in the spec -> class; nothing else loads
    c.__name__: c for c in (torch.nn.Tanh, torch.nn.ReLU, torch.nn.ELU, torch.nn.LeakyReLU,
                            torch.nn.GELU, torch.nn.SiLU, torch.nn.Sigmoid, torch.nn.Softplus)
}
POLICY_CLASSES = ("ActorCriticPolicy", "MlpPolicy")  # "MlpPolicy" is SB3's alias of the same class
DTYPES = ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8")
SPEC_KEYS = {"format", "policy_class", "observation_space", "action_space", "policy_kwargs"}
BOX_KEYS = {"type", "shape", "dtype", "low", "high"}
BOOL_KWARGS = ("ortho_init", "squash_output", "use_sde", "share_features_extractor",
               "normalize_images")
KWARG_KEYS = {"net_arch", "activation_fn", "log_std_init", *BOOL_KWARGS}
_RETRAIN = "; retrain the bundle"


def _enc(x: float | int) -> float | int | str:
    if isinstance(x, float) and math.isnan(x):
        raise ValueError("Box bounds contain NaN")
    return ("inf" if x > 0 else "-inf") if isinstance(x, float) and math.isinf(x) else x


def _enc_bound(arr: np.ndarray) -> Any:
    if arr.size and bool(np.all(arr == arr.flat[0])):
        return _enc(arr.flat[0].item())  # uniform bound -> scalar
    flat = [_enc(v) for v in arr.ravel().tolist()]
    return np.array(flat, dtype=object).reshape(arr.shape).tolist()


def _enc_box(space: Any, what: str) -> dict[str, Any]:
    if type(space) is not spaces.Box or space.dtype.name not in DTYPES:
        raise ValueError(f"{what} must be a gymnasium Box of {'/'.join(DTYPES)}, got {space!r}")
    return {"type": "Box", "shape": list(space.shape), "dtype": space.dtype.name,
            "low": _enc_bound(space.low), "high": _enc_bound(space.high)}


def _check_net_arch(arch: Any) -> list[int] | dict[str, list[int]] | None:
    def ints(v: Any) -> list[int] | None:
        ok = isinstance(v, (list, tuple)) and all(type(n) is int and n > 0 for n in v)
        return list(v) if ok else None
    if isinstance(arch, dict):
        out = {k: ints(v) for k, v in arch.items()}
        ok = out and set(out) <= {"pi", "vf"} and None not in out.values()
        return out if ok else None  # type: ignore[return-value]
    return ints(arch)


def policy_spec(model: Any) -> dict[str, Any]:
    """JSON-able description to rebuild ``model``'s policy for inference; ValueError if unsupported.

    Mirrors ``ActorCriticPolicy._get_constructor_parameters()`` of SB3 2.9 minus what inference
    does not need (optimizer, lr schedule) and what only gSDE uses (full_std, use_expln).
    """
    policy = model if isinstance(model, ActorCriticPolicy) else getattr(model, "policy", None)
    if type(policy) is not ActorCriticPolicy:
        raise ValueError("only SB3 ActorCriticPolicy ('MlpPolicy') is supported, "
                         f"got {type(policy).__name__}")
    if policy.features_extractor_class is not FlattenExtractor or policy.features_extractor_kwargs:
        raise ValueError("only the default FlattenExtractor without kwargs is supported")
    if policy.use_sde:
        raise ValueError("gSDE policies (use_sde=True) are not supported")
    names = [n for n, cls in ACTIVATIONS.items() if cls is policy.activation_fn]
    if not names:
        raise ValueError(f"activation {policy.activation_fn!r} is not one of {sorted(ACTIVATIONS)}")
    arch = _check_net_arch(policy.net_arch)
    if arch is None:
        raise ValueError(f"unsupported net_arch {policy.net_arch!r}")
    kwargs: dict[str, Any] = {"net_arch": arch, "activation_fn": names[0],
                              "log_std_init": float(policy.log_std_init)}
    # Read squash_output from the BasePolicy property (_get_constructor_parameters() says None
    # without gSDE) and share_features_extractor from the attribute (it omits it altogether).
    kwargs.update({k: bool(getattr(policy, k)) for k in BOOL_KWARGS})
    return {"format": FORMAT, "policy_class": "ActorCriticPolicy",
            "observation_space": _enc_box(policy.observation_space, "observation space"),
            "action_space": _enc_box(policy.action_space, "action space"), "policy_kwargs": kwargs}


def save_policy(model: Any, path: str | os.PathLike[str]) -> dict[str, Any]:
    """Write the policy's state_dict (tensors only) to ``path``; return :func:`policy_spec`."""
    spec = policy_spec(model)  # refuse before writing anything
    policy = model if isinstance(model, ActorCriticPolicy) else model.policy
    torch.save({k: v.detach().cpu().clone() for k, v in policy.state_dict().items()}, path)
    return spec


def _bad(msg: str) -> BundleError:
    return BundleError(f"policy spec is invalid: {msg}{_RETRAIN}")


def _dec(v: Any) -> Any:
    if isinstance(v, list):
        return [_dec(x) for x in v]
    if isinstance(v, str) and v in ("inf", "-inf"):
        return float(v)
    if type(v) in (int, float) and not (isinstance(v, float) and math.isnan(v)):
        return v
    raise _bad(f"Box bound {v!r} is not a number, 'inf' or '-inf'")


def _dec_box(d: Any, what: str) -> spaces.Box:
    if not isinstance(d, dict) or set(d) != BOX_KEYS or d["type"] != "Box":
        raise _bad(f"{what} must be a Box with exactly the keys {sorted(BOX_KEYS)}")
    shape, dtype = d["shape"], d["dtype"]
    if (not isinstance(shape, list) or not all(type(n) is int and n > 0 for n in shape)
            or dtype not in DTYPES):
        raise _bad(f"{what} has a bad shape {shape!r} or dtype {dtype!r}")
    try:
        raw = [np.asarray(_dec(d[k])) for k in ("low", "high")]  # ints stay exact for int Boxes
        if any(r.dtype.kind not in "iuf" or (r.ndim and r.shape != tuple(shape)) for r in raw):
            raise _bad(f"{what} bounds do not match its shape {shape}")
        with np.errstate(invalid="ignore", over="ignore"):  # a bad cast is caught just below
            low, high = (np.broadcast_to(r, tuple(shape)).astype(dtype) for r in raw)
        if dtype[0] in "iu" and not (np.all(low == raw[0]) and np.all(high == raw[1])):
            raise _bad(f"{what} bounds do not fit its integer dtype {dtype}")
        return spaces.Box(low=low, high=high, shape=tuple(shape), dtype=np.dtype(dtype))
    except BundleError:
        raise
    except Exception as exc:
        raise _bad(f"{what} cannot be rebuilt ({exc})") from exc


def _parse_spec(spec: Any) -> tuple[spaces.Box, spaces.Box, dict[str, Any]]:
    if not isinstance(spec, dict) or set(spec) != SPEC_KEYS:
        raise _bad(f"expected exactly the keys {sorted(SPEC_KEYS)}")
    if type(spec["format"]) is not int or spec["format"] != FORMAT:
        raise _bad(f"format {spec['format']!r} is not {FORMAT}")
    if spec["policy_class"] not in POLICY_CLASSES:
        raise _bad(f"policy class {spec['policy_class']!r} is not one of {list(POLICY_CLASSES)}")
    kw = spec["policy_kwargs"]
    if not isinstance(kw, dict) or set(kw) != KWARG_KEYS:
        raise _bad(f"policy_kwargs must have exactly the keys {sorted(KWARG_KEYS)}")
    arch = _check_net_arch(kw["net_arch"])
    if arch is None:
        raise _bad(f"net_arch {kw['net_arch']!r} is not a list of positive ints "
                   "or a dict of pi/vf such lists")
    if not isinstance(kw["activation_fn"], str) or kw["activation_fn"] not in ACTIVATIONS:
        raise _bad(f"activation_fn {kw['activation_fn']!r} is not one of {sorted(ACTIVATIONS)}")
    lsi = kw["log_std_init"]
    if type(lsi) not in (int, float) or not math.isfinite(lsi):
        raise _bad(f"log_std_init {lsi!r} is not a finite number")
    if any(type(kw[k]) is not bool for k in BOOL_KWARGS):
        raise _bad(f"{', '.join(BOOL_KWARGS)} must be booleans")
    if kw["use_sde"] or kw["squash_output"]:
        raise _bad("use_sde and squash_output must be false")
    kwargs = {**{k: kw[k] for k in BOOL_KWARGS}, "net_arch": arch,
              "activation_fn": ACTIVATIONS[kw["activation_fn"]], "log_std_init": float(lsi)}
    return (_dec_box(spec["observation_space"], "observation_space"),
            _dec_box(spec["action_space"], "action_space"), kwargs)


class InferenceOnlyOptimizer:
    """The optimizer of a policy loaded for inference: holds nothing, refuses to step.

    SB3 builds an Adam optimizer inside every policy, and building any torch optimizer imports
    ``torch._dynamo`` (about 2 CPU-seconds, once per process); a loaded policy is never trained
    (its optimizer state is not saved), so it gets this stand-in instead.
    """

    def __init__(self, params: Any = None, lr: float = 0.0, **kwargs: Any) -> None:
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[Any, Any] = {}

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Nothing to reset."""

    def step(self, closure: Any = None) -> None:
        raise RuntimeError("this policy was loaded for inference only (a bundle keeps no "
                           "optimizer state); train a new model instead")

    def state_dict(self) -> dict[str, Any]:
        return {}


def load_policy(path: str | os.PathLike[str], spec: Any) -> ActorCriticPolicy:
    """Rebuild the policy from ``spec`` and load the tensors at ``path``; BundleError if unsafe.

    The policy is for inference: its optimizer is an :class:`InferenceOnlyOptimizer`, and the
    initial weights are drawn without SB3's orthogonal initialisation (every tensor is replaced
    by the file's, keys, shapes and dtypes checked); ``policy.ortho_init`` still says what the
    spec says.
    """
    obs_space, act_space, kwargs = _parse_spec(spec)
    name = os.fspath(path)
    try:
        state = torch.load(name, map_location="cpu", weights_only=True)
    except Exception as exc:  # unsafe pickle, corrupt or missing file: never a traceback
        raise BundleError(f"policy weights {name} cannot be read as plain tensors "
                          f"({type(exc).__name__}){_RETRAIN}") from exc
    if not isinstance(state, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise BundleError(f"policy weights {name} are not a dict of named tensors{_RETRAIN}")
    with torch.random.fork_rng(devices=[]):  # building draws init weights; spare the caller's RNG
        try:
            policy = ActorCriticPolicy(obs_space, act_space, ConstantSchedule(0.0),
                                       features_extractor_class=FlattenExtractor,
                                       optimizer_class=InferenceOnlyOptimizer,  # type: ignore
                                       **{**kwargs, "ortho_init": False})
        except Exception as exc:
            raise _bad(f"SB3 cannot build it ({type(exc).__name__}: {exc})") from exc
        policy.ortho_init = kwargs["ortho_init"]
    expected = policy.state_dict()
    for key in [*expected, *state]:
        if key not in state or key not in expected:
            where = "is missing" if key not in state else "has unexpected"
            raise BundleError(f"policy weights {name} {where} tensor {key!r}{_RETRAIN}")
        got, want = state[key], expected[key]
        if got.shape != want.shape or got.dtype != want.dtype:
            raise BundleError(f"policy weights {name}: {key!r} is {tuple(got.shape)} {got.dtype}, "
                              f"the spec needs {tuple(want.shape)} {want.dtype}{_RETRAIN}")
    policy.load_state_dict(state, strict=True)
    policy.set_training_mode(False)
    return policy
