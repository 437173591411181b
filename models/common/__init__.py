"""Pieces both systems share: configuration base, execution accounting, PPO construction,
torch thread handling and the safe bundle format (see docs/ARCHITECTURE.md).

Public names are importable from here (loaded on first use)::

    from models.common import bar_returns, execute_step, build_ppo, read_bundle
"""

from __future__ import annotations

from feeds.lazy import lazy_exports

_EXPORTS = {
    "models.common.config": ("ConfigBase", "SB3_PPO_FIELDS"),
    "models.common.execution": ("StepResult", "bar_returns", "execute_step"),
    "models.common.ppo": ("ObsNormalizer", "make_vec_env", "build_ppo", "train",
                          "policy_action"),
    "models.common.threads": ("torch_threads",),
    "models.common.safe_policy": ("policy_spec", "save_policy", "load_policy"),
    "models.common.bundle": ("BundleFormatError", "KEY_ENV", "read_bundle", "write_bundle",
                             "seal", "sha256_file", "package_versions", "list_difference"),
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
