"""Safe ticker names and safe paths built from user input.

A ticker given by a user (``--tickers``, a universe list, a benchmark override) ends up in file
names: the per-ticker CSV looked up in ``--path`` and the yfinance cache file. Before any path is
touched it goes through :func:`validate_ticker`, and every path built from user input goes
through :func:`safe_join`, which refuses a result that leaves its root folder (after resolving
``..`` and symlinks). ``--tickers ../../X`` therefore fails with one line instead of reading a
file outside ``--path``.
"""

from __future__ import annotations

import re
from pathlib import Path

from feeds.errors import DataError

TICKER_MAX = 32
"""Longest ticker accepted (Yahoo's longest symbols are well under this)."""

_TICKER = re.compile(r"[A-Za-z0-9^=_][A-Za-z0-9.\-^=_]*")

TICKER_RULE = ("1-32 characters from letters, digits and . - ^ = _, not starting with . or -, "
               "without '..'")
"""The rule, as written in error messages."""


def _shown(name) -> str:
    """``repr`` of a (possibly huge or multi-line) name, cut short: error messages stay 1 line."""
    text = repr(name)
    return text if len(text) <= 60 else text[:57] + "..."


def validate_ticker(name: str) -> str:
    """Return ``name`` unchanged if it is a safe ticker, else raise :class:`DataError`.

    Safe: 1-32 characters from letters, digits and ``. - ^ = _`` (``AAPL``, ``BRK-B``,
    ``BBCA.JK``, ``^TNX``, ``EURUSD=X``, ``0700.HK``), not starting with ``.`` or ``-``, no
    ``..``. So no path separator, NUL, whitespace or ``..`` can reach a file name.

    Raises:
        DataError: one line naming the bad name and what is allowed.
    """
    if not isinstance(name, str):
        raise DataError(f"bad ticker {_shown(name)}: a ticker must be a string of {TICKER_RULE}")
    if not (0 < len(name) <= TICKER_MAX and _TICKER.fullmatch(name) and ".." not in name):
        raise DataError(f"bad ticker {_shown(name)}: use {TICKER_RULE} (e.g. AAPL, BBCA.JK, "
                        f"^TNX, BTC-USD)")
    return name


def safe_join(root, *parts) -> Path:
    """``root / parts...`` resolved (``..`` and symlinks followed), which must stay in ``root``.

    Returns the resolved path (it need not exist). ``root`` is resolved too, so a root that is
    itself a symlink is fine.

    Raises:
        DataError: the result escapes ``root`` (an absolute part, ``..``, or a symlink that points
            outside), or a part is not a string/path.
    """
    base = Path(root).expanduser().resolve()
    for part in parts:
        if not isinstance(part, (str, Path)) or "\x00" in str(part):
            raise DataError(f"bad path part {_shown(part)} under {base}; use plain file names")
    target = base.joinpath(*parts).resolve()
    if target != base and base not in target.parents:
        shown = "/".join(str(p) for p in parts)
        raise DataError(f"path {_shown(shown)} leads outside {base} (to {target}); only files "
                        f"inside that folder are read: move the file there instead of linking it")
    return target


__all__ = ["TICKER_MAX", "TICKER_RULE", "safe_join", "validate_ticker"]
