"""Bad CLI input fails fast: one ``error:`` line on stderr, exit code 2, nothing written.

Every case runs ``strategies.run.main(argv)`` in-process. :func:`strategies.pipeline.cli.validate_args`
runs before any data is loaded or model trained, so each case takes milliseconds; nothing is
patched. Each case also checks that nothing was written: the ``--out`` path is never created,
the ``--bundle-dir`` folder and the user cache (``XDG_CACHE_HOME``) stay empty, and no file
appears anywhere in the case's temporary folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from strategies import run as cli
from strategies.pipeline.cli import validate_args

REPO = Path(__file__).resolve().parents[2]
S1 = ["--strategy", "equal_weight"]             # System 1, nothing to train
S2 = ["--strategy", "alpha_equal", "--tickers", "AAPL"]  # System 2, nothing to train

# (id, argv, words expected in the error line). Placeholders: {tmp} the case's folder,
# {file} an existing file, {dir} an existing empty folder, {data} a folder holding AAPL.csv.
CASES = [
    # dates
    ("start-not-a-date", S1 + ["--start", "notadate"], ["--start", "not a date"]),
    ("end-not-a-date", S1 + ["--end", "2020-13-45"], ["--end", "not a date"]),
    ("start-empty", S1 + ["--start", ""], ["--start", "not a date"]),
    ("start-with-timezone", S1 + ["--start", "2019-01-01T00:00+05:00"], ["not a date"]),
    ("start-after-end", S1 + ["--start", "2023-01-01", "--end", "2020-01-01"],
     ["--start 2023-01-01", "not before", "--end 2020-01-01"]),
    ("start-equals-end", S2 + ["--start", "2020-01-01", "--end", "2020-01-01"], ["not before"]),
    ("start-in-future", S1 + ["--start", "2099-01-01", "--end", "2099-12-31"],
     ["--start 2099-01-01", "future"]),
    ("end-in-future", S1 + ["--end", "2099-01-01"], ["--end 2099-01-01", "future"]),
    ("end-after-packaged-data", S1 + ["--universe", "AAPL,MSFT", "--end", "2025-06-01"],
     ["--end 2025-06-01"]),
    ("window-too-short-system1", S1 + ["--start", "2020-01-01", "--end", "2020-06-01"],
     ["60 weeks", "widen"]),
    ("window-before-ticker-data", S2[:2] + ["--tickers", "TON-USD", "--start", "2016-02-01",
                                            "--end", "2018-01-01"], ["TON-USD", "prices from"]),
    # numbers
    ("seed-negative", S1 + ["--seed", "-1"], ["--seed", "2**32"]),
    ("seed-too-large", S1 + ["--seed", str(2**32)], ["--seed"]),
    ("seed-plus-seeds-overflow", ["--strategy", "alpha_ppo", "--tickers", "AAPL", "--seed",
                                  str(2**32 - 1), "--seeds", "3"], ["--seed", "2**32"]),
    ("seed-not-int", S1 + ["--seed", "abc"], ["--seed", "invalid int"]),
    ("jobs-zero", S2 + ["--jobs", "0"], ["--jobs", "at least 1"]),
    ("jobs-minus-three", S2 + ["--jobs", "-3"], ["--jobs", "-1 for all cores"]),
    ("tc-negative", S1 + ["--tc", "-0.01"], ["--tc", "[0, 0.1)"]),
    ("tc-huge", S1 + ["--tc", "0.5"], ["--tc"]),
    ("tc-nan", S1 + ["--tc", "nan"], ["--tc", "nan"]),
    ("train-frac-zero", S1 + ["--train-frac", "0"], ["--train-frac", "between 0 and 1"]),
    ("train-frac-above-one", S1 + ["--train-frac", "1.5"], ["--train-frac"]),
    ("train-frac-nan", S1 + ["--train-frac", "nan"], ["--train-frac"]),
    ("timesteps-zero", ["--strategy", "ppo_top5", "--timesteps", "0"], ["--timesteps"]),
    ("timesteps-negative", ["--strategy", "alpha_ppo", "--timesteps", "-5"], ["--timesteps"]),
    ("seeds-zero", ["--strategy", "alpha_ppo", "--seeds", "0"], ["--seeds", "at least 1"]),
    # tickers and universes
    ("tickers-path-escape", ["--strategy", "alpha_equal", "--tickers", "../../X"],
     ["--tickers", "bad ticker", "../../x"]),
    ("tickers-with-space", ["--strategy", "alpha_equal", "--tickers", "AA PL"],
     ["bad ticker"]),
    ("tickers-empty", ["--strategy", "alpha_equal", "--tickers", ""], ["--tickers", "empty"]),
    ("tickers-only-commas", ["--strategy", "alpha_equal", "--tickers", ",,"], ["empty"]),
    ("tickers-unknown", ["--strategy", "alpha_equal", "--tickers", "AAPL,NOPE_XYZ"],
     ["nope_xyz", "packaged"]),
    ("tickers-lower-case", ["--strategy", "alpha_equal", "--tickers", "aapl"],
     ["did you mean aapl"]),
    ("universe-single-unknown-ticker", S1 + ["--universe", "EFA"],
     ["--universe efa", "neither a universe preset", "packaged ticker"]),
    ("universe-typo-of-preset", S1 + ["--universe", "papr"], ["papr", "paper"]),
    ("universe-empty-item-unknown", S1 + ["--universe", "AAPL,,NOPE_XYZ"], ["nope_xyz"]),
    ("universe-only-comma", S1 + ["--universe", ","], ["universe", "empty"]),
    ("universe-empty", S1 + ["--universe", ""], ["universe", "empty"]),
    ("universe-duplicate", S1 + ["--universe", "AAPL,MSFT,AAPL"], ["aapl", "more than once"]),
    ("universe-path-escape", S1 + ["--universe", "../../X,AAPL"], ["--universe", "bad ticker"]),
    ("k-larger-than-universe", ["--strategy", "hybrid_top5", "--universe", "AAPL"],
     ["k=5", "1 asset", "smaller k"]),
    ("all-with-small-universe", ["--strategy", "all", "--universe", "crypto"],
     ["k=30", "--universe crypto"]),
    # presets and options of the other system
    ("strategy-unknown", ["--strategy", "nope"], ["unknown strategy", "nope", "--list"]),
    ("walk-forward-too-often", ["--strategy", "hybrid_top5", "--walk-forward", "2"],
     ["--walk-forward 2", "4 weeks or more"]),
    ("walk-forward-weeks-on-system2", ["--strategy", "alpha_ppo", "--walk-forward", "26"],
     ["--walk-forward", "fixed windows", "without a number"]),
    ("walk-forward-without-model", S1 + ["--walk-forward"], ["--walk-forward", "trains no model"]),
    ("walk-forward-mode-alone", ["--strategy", "hybrid_top5", "--walk-forward-mode", "rolling"],
     ["--walk-forward-mode", "only with --walk-forward"]),
    ("walk-forward-mode-on-system2", ["--strategy", "alpha_ppo", "--walk-forward",
                                      "--walk-forward-mode", "rolling"],
     ["--walk-forward-mode", "system 1"]),
    ("ensemble-one-seed", ["--strategy", "hybrid_top5", "--ensemble"],
     ["--ensemble", "--seeds n"]),
    ("ensemble-without-model", S1 + ["--seeds", "3", "--ensemble"], ["--seeds", "ignored"]),
    ("ensemble-on-system2", ["--strategy", "alpha_ppo", "--ensemble"], ["--ensemble", "system 1"]),
    ("seeds-not-a-number", ["--strategy", "hybrid_top5", "--seeds", "ten"],
     ["--seeds", "count", "range"]),
    ("seeds-repeated", ["--strategy", "hybrid_top5", "--seeds", "1,1"], ["--seeds", "distinct"]),
    ("seeds-gap-on-system2", ["--strategy", "alpha_ppo", "--seeds", "0,5"],
     ["--seeds", "consecutive"]),
    ("tickers-on-system1", S1 + ["--tickers", "AAPL"], ["--tickers", "system 2"]),
    ("jobs-on-system1", S1 + ["--jobs", "2"], ["--jobs", "system 2"]),
    ("quick-on-system1", ["--strategy", "all", "--quick"], ["--quick", "system 2"]),
    ("universe-on-system2", ["--strategy", "alpha_ppo", "--universe", "paper"],
     ["--universe", "system 1", "--tickers"]),
    ("timesteps-without-ppo", S1 + ["--timesteps", "1000"], ["--timesteps", "ignored"]),
    ("seeds-deterministic", S2 + ["--seeds", "3"], ["--seeds", "ignored", "deterministic"]),
    ("alphas-without-alphas", ["--strategy", "buy_hold", "--alphas", "{file}"],
     ["--alphas", "ignored"]),
    # files and folders
    ("alphas-missing", ["--strategy", "alpha_ppo", "--alphas", "{tmp}/none.txt"],
     ["--alphas", "no such file"]),
    ("alphas-is-folder", ["--strategy", "alpha_ppo", "--alphas", "{dir}"],
     ["--alphas", "is a folder"]),
    ("data-missing", S1 + ["--data", "{tmp}/nowhere"], ["--data", "no such"]),
    ("data-empty", S1 + ["--data", ""], ["--data", "empty"]),
    ("data-folder-lacks-ticker", S1 + ["--data", "{data}", "--universe", "AAPL,MSFT"],
     ["msft", "1 of the 2", "--universe aapl,msft"]),
    ("data-folder-default-universe", S1 + ["--data", "{data}"], ["--universe paper", "googl"]),
    ("source-files-without-data", S1 + ["--source", "files"], ["--source files", "--data"]),
    ("source-yfinance-with-data", S1 + ["--source", "yfinance", "--data", "{data}"],
     ["--data", "only read with --source files"]),
    ("source-packaged-with-data", S1 + ["--source", "packaged", "--data", "{data}"],
     ["--source packaged"]),
    ("source-unknown", S1 + ["--source", "bogus"], ["--source", "invalid choice"]),
    ("option-unknown", S1 + ["--bogus"], ["unrecognized", "--bogus", "--help"]),
    ("out-is-a-file", S1 + ["--out", "{file}"], ["--out", "is a file"]),
    ("out-under-a-file", S1 + ["--out", "{file}/sub"], ["--out", "cannot be created"]),
    ("out-unwritable-proc", S1 + ["--out", "/proc/x"], ["--out", "cannot write"]),
    ("out-empty", S1 + ["--out", ""], ["--out", "empty"]),
    ("out-nul-byte", S1 + ["--out", "a\x00b"], ["--out", "not a usable path"]),
    ("bundle-dir-is-a-file", ["--strategy", "ppo_top5", "--bundle-dir", "{file}"],
     ["--bundle-dir", "is a file"]),
    ("bundle-dir-unwritable", ["--strategy", "alpha_ppo", "--bundle-dir", "/proc/x/y"],
     ["--bundle-dir", "cannot write"]),
]


@pytest.fixture
def place(tmp_path, monkeypatch):
    """The case's folder with its fixtures; the user cache moved into it (and kept empty)."""
    (tmp_path / "afile.txt").write_text("not a folder\n")
    (tmp_path / "adir").mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "AAPL.csv").write_text("Date,Close\n2020-01-02,75.1\n")
    (tmp_path / "bundles").mkdir()
    (tmp_path / "cache").mkdir()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


