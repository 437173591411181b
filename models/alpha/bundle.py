"""System 2 bundles: one trained policy per stock and seed, verified on load."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Sequence

from feeds.errors import BundleError
from models.alpha.config import AlphaConfig
from models.alpha.language import Alpha, AlphaScaler, alphas_hash, parse_alpha_lines
from models.alpha.policies import AlphaPolicy
from models.alpha.train import _versions

BUNDLE_FORMAT = "alpha-ppo-bundle/1"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_alpha_bundle(policy: AlphaPolicy, folder: str | Path) -> Path:
    """Write ``folder/{manifest.json, ppo.zip, normalisation.json, alphas.txt}``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    policy.model.save(folder / "ppo.zip")
    (folder / "normalisation.json").write_text(json.dumps(
        {"scaler": policy.scaler.to_dict(), "ret_scale": policy.ret_scale}, indent=1))
    (folder / "alphas.txt").write_text(
        "".join(f"{a.name} | {a.formula} | {a.description}\n" for a in policy.alphas))
    manifest = {
        "format": BUNDLE_FORMAT, "versions": _versions(), "seed": policy.meta.get("seed"),
        "ticker": policy.meta.get("ticker", ""), "config": policy.config.to_dict(),
        "training_window": {k: policy.meta.get(k) for k in ("train_start", "train_end",
                                                            "train_days")},
        "total_timesteps": policy.meta.get("total_timesteps"),
        "alphas": {"names": [a.name for a in policy.alphas], "hash": alphas_hash(policy.alphas)},
        "observation_size": int(policy.model.observation_space.shape[0]),
        "files": {n: _sha256(folder / n) for n in ("ppo.zip", "normalisation.json",
                                                   "alphas.txt")},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return folder


def load_alpha_bundle(folder: str | Path, alphas: Sequence[Alpha] | None = None,
                      ticker: str | None = None) -> AlphaPolicy:
    """Load and verify a bundle; BundleError says exactly what differs.

    Args:
        folder: bundle folder written by :func:`save_alpha_bundle`.
        alphas: if given, must be the library the bundle was trained with (names and formulas).
        ticker: if given, must equal the ticker the bundle was trained on.
    """
    from stable_baselines3 import PPO

    folder = Path(folder)
    mpath = folder / "manifest.json"
    if not mpath.is_file():
        raise BundleError(f"{folder} is not an alpha bundle: manifest.json is missing")
    try:
        manifest = json.loads(mpath.read_text())
    except json.JSONDecodeError as exc:
        raise BundleError(f"{mpath} is not valid JSON ({exc}); re-train or restore the bundle")
    if manifest.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{folder}: bundle format {manifest.get('format')!r}, "
                          f"expected {BUNDLE_FORMAT!r}")
    for name, digest in manifest.get("files", {}).items():
        p = folder / name
        if not p.is_file():
            raise BundleError(f"{folder}: file {name} listed in manifest.json is missing")
        actual = _sha256(p)
        if actual != digest:
            raise BundleError(f"{folder}: {name} sha256 {actual[:12]}... differs from manifest "
                              f"{digest[:12]}...; the file was changed or corrupted")
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
            names_b = manifest["alphas"]["names"]
            names_u = [a.name for a in alphas]
            by_b = {a.name: a for a in stored}
            diff = [a.name for a in alphas if a.name in by_b and by_b[a.name].ast != a.ast]
            missing = [n for n in names_b if n not in names_u]
            extra = [n for n in names_u if n not in names_b]
            parts = []
            if missing:
                parts.append(f"missing {missing}")
            if extra:
                parts.append(f"not in bundle {extra}")
            if diff:
                parts.append(f"different formulas {diff}")
            if not parts:
                parts.append("same alphas in a different order")
            raise BundleError(f"alphas differ from the bundle's: {'; '.join(parts)}")
    config = AlphaConfig.from_dict(manifest["config"])
    norm = json.loads((folder / "normalisation.json").read_text())
    scaler = AlphaScaler.from_dict(norm["scaler"])
    if scaler.names_ != [a.name for a in stored]:
        raise BundleError(f"{folder}: normalisation.json alpha names differ from alphas.txt")
    model = PPO.load(folder / "ppo.zip", device="cpu")
    n_obs = model.observation_space.shape[0]
    if n_obs != manifest["observation_size"]:
        raise BundleError(f"{folder}: ppo.zip observation size {n_obs} != manifest "
                          f"{manifest['observation_size']}")
    if model.action_space.shape[0] != len(stored):
        raise BundleError(f"{folder}: ppo.zip has {model.action_space.shape[0]} actions for "
                          f"{len(stored)} alphas")
    meta = dict(manifest.get("training_window", {}))
    meta.update(seed=manifest.get("seed"), ticker=manifest.get("ticker", ""),
                total_timesteps=manifest.get("total_timesteps"))
    return AlphaPolicy(model, stored, scaler, norm["ret_scale"], config, meta)
