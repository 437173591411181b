"""System 2 bundles on the shared safe format (:mod:`models.common.bundle`).

Layout: ``manifest.json`` (format, versions, seed, ticker, AlphaConfig, training window, alpha
names and hash, the policy's JSON spec, sha256 of every file, the manifest's own digest),
``policy.pt`` (the SB3 actor-critic ``state_dict``, read with ``weights_only=True`` and rebuilt
from the spec; never unpickled), ``normalisation.json`` (alpha scaler, return scale) and
``alphas.txt`` (the alpha library the policy was trained with).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from feeds.errors import BundleError
from models.alpha.config import AlphaConfig
from models.alpha.language import Alpha, AlphaScaler, alphas_hash, parse_alpha_lines
from models.alpha.policies import AlphaPolicy
from models.common.bundle import (list_difference, package_versions, read_bundle,
                                  require_files, write_bundle)

BUNDLE_FORMAT = "bt-rlportfolio/alpha-ppo-bundle"
FORMAT_VERSION = 2
FILES = ("policy.pt", "normalisation.json", "alphas.txt")


def save_alpha_bundle(policy: AlphaPolicy, folder: str | Path) -> Path:
    """Write ``folder/{manifest.json, policy.pt, normalisation.json, alphas.txt}`` atomically."""
    from models.common.safe_policy import save_policy
    manifest = {
        "format": BUNDLE_FORMAT, "format_version": FORMAT_VERSION,
        "versions": package_versions(), "seed": policy.meta.get("seed"),
        "ticker": policy.meta.get("ticker", ""), "frequency": "daily",
        "config": policy.config.to_dict(),
        "training_window": {k: policy.meta.get(k) for k in ("train_start", "train_end",
                                                            "train_days")},
        "total_timesteps": policy.meta.get("total_timesteps"),
        "alphas": {"names": [a.name for a in policy.alphas], "hash": alphas_hash(policy.alphas)},
        "observation_size": int(policy.model.observation_space.shape[0]),
    }

    def write_files(tmp: Path) -> None:
        manifest["policy"] = save_policy(policy.model, tmp / "policy.pt")
        (tmp / "normalisation.json").write_text(json.dumps(
            {"scaler": policy.scaler.to_dict(), "ret_scale": policy.ret_scale}, indent=1))
        (tmp / "alphas.txt").write_text(
            "".join(f"{a.name} | {a.formula} | {a.description}\n" for a in policy.alphas))

    return write_bundle(folder, write_files, manifest)


def load_alpha_bundle(folder: str | Path, alphas: Sequence[Alpha] | None = None,
                      ticker: str | None = None) -> AlphaPolicy:
    """Load and verify a bundle; BundleError says exactly what differs.

    Args:
        folder: bundle folder written by :func:`save_alpha_bundle`.
        alphas: if given, must be the library the bundle was trained with (names and formulas).
        ticker: if given, must equal the ticker the bundle was trained on.
    """
    folder = Path(folder)
    manifest = read_bundle(folder, fmt=BUNDLE_FORMAT, version=FORMAT_VERSION)
    require_files(folder, manifest, FILES)
    if ticker is not None and manifest.get("ticker") != ticker:
        raise BundleError(f"bundle was trained on {manifest.get('ticker')!r}, "
                          f"data is {ticker!r}")
    stored = parse_alpha_lines((folder / "alphas.txt").read_text().splitlines(),
                               source=str(folder / "alphas.txt"))
    if alphas_hash(stored) != manifest["alphas"]["hash"]:
        raise BundleError(f"{folder}: alphas.txt does not match the manifest's alpha hash")
    if alphas is not None:
        alphas = list(alphas)
        if alphas_hash(alphas) != manifest["alphas"]["hash"]:
            by_b = {a.name: a for a in stored}
            diff = [a.name for a in alphas if a.name in by_b and by_b[a.name].ast != a.ast]
            parts = [p for p in list_difference(manifest["alphas"]["names"],
                                                [a.name for a in alphas], extra="not in bundle")
                     if not p.startswith("same")]
            if diff:
                parts.append(f"different formulas {', '.join(diff)}")
            if not parts:
                parts.append("same alphas in a different order")
            raise BundleError(f"alphas differ from the bundle's: {'; '.join(parts)}")
    try:
        config = AlphaConfig.from_dict(manifest["config"])
        norm = json.loads((folder / "normalisation.json").read_text())
        scaler = AlphaScaler.from_dict(norm["scaler"])
        ret_scale = float(norm["ret_scale"])
    except (KeyError, TypeError, ValueError) as e:
        raise BundleError(f"{folder}: settings in the bundle are incomplete ({e!r}); retrain "
                          f"it (--retrain)") from None
    if scaler.names_ != [a.name for a in stored]:
        raise BundleError(f"{folder}: normalisation.json alpha names differ from alphas.txt")
    from models.common.safe_policy import load_policy
    model = load_policy(folder / "policy.pt", manifest.get("policy"))
    n_obs = model.observation_space.shape[0]
    if n_obs != manifest["observation_size"]:
        raise BundleError(f"{folder}: policy.pt observation size {n_obs} != manifest "
                          f"{manifest['observation_size']}")
    if model.action_space.shape[0] != len(stored):
        raise BundleError(f"{folder}: policy.pt has {model.action_space.shape[0]} actions for "
                          f"{len(stored)} alphas")
    meta = dict(manifest.get("training_window", {}))
    meta.update(seed=manifest.get("seed"), ticker=manifest.get("ticker", ""),
                total_timesteps=manifest.get("total_timesteps"))
    return AlphaPolicy(model, stored, scaler, ret_scale, config, meta)