def _argv(case_argv: list[str], tmp: Path) -> list[str]:
    subs = {"{tmp}": str(tmp), "{file}": str(tmp / "afile.txt"), "{dir}": str(tmp / "adir"),
            "{data}": str(tmp / "data")}
    out = []
    for arg in case_argv:
        for k, v in subs.items():
            arg = arg.replace(k, v)
        out.append(arg)
    # the case's own --out/--bundle-dir come later and win (argparse keeps the last one)
    return ["--out", str(tmp / "out"), "--bundle-dir", str(tmp / "bundles"), "--no-progress",
            *out]


def _snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _check_nothing_written(tmp: Path, before: set[str]) -> None:
    assert not (tmp / "out").exists(), "--out was created"
    assert list((tmp / "bundles").iterdir()) == [], "something was written to --bundle-dir"
    assert list((tmp / "cache").iterdir()) == [], "something was written to the user cache"
    assert _snapshot(tmp) == before, "files appeared or vanished"


def _check_one_error_line(err: str, words: list[str]) -> str:
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    assert len(err.strip().splitlines()) == 1, f"more than the error line on stderr:\n{err}"
    for w in words:
        assert w.lower() in lines[0].lower(), f"{w!r} not in {lines[0]!r}"
    return lines[0]


def test_at_least_forty_cases():
    assert len(CASES) >= 40
    assert len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("argv,words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_fails_fast_with_one_line(argv, words, place, capsys):
    before = _snapshot(place)
    rc = cli.main(_argv(argv, place))
    err = capsys.readouterr().err
    assert rc == 2, err
    _check_one_error_line(err, words)
    _check_nothing_written(place, before)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="needs POSIX permissions and a non-root user (root writes anywhere)")
