"""The one bundle format of both systems: a folder of tensors and JSON, sealed by its manifest.

A bundle is a folder holding ``manifest.json`` plus data files (torch ``state_dict`` files and
JSON). Nothing in it is ever unpickled: tensors are read with ``torch.load(...,
weights_only=True)`` and the PPO policy is rebuilt from a whitelisted JSON spec
(:mod:`models.common.safe_policy`).

Integrity (checked by :func:`read_bundle` before anything is used):

* ``manifest["files"]`` holds the sha256 of every file written, and every listed file must be
  present with that hash (names are plain file names: no folders, no ``..``);
* ``manifest["integrity"]["manifest_sha256"]`` is the sha256 of the rest of the manifest in
  canonical JSON, so an edited number (a statistic, a config value) is detected;
* optional signing: when the environment variable ``BT_RLPORTFOLIO_BUNDLE_KEY`` is set, saving
  adds ``integrity["hmac_sha256"]`` (HMAC-SHA256 of the same canonical JSON with that key) and
  loading REQUIRES a valid one.

What the hashes protect against: accidental corruption, a partly copied folder, and edits by
someone who does not bother to recompute the hashes. What they do not protect against: a
deliberate edit by someone who rewrites the hashes too (anyone can recompute a sha256). Only the
HMAC, with a key the attacker does not have, tells you that the bundle was written by a holder
of your key. Since loading never unpickles, an edited bundle can change results but cannot run
code.

Writing is atomic: files go to a temporary sibling folder that is renamed into place, so a crash
never leaves a half-written bundle under the final name.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import platform
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

from feeds.errors import BundleError

KEY_ENV = "BT_RLPORTFOLIO_BUNDLE_KEY"


class BundleFormatError(BundleError):
    """The folder holds a bundle of another format or an older format version (retrainable)."""

MANIFEST = "manifest.json"
RETRAIN = "retrain it (--retrain) or restore the original folder"


def sha256_file(path: str | os.PathLike) -> str:
    """sha256 hex digest of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def package_versions() -> dict[str, str]:
    """Versions of the packages a bundle depends on."""
    import gymnasium
    import numpy
    import pandas
    import stable_baselines3
    import torch
    return {"python": platform.python_version(), "numpy": numpy.__version__,
            "pandas": pandas.__version__, "torch": torch.__version__,
            "stable_baselines3": stable_baselines3.__version__,
            "gymnasium": gymnasium.__version__}


def _canonical(manifest: dict[str, Any]) -> bytes:
    body = {k: v for k, v in manifest.items() if k != "integrity"}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def _key() -> bytes | None:
    k = os.environ.get(KEY_ENV)
    return k.encode() if k else None


def seal(manifest: dict[str, Any]) -> dict[str, Any]:
    """Return ``manifest`` with its ``integrity`` entry (digest, and HMAC when a key is set)."""
    body = _canonical(manifest)
    integrity = {"manifest_sha256": hashlib.sha256(body).hexdigest()}
    key = _key()
    if key is not None:
        integrity["hmac_sha256"] = hmac.new(key, body, hashlib.sha256).hexdigest()
    return {**{k: v for k, v in manifest.items() if k != "integrity"}, "integrity": integrity}


