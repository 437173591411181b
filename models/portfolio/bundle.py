"""System 1 bundles on the shared safe format (:mod:`models.common.bundle`), verified on load.

Layout of a bundle folder::

    manifest.json        format version, package versions, seed, configs, ordered tickers,
                         asset classes, training window, feature layout and statistics,
                         strategy variant, the policy's JSON spec, sha256 of every other file,
                         and a digest of the manifest itself (optionally an HMAC)
    lstm.pt              LSTMForecaster.state_dict() (variants "hybrid" and "lstm")
    policy.pt            the SB3 actor-critic policy's state_dict (variants "hybrid" and "ppo"),
                         rebuilt from the manifest's spec; never a pickle
    vecnormalize.json    frozen observation statistics (variants "hybrid" and "ppo")

Every ``.pt`` file is read with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from feeds.errors import BundleError
from models.common.bundle import (list_difference, package_versions, read_bundle,
                                  require_files, write_bundle)
from models.common.ppo import ObsNormalizer
from models.portfolio.config import EnvConfig, LSTMConfig, PPOConfig
from models.portfolio.features import FeatureBuilder, FeatureLayout

log = logging.getLogger(__name__)

FORMAT = "bt-rlportfolio/system1-bundle"
FORMAT_VERSION = 2
VARIANTS = {"hybrid": ("lstm.pt", "policy.pt", "vecnormalize.json"),
            "ppo": ("policy.pt", "vecnormalize.json"),
            "lstm": ("lstm.pt",)}
RETRAIN = "retrain with --retrain"


@dataclass
class Bundle:
    """A loaded, hash-verified System 1 bundle.

    Attributes:
        path: the bundle folder.
        manifest: the parsed manifest.json.
        variant: ``hybrid`` | ``ppo`` | ``lstm``.
        tickers: ordered tickers the models were trained on.
        env_config, ppo_config, lstm_config: configs (None where the variant has no such model).
        builder: the FeatureBuilder (layout and training-window statistics); None for ``lstm``.
        obs_norm: frozen VecNormalize statistics (None for ``lstm``).
        model: the PPO actor-critic policy, rebuilt without unpickling (None for ``lstm``).
        forecaster: the LSTMForecaster (None for ``ppo``).
    """

    path: Path
    manifest: dict[str, Any]
    variant: str
    tickers: list[str]
    env_config: EnvConfig
    ppo_config: PPOConfig | None = None
    lstm_config: LSTMConfig | None = None
    builder: FeatureBuilder | None = None
    obs_norm: ObsNormalizer | None = None
    model: Any = None
    forecaster: Any = None
    asset_class: dict[str, str] = field(default_factory=dict)

    @property
    def layout(self) -> FeatureLayout | None:
        return self.builder.layout if self.builder is not None else None

    @property
    def needs_yields(self) -> bool:
        """The policy's state has yield features: its allocator needs ``macro=`` yields
        (:func:`models.portfolio.macro.load_yields`) and the bar dates."""
        spec = self.builder.macro if self.builder is not None else None
        return bool(spec is not None and spec.needs_yields)

    @property
    def seed(self) -> int:
        return int(self.manifest.get("seed", 0))

    def verify_against(self, tickers: Sequence[str], layout: FeatureLayout | None = None,
                       env_config: EnvConfig | None = None, variant: str | None = None) -> None:
        """Raise BundleError saying exactly how the bundle differs from what it will run on."""
        where = f"bundle {self.path}"
        tickers = list(tickers)
        if tickers != self.tickers:
            detail = list_difference(self.tickers, tickers)
            raise BundleError(f"{where} was trained on tickers {self.tickers} but the data has "
                              f"{tickers}: {'; '.join(detail)}; use the bundle's universe or "
                              f"{RETRAIN}")
        if variant is not None and variant != self.variant:
            raise BundleError(f"{where} holds the '{self.variant}' variant, not '{variant}'; "
                              f"choose the matching strategy or {RETRAIN}")
        if layout is not None and self.layout is not None and layout != self.layout:
            raise BundleError(f"{where} has feature layout {self.layout.to_dict()} but "
                              f"{layout.to_dict()} was requested; {RETRAIN}")
        if env_config is not None and env_config != self.env_config:
            a, b = self.env_config.to_dict(), env_config.to_dict()
            diff = ", ".join(f"{k}: bundle {a[k]!r} vs requested {b[k]!r}"
                             for k in a if a[k] != b[k])
            raise BundleError(f"{where} was trained with a different env config ({diff}); "
                              f"{RETRAIN}")


def _features_dict(builder: FeatureBuilder) -> dict[str, Any]:
    """The manifest's ``features`` entry: layout and training statistics (and, with a macro
    block, the :class:`models.portfolio.macro.MacroSpec` and the macro statistics)."""
    d: dict[str, Any] = {"layout": builder.layout.to_dict(), "ret_mean": builder.ret_mean.tolist(),
                         "ret_std": builder.ret_std.tolist(), "clip": builder.clip}
    if builder.layout.n_macro:
        if builder.macro is None:
            raise BundleError("the feature builder has a macro block but no MacroSpec; build it "
                              "with EnvArrays.feature_builder")
        d.update(macro=builder.macro.to_dict(), macro_mean=builder.macro_mean.tolist(),
                 macro_std=builder.macro_std.tolist())
    return d


def _builder_from(fd: dict[str, Any]) -> FeatureBuilder:
    """Inverse of :func:`_features_dict`."""
    layout = FeatureLayout.from_dict(fd["layout"])
    kw: dict[str, Any] = {}
    if layout.n_macro:
        from models.portfolio.macro import MacroSpec
        kw = {"macro": MacroSpec.from_dict(fd["macro"]),
              "macro_mean": np.asarray(fd["macro_mean"], dtype=np.float64),
              "macro_std": np.asarray(fd["macro_std"], dtype=np.float64)}
    return FeatureBuilder(layout, np.asarray(fd["ret_mean"]), np.asarray(fd["ret_std"]),
                          clip=float(fd.get("clip", 10.0)), **kw)


def save_bundle(path: str | os.PathLike, *, variant: str, tickers: Sequence[str],
                env_config: EnvConfig, seed: int, asset_class: dict[str, str] | None = None,
                train_first: str | None = None, train_last: str | None = None,
                ppo_config: PPOConfig | None = None, lstm_config: LSTMConfig | None = None,
                builder: FeatureBuilder | None = None, obs_norm: ObsNormalizer | None = None,
                model: Any = None, forecaster: Any = None,
                extra: dict[str, Any] | None = None) -> Path:
    """Write a bundle folder atomically (temporary sibling, then rename) and return its path.

    Args:
        path: destination folder (replaced if it exists).
        variant: ``hybrid`` (LSTM + PPO), ``ppo`` (PPO only) or ``lstm`` (LSTM Top-K).
        tickers: ordered tickers (the column order of every array).
        env_config: env settings (``top_k`` etc.; also used by the ``lstm`` variant for K).
        seed: the training seed.
        asset_class: ticker -> class.
        train_first, train_last: first and last date of the training window (ISO strings).
        ppo_config, builder, obs_norm, model: PPO artifacts (variants hybrid/ppo).
        lstm_config, forecaster: LSTM artifacts (variants hybrid/lstm).
        extra: any further JSON-able information (e.g. CLI arguments, metrics).
    """
    if variant not in VARIANTS:
        raise BundleError(f"unknown bundle variant '{variant}'; expected one of {sorted(VARIANTS)}")
    needs_ppo = "policy.pt" in VARIANTS[variant]
    needs_lstm = "lstm.pt" in VARIANTS[variant]
    if needs_ppo and (model is None or obs_norm is None or builder is None or ppo_config is None):
        raise BundleError(f"variant '{variant}' needs model, obs_norm, builder and ppo_config")
    if needs_lstm and (forecaster is None or lstm_config is None):
        raise BundleError(f"variant '{variant}' needs forecaster and lstm_config")
    manifest: dict[str, Any] = {}

    def write_files(tmp: Path) -> None:
        manifest["policy"] = None
        if needs_lstm:
            import torch
            torch.save(forecaster.state_dict(), tmp / "lstm.pt")
        if needs_ppo:
            from models.common.safe_policy import save_policy
            manifest["policy"] = save_policy(model, tmp / "policy.pt")
            (tmp / "vecnormalize.json").write_text(json.dumps(obs_norm.to_dict()))

    manifest.update({
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": package_versions(), "seed": int(seed), "variant": variant,
        "tickers": list(tickers), "frequency": "weekly",
        "asset_class": dict(asset_class or {}),
        "training_window": {"first": train_first, "last": train_last},
        "configs": {"env": env_config.to_dict(),
                    "ppo": ppo_config.to_dict() if ppo_config else None,
                    "lstm": lstm_config.to_dict() if lstm_config else None},
        "features": None if builder is None else _features_dict(builder),
        "extra": extra or {},
    })
    dest = write_bundle(path, write_files, manifest)
    log.info("saved %s bundle to %s", variant, dest)
    return dest


def load_bundle(path: str | os.PathLike) -> Bundle:
    """Load a bundle folder, verifying the manifest and every file's sha256."""
    p = Path(path)
    m = read_bundle(p, fmt=FORMAT, version=FORMAT_VERSION)
    variant = m.get("variant")
    if variant not in VARIANTS:
        raise BundleError(f"bundle {p}: unknown variant {variant!r}; {RETRAIN}")
    require_files(p, m, VARIANTS[variant])
    now = package_versions()
    for k, v in (m.get("versions") or {}).items():
        if k in now and now[k] != v and k != "python":
            log.warning("bundle %s was saved with %s %s, running %s", p, k, v, now[k])
    try:
        cfgs = m["configs"]
        env_config = EnvConfig.from_dict(cfgs["env"])
        ppo_config = PPOConfig.from_dict(cfgs["ppo"]) if cfgs.get("ppo") else None
        lstm_config = LSTMConfig.from_dict(cfgs["lstm"]) if cfgs.get("lstm") else None
        builder = None
        if m.get("features"):
            builder = _builder_from(m["features"])
        tickers = list(m["tickers"])
    except (KeyError, TypeError, ValueError) as e:
        raise BundleError(f"bundle {p}: manifest.json is incomplete ({e!r}); {RETRAIN}") from None
    b = Bundle(path=p, manifest=m, variant=variant, tickers=tickers, env_config=env_config,
               ppo_config=ppo_config, lstm_config=lstm_config, builder=builder,
               asset_class=dict(m.get("asset_class") or {}))
    if "policy.pt" in VARIANTS[variant]:
        from models.common.safe_policy import load_policy
        try:
            b.obs_norm = ObsNormalizer.from_dict(json.loads((p / "vecnormalize.json").read_text()))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise BundleError(f"bundle {p}: vecnormalize.json is unusable ({e}); "
                              f"{RETRAIN}") from None
        b.model = load_policy(p / "policy.pt", m.get("policy"))
        n_obs = int(np.prod(b.model.observation_space.shape))
        if builder is None or n_obs != builder.layout.size or b.obs_norm.mean.shape != (n_obs,):
            raise BundleError(f"bundle {p}: policy observation size {n_obs} does not match the "
                              f"feature layout in the manifest; {RETRAIN}")
    if "lstm.pt" in VARIANTS[variant]:
        import torch
        from models.portfolio.forecaster import LSTMForecaster
        try:
            sd = torch.load(p / "lstm.pt", map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001
            raise BundleError(f"bundle {p}: cannot load lstm.pt ({e}); {RETRAIN}") from None
        b.forecaster = LSTMForecaster(lstm_config, seed=b.seed).load_state_dict(sd)
        if b.forecaster.n_assets_ != len(tickers):
            raise BundleError(f"bundle {p}: lstm.pt has {b.forecaster.n_assets_} assets but the "
                              f"manifest lists {len(tickers)} tickers; {RETRAIN}")
    return b