def test_read_only_out_folder(place, capsys):
    ro = place / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        before = _snapshot(place)
        rc = cli.main(_argv(S1 + ["--out", str(ro / "results")], place))
        assert rc == 2
        _check_one_error_line(capsys.readouterr().err, ["--out", "cannot write"])
        assert _snapshot(place) == before
    finally:
        ro.chmod(0o755)


SUBPROCESS_CASES = ["start-not-a-date", "out-unwritable-proc", "jobs-zero"]


@pytest.mark.parametrize("case_id", SUBPROCESS_CASES)
def test_bad_input_as_a_real_process(case_id, place):
    """``python -m strategies.run``: exit code 2, one error line, no traceback, torch untouched."""
    argv, words = next(c[1:] for c in CASES if c[0] == case_id)
    env = {**os.environ, "XDG_CACHE_HOME": str(place / "cache"), "PYTHONPATH": str(REPO)}
    before = _snapshot(place)
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "strategies.run",
                           *_argv(argv, place)], check=False, cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    imports = [line for line in proc.stderr.splitlines() if line.startswith("import time:")]
    rest = "\n".join(line for line in proc.stderr.splitlines()
                     if not line.startswith("import time:"))
    _check_one_error_line(rest, words)
    loaded = {line.rsplit("|", 1)[-1].strip() for line in imports}
    for heavy in ("torch", "stable_baselines3", "gymnasium", "quantstats"):
        assert heavy not in loaded, f"{heavy} was imported before the input was validated"
    _check_nothing_written(place, before)


