"""Execute every notebook and case study from scratch; print seconds against each one's budget.

    python benchmarks/notebooks.py [notebooks/01*.ipynb ...]

The budget is the notebook's metadata["kit"]["budget_seconds"] (the limit its issue set).
Timings are from one run on one machine; a loaded machine is slower.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import notebooks as nb  # noqa: E402


def main(argv: list[str]) -> int:
    paths = [Path(a).resolve() for a in argv] or nb.find_notebooks()
    print(f"{'notebook':52} {'seconds':>8} {'budget':>7}  within")
    over = 0
    for path in paths:
        budget = nbformat.read(path, as_version=4).metadata.get("kit", {}).get("budget_seconds")
        _, seconds = nb.execute(path)
        within = "yes" if budget is None or seconds <= budget else "NO"
        over += within == "NO"
        name = f"{path.parent.name}/{path.name}"
        print(f"{name:52} {seconds:8.1f} {budget if budget is not None else '-':>7}  {within}")
    print(f"{len(paths) - over} of {len(paths)} within budget (one run, one machine)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
