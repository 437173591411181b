"""Torch thread handling, set deliberately per phase.

The networks here are tiny (64x64 MLPs, a 64-unit LSTM): extra intra-op threads only contend,
and on a busy machine a 2-thread tiny ``bmm`` is ~60x slower than a 1-thread one. Training and
inference set the count for their own duration and restore it after.
"""

from __future__ import annotations

import contextlib
from typing import Iterator


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Temporarily set torch's intra-op thread count (``None`` leaves it as it is)."""
    if n is None:
        yield
        return
    import torch
    old = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(old)