# ----------------------------------------------------------------------------- good input
GOOD = [
    ("default", []),
    ("system1-all", ["--strategy", "all", "--timesteps", "1000", "--seed", "7"]),
    ("universe-with-empty-item", ["--strategy", "equal_weight", "--universe", "AAPL,,MSFT"]),
    ("universe-single-ticker", ["--strategy", "equal_weight", "--universe", "AAPL"]),
    ("universe-ticker-on-yfinance", ["--strategy", "equal_weight", "--universe", "EFA",
                                     "--source", "yfinance"]),
    ("data-folder", ["--strategy", "equal_weight", "--universe", "AAPL", "--data", "{data}",
                     "--start", "2019-01-01", "--end", "2021-01-01"]),
    ("system2-quick", ["--strategy", "alpha_ppo", "--tickers", "AAPL,PEP", "--quick",
                       "--jobs", "-1", "--seeds", "2", "--walk-forward"]),
    ("system2-all-default-tickers", ["--strategy", "all_alpha", "--jobs", "2"]),
    ("out-existing-folder", ["--strategy", "equal_weight", "--out", "{dir}"]),
    ("seed-at-the-limit", ["--strategy", "equal_weight", "--seed", str(2**32 - 1)]),
]


@pytest.mark.parametrize("argv", [g[1] for g in GOOD], ids=[g[0] for g in GOOD])
def test_valid_input_passes_validation_and_writes_nothing(argv, place):
    before = _snapshot(place)
    a = cli.build_parser().parse_args(_argv(argv, place))
    presets = validate_args(a)
    assert presets and all(p.system == presets[0].system for p in presets)
    assert _snapshot(place) == before  # the writability probes leave nothing behind
    assert not (place / "out").exists()


def test_default_bundle_folder_is_probed_without_writing(place):
    a = cli.build_parser().parse_args(["--strategy", "ppo_top5", "--out", str(place / "out")])
    validate_args(a)  # the bundle folder is the (relocated) user cache
    assert list((place / "cache").iterdir()) == []


def test_minus_one_jobs_means_all_cores():
    from strategies.pipeline.cli import config_from_args
    a = cli.build_parser().parse_args(["--strategy", "alpha_ppo", "--jobs", "-1"])
    assert config_from_args(a).jobs is None


def test_list_and_help_exit_0(capsys):
    assert cli.main(["--list"]) == 0
    assert "hybrid_top5" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    assert "--universe" in capsys.readouterr().out
