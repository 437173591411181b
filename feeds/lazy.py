"""Lazy package exports: public names importable from a package, loaded on first use.

One helper for every package of the plugin (``feeds``, ``models.common``, ``models.portfolio``,
``strategies``), so ``import strategies`` or ``python -m strategies.run --list`` does not import
pandas, torch, stable-baselines3 or Backtrader until a name that needs them is used. It lives in
``feeds`` (the bottom layer, which every other package may import) and imports nothing heavy::

    from feeds.lazy import lazy_exports

    __getattr__, __dir__, __all__ = lazy_exports(__name__, {
        "strategies.engine": ("TargetWeightStrategy", "CashCappedFiller"),
    })

The first ``getattr`` of a name imports its module and stores the value in the package, so later
uses are ordinary attribute lookups.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, Callable, Mapping, Sequence

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: Mapping[str, Sequence[str]]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``(__getattr__, __dir__, __all__)`` for ``package`` exporting ``{module: names}``.

    A name listed under two modules is a bug and raises ``ValueError`` at import.
    """
    where: dict[str, str] = {}
    for module, names in exports.items():
        for name in names:
            if name in where:
                raise ValueError(f"{package}: {name!r} exported by both {where[name]} and "
                                 f"{module}")
            where[name] = module

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(where))

    return __getattr__, __dir__, sorted(where)