def write_bundle(dest: str | os.PathLike, write_files: Callable[[Path], None],
                 manifest: dict[str, Any]) -> Path:
    """Write a bundle atomically: ``write_files(tmp)`` writes the data files into a temporary
    sibling folder; every file it wrote is hashed into ``manifest["files"]``; the sealed
    manifest is written; the folder replaces ``dest``."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
    try:
        write_files(tmp)
        files = {p.name: sha256_file(p) for p in sorted(tmp.iterdir()) if p.is_file()}
        sealed = seal({**manifest, "files": files})
        (tmp / MANIFEST).write_text(json.dumps(sealed, indent=1))
        old = None
        if dest.exists():
            old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
            os.replace(dest, old)
        os.replace(tmp, dest)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def _check_integrity(where: str, m: dict[str, Any]) -> None:
    integ = m.get("integrity")
    if not isinstance(integ, dict) or "manifest_sha256" not in integ:
        raise BundleError(f"{where}: manifest.json has no integrity digest (an older or "
                          f"hand-made bundle); {RETRAIN}")
    body = _canonical(m)
    if not hmac.compare_digest(str(integ["manifest_sha256"]),
                               hashlib.sha256(body).hexdigest()):
        raise BundleError(f"{where}: manifest.json was edited after it was written (its digest "
                          f"does not match); {RETRAIN}")
    key = _key()
    if key is not None:
        sig = integ.get("hmac_sha256")
        if not isinstance(sig, str):
            raise BundleError(f"{where}: bundle is not signed but {KEY_ENV} is set; sign it by "
                              f"retraining with the key set, or unset {KEY_ENV} to accept it")
        if not hmac.compare_digest(sig, hmac.new(key, body, hashlib.sha256).hexdigest()):
            raise BundleError(f"{where}: signature does not match the key in {KEY_ENV}: the "
                              f"bundle was changed or signed with another key; do not use it")


def read_bundle(path: str | os.PathLike, *, fmt: str, version: int) -> dict[str, Any]:
    """Read and verify a bundle's manifest (format, integrity, every file's sha256).

    Returns the manifest; raises BundleError saying exactly what is wrong and what to do.
    """
    p = Path(path)
    mpath = p / MANIFEST
    if not mpath.is_file():
        raise BundleError(f"no trained bundle at {p} (manifest.json not found); train one "
                          f"with --retrain or give the bundle's folder")
    try:
        m = json.loads(mpath.read_text())
    except (OSError, ValueError) as e:
        raise BundleError(f"bundle {p}: manifest.json is unreadable ({e}); {RETRAIN}") from None
    if not isinstance(m, dict):
        raise BundleError(f"bundle {p}: manifest.json is not a JSON object; {RETRAIN}")
    if m.get("format") != fmt or m.get("format_version") != version:
        raise BundleFormatError(f"bundle {p}: format {m.get('format')!r} version "
                          f"{m.get('format_version')!r} is not {fmt!r} version {version}; "
                          f"{RETRAIN}")
    _check_integrity(f"bundle {p}", m)
    files = m.get("files")
    if not isinstance(files, dict) or not files:
        raise BundleError(f"bundle {p}: manifest lists no files; {RETRAIN}")
    for name, digest in files.items():
        if not isinstance(name, str) or Path(name).name != name or name in (".", ".."):
            raise BundleError(f"bundle {p}: manifest names a file outside the bundle "
                              f"({name!r}); do not use this bundle")
        f = p / name
        if not f.is_file():
            raise BundleError(f"bundle {p}: file {name} is missing; {RETRAIN}")
        if sha256_file(f) != digest:
            raise BundleError(f"bundle {p}: file {name} is corrupt or was changed (sha256 does "
                              f"not match the manifest); {RETRAIN}")
    return m


def list_difference(expected, given, *, extra: str = "extra", same: str = "in a different order"
                    ) -> list[str]:
    """What separates two name lists, as phrases: ``missing ...``, ``<extra> ...``, or
    ``same ... <same>`` when only the order differs (empty when they are equal)."""
    expected, given = list(expected), list(given)
    if expected == given:
        return []
    missing = [t for t in expected if t not in given]
    added = [t for t in given if t not in expected]
    parts = []
    if missing:
        parts.append(f"missing {', '.join(map(str, missing))}")
    if added:
        parts.append(f"{extra} {', '.join(map(str, added))}")
    return parts or [f"same names {same}"]


def require_files(path: str | os.PathLike, manifest: dict[str, Any], names) -> None:
    """BundleError unless the manifest lists (and :func:`read_bundle` verified) every name."""
    missing = [n for n in names if n not in manifest.get("files", {})]
    if missing:
        raise BundleError(f"bundle {path}: manifest lists no {', '.join(missing)}; {RETRAIN}")
