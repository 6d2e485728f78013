"""The one progress bar of the kit, for long loops run from notebooks.

In a Jupyter kernel the bar is ONE display that is updated in place, so a saved notebook
(the committed outputs, the book) keeps only its last state: one finished line per loop.
Outside Jupyter (a terminal, a benchmark script) it is a plain text bar on stderr. No rates
or clock times appear in it, so a re-executed notebook shows the same output.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable

_WIDTH = 30
#: Seconds between two redraws: fewer messages to the browser, no flicker.
_REDRAW_SECONDS = 0.5


def _line(desc: str, done: int, total: int | None) -> str:
    if not total:
        return f"{desc}: {done}"
    filled = int(_WIDTH * done / total)
    percent = int(100 * done / total)
    return f"{desc}: {percent:3d}%|{'#' * filled}{' ' * (_WIDTH - filled)}| {done}/{total}"


def _in_kernel() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    ip = shell.get_ipython()
    return ip is not None and getattr(ip, "kernel", None) is not None


class _Bar:
    def __init__(self, iterable: Iterable, desc: str, total: int | None):
        self.iterable = iterable
        self.desc = desc
        if total is None and hasattr(iterable, "__len__"):
            total = len(iterable)
        self.total = total

    def __len__(self) -> int:
        return len(self.iterable)

    def __iter__(self):
        show = self._display()
        done, last = 0, 0.0
        show(_line(self.desc, done, self.total), final=False)
        for item in self.iterable:
            yield item
            done += 1
            now = time.monotonic()
            if now - last >= _REDRAW_SECONDS:
                show(_line(self.desc, done, self.total), final=False)
                last = now
        show(_line(self.desc, done, self.total), final=True)

    def _display(self):
        if _in_kernel():
            from IPython.display import display

            handle = display({"text/plain": ""}, raw=True, display_id=True)

            def show(text: str, final: bool) -> None:
                handle.update({"text/plain": text}, raw=True)

            return show

        def show(text: str, final: bool) -> None:
            sys.stderr.write("\r" + text + ("\n" if final else ""))
            sys.stderr.flush()

        return show


def progress(iterable: Iterable, enabled: bool, desc: str = "", total: int | None = None):
    """Wrap ``iterable`` in a progress bar when ``enabled``; otherwise return it unchanged."""
    if not enabled:
        return iterable
    return _Bar(iterable, desc, total)
