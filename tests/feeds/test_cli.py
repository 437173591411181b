import subprocess
import sys
from pathlib import Path

from feeds.__main__ import main

ROOT = Path(__file__).resolve().parents[2]


def test_unknown_universe_exit_2(capsys):
    assert main(["coverage", "--universe", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown universe 'nope'") and err.count("\n") == 1


def test_bad_path_exit_2_subprocess():
    r = subprocess.run([sys.executable, "-m", "feeds", "coverage", "--universe", "etf",
                        "--source", "files", "--path", "/no/such/dir"], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.startswith("error: ") and "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1


def test_universes_and_coverage(capsys):
    assert main(["universes"]) == 0
    out = capsys.readouterr().out
    assert "paper" in out and "composite" in out
    assert main(["coverage", "--universe", "etf", "--start", "2024-01-01"]) == 0
    out = capsys.readouterr().out
    assert "SHY" in out and "gaps" in out


def test_download_offline_exit_2(tmp_path, monkeypatch, capsys):
    import pandas as pd
    import yfinance
    monkeypatch.setattr(yfinance, "download", lambda *a, **k: pd.DataFrame())
    assert main(["download", "--universe", "etf", "--cache-dir", str(tmp_path)]) == 2
    assert "error:" in capsys.readouterr().err


def test_coverage_user_file_with_classes(tmp_path, capsys):
    f = tmp_path / "w.csv"
    f.write_text("date,AAA,ZZZ\n2024-01-02,1,2\n2024-01-12,1.1,2.1\n")
    assert main(["coverage", "--universe", "AAA,ZZZ", "--source", "files", "--path", str(f),
                 "--asset-classes", "ZZZ=bond", "--end", "2031-01-01"]) == 0
    out = capsys.readouterr().out
    assert "bond" in out and "other" in out and "2024-01-05..2024-01-12" in out
    assert main(["coverage", "--universe", "AAA", "--asset-classes", "AAA"]) == 2
    assert "TICKER=CLASS" in capsys.readouterr().err
