"""Bundles a user loads cannot run code, and edits to them are refused (both systems)."""

import base64
import io
import json
import pickle
import zipfile

import pytest
import torch

from feeds.errors import BundleError
from models.common.bundle import KEY_ENV, BundleFormatError, seal, sha256_file
from models.portfolio.bundle import load_bundle
from tests.models._s1fixtures import save_tiny_bundle


class _Payload:
    """Unpickling this creates ``marker`` (what an attacker's payload would do)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _reseal(folder):
    """What an attacker does after editing files: recompute every hash and the digest."""
    m = json.loads((folder / "manifest.json").read_text())
    m["files"] = {name: sha256_file(folder / name) for name in m["files"]}
    (folder / "manifest.json").write_text(json.dumps(seal(m)))


def test_pickled_payload_in_policy_file_is_refused_and_never_runs(tmp_path):
    folder = save_tiny_bundle(tmp_path / "b", "ppo")
    marker = tmp_path / "pwned"
    torch.save({"weights": _Payload(marker)}, folder / "policy.pt")  # a pickle, not tensors
    _reseal(folder)
    with pytest.raises(BundleError, match="policy"):
        load_bundle(folder)
    assert not marker.exists()


def test_old_zip_bundle_with_serialized_payload_is_never_unpickled(tmp_path):
    """The attack of the issue: ppo.zip whose ``data`` JSON holds a ':serialized:' entry."""
    from stable_baselines3.common.save_util import json_to_data

    folder = save_tiny_bundle(tmp_path / "b", "ppo")
    marker = tmp_path / "pwned"
    blob = base64.b64encode(pickle.dumps(_Payload(marker))).decode()
    data = json.dumps({"policy_class": {":type:": "<class 'type'>", ":serialized:": blob}})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("data", data)
    (folder / "ppo.zip").write_bytes(buf.getvalue())
    m = json.loads((folder / "manifest.json").read_text())
    m["format_version"] = 1
    m["files"]["ppo.zip"] = sha256_file(folder / "ppo.zip")
    (folder / "manifest.json").write_text(json.dumps(seal(m)))
    with pytest.raises(BundleFormatError):
        load_bundle(folder)
    assert not marker.exists()
    # the payload is live: SB3's own loader would have run it
    json_to_data(data)
    assert marker.exists()


def test_edited_manifest_number_is_refused(tmp_path):
    folder = save_tiny_bundle(tmp_path / "b", "hybrid")
    m = json.loads((folder / "manifest.json").read_text())
    m["features"]["ret_std"][0] *= 2.0  # changes results if accepted
    (folder / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match="edited after it was written"):
        load_bundle(folder)


def test_manifest_cannot_point_outside_the_bundle(tmp_path):
    folder = save_tiny_bundle(tmp_path / "b", "lstm")
    (tmp_path / "outside.txt").write_text("x")
    m = json.loads((folder / "manifest.json").read_text())
    m["files"]["../outside.txt"] = sha256_file(tmp_path / "outside.txt")
    (folder / "manifest.json").write_text(json.dumps(seal(m)))
    with pytest.raises(BundleError, match="outside the bundle"):
        load_bundle(folder)


def test_signed_bundles_with_a_user_key(tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    unsigned = save_tiny_bundle(tmp_path / "u", "lstm")
    monkeypatch.setenv(KEY_ENV, "my secret")
    signed = save_tiny_bundle(tmp_path / "s", "lstm")
    assert "hmac_sha256" in json.loads((signed / "manifest.json").read_text())["integrity"]
    assert load_bundle(signed).tickers
    with pytest.raises(BundleError, match="not signed"):
        load_bundle(unsigned)
    monkeypatch.delenv(KEY_ENV)
    _reseal(signed)  # an attacker without the key re-seals: the HMAC is gone
    monkeypatch.setenv(KEY_ENV, "my secret")
    with pytest.raises(BundleError, match="not signed"):
        load_bundle(signed)
    signed2 = save_tiny_bundle(tmp_path / "s2", "lstm")
    monkeypatch.setenv(KEY_ENV, "another key")
    with pytest.raises(BundleError, match="signature does not match"):
        load_bundle(signed2)
    monkeypatch.delenv(KEY_ENV)
    assert load_bundle(signed2).tickers  # without a key the digest is still checked


@pytest.mark.slow
def test_cli_refuses_a_tampered_system2_bundle_with_exit_2(tmp_path):
    """Train a tiny System 2 bundle through the CLI, plant a payload, run the CLI again."""
    import subprocess
    import sys

    bundles, marker = tmp_path / "bundles", tmp_path / "pwned"
    argv = [sys.executable, "-m", "strategies.run", "--strategy", "alpha_ppo", "--tickers",
            "AAPL", "--seeds", "1", "--timesteps", "256", "--jobs", "1", "--no-tearsheets",
            "--start", "2019-06-01", "--end", "2021-06-30", "--bundle-dir", str(bundles),
            "--no-progress"]
    first = subprocess.run(argv + ["--out", str(tmp_path / "o1")], capture_output=True,
                           text=True)
    assert first.returncode == 0, first.stderr[-2000:]
    (folder,) = [p.parent for p in (bundles / "alpha").rglob("manifest.json")]
    torch.save({"w": _Payload(marker)}, folder / "policy.pt")
    _reseal(folder)
    second = subprocess.run(argv + ["--out", str(tmp_path / "o2")], capture_output=True,
                            text=True)
    assert second.returncode == 2
    assert second.stderr.startswith("error:") and "Traceback" not in second.stderr
    assert not marker.exists()
