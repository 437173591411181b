"""One configuration base for every frozen settings dataclass of both systems.

``to_dict`` / ``from_dict`` round-trip a config through JSON (bundle manifests record exactly
what was trained); unknown keys are refused with the list of known ones. Tuples become lists in
JSON and lists become tuples again on the way back.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any, TypeVar

from feeds.errors import ConfigError

_C = TypeVar("_C", bound="ConfigBase")

#: Keyword arguments of stable-baselines3 ``PPO(...)`` that configs keep under SB3's own names.
SB3_PPO_FIELDS = ("learning_rate", "n_steps", "batch_size", "n_epochs", "gamma", "gae_lambda",
                  "clip_range", "ent_coef", "vf_coef", "max_grad_norm")


class ConfigBase:
    """Mixin for frozen dataclasses: dict round trip with a clear error on unknown keys."""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)  # type: ignore[call-overload]
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}

    @classmethod
    def from_dict(cls: type[_C], d: dict[str, Any]) -> _C:
        if not isinstance(d, dict):
            raise ConfigError(f"{cls.__name__}: expected a mapping of settings, "
                              f"got {type(d).__name__}")
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(f"{cls.__name__}: unknown fields {unknown}; known: {sorted(names)}")
        kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items()}
        try:
            return cls(**kw)  # type: ignore[call-arg]
        except TypeError as e:
            raise ConfigError(f"{cls.__name__}: invalid settings ({e})") from None

    def sb3_kwargs(self) -> dict[str, Any]:
        """The fields named in :data:`SB3_PPO_FIELDS`, as keyword arguments of ``PPO(...)``."""
        return {k: getattr(self, k) for k in SB3_PPO_FIELDS}
