"""The one progress bar of the kit, for long loops run from notebooks.

Plain text (no widgets), written to stdout, with no rates or clock times in it, so a
re-executed notebook shows the same output and GitHub renders it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from tqdm import tqdm

_BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar:30}| {n_fmt}/{total_fmt}"


def progress(iterable: Iterable, enabled: bool, desc: str = "", total: int | None = None):
    """Wrap ``iterable`` in a progress bar when ``enabled``; otherwise return it unchanged."""
    if not enabled:
        return iterable
    return tqdm(
        iterable,
        desc=desc,
        total=total,
        file=sys.stdout,
        bar_format=_BAR_FORMAT,
        ascii=True,
        mininterval=0.5,
    )
