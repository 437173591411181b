"""Lazy imports: ``--list`` and ``--help`` and the package imports stay light.

What is imported is checked in a fresh interpreter (``sys.modules``), never timed: the CPU
figures are in ``benchmarks/bench_ratios.py`` (row ``cli``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

from feeds.lazy import lazy_exports

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "stable_baselines3", "quantstats", "backtrader", "pandas", "matplotlib",
         "scipy", "yfinance")


def _loaded_after(code: str) -> set[str]:
    probe = (f"{code}\nimport json, sys\n"
             f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


def test_list_and_help_import_nothing_heavy():
    code = ("import contextlib, io\nfrom strategies.run import build_parser, main\n"
            "with contextlib.redirect_stdout(io.StringIO()) as f:\n"
            "    assert main(['--list']) == 0\n"
            "assert 'hybrid_top5' in f.getvalue()\n"
            "assert '--strategy' in build_parser().format_help()")
    loaded = _loaded_after(code)
    assert not loaded & {*HEAVY, "numpy", "gymnasium"}, loaded & {*HEAVY, "numpy", "gymnasium"}


def test_package_imports_do_not_pull_torch_pandas_or_backtrader():
    loaded = _loaded_after("import strategies, feeds, analyzers, models, models.common, "
                           "models.portfolio, models.alpha, strategies.run")
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_a_name_is_imported_on_first_use_and_kept():
    loaded = _loaded_after("import strategies\nstrategies.EqualWeight\n"
                           "assert 'EqualWeight' in vars(strategies)")
    assert "backtrader" in loaded  # the strategy really was imported


def test_lazy_exports_contract(monkeypatch):
    pkg = types.ModuleType("fakepkg")
    monkeypatch.setitem(sys.modules, "fakepkg", pkg)
    pkg.__getattr__, pkg.__dir__, pkg.__all__ = lazy_exports(
        "fakepkg", {"json": ("dumps", "loads"), "math": ("sqrt",)})
    assert pkg.__all__ == ["dumps", "loads", "sqrt"]
    assert "sqrt" in dir(pkg) and "sqrt" not in vars(pkg)
    assert pkg.sqrt(9.0) == 3.0
    assert vars(pkg)["sqrt"] is __import__("math").sqrt  # cached: later lookups are plain
    with pytest.raises(AttributeError, match="fakepkg.*'nope'"):
        pkg.nope  # noqa: B018
    with pytest.raises(ValueError, match="exported by both"):
        lazy_exports("fakepkg", {"json": ("dumps",), "pickle": ("dumps",)})
