"""Execute every notebook and case study from scratch; print seconds and peak memory per notebook.

    python benchmarks/notebooks.py [notebooks/01*.ipynb ...]

Each notebook runs in its own fresh process (the kit's runner, ``scripts/notebooks.py``), so
its kernel is that process's only child: the kernel's peak resident memory is the child's
``ru_maxrss`` once the kernel has exited (``resource.getrusage(RUSAGE_CHILDREN)``), measured
by the operating system, not sampled. The budgets: seconds from the notebook's
metadata["kit"]["budget_seconds"] (the limit its issue set) and ``MEMORY_BUDGET_MB`` of peak
kernel memory for every notebook. Timings are from one run on one machine (a loaded machine
is slower); peak memory barely depends on the machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import notebooks as nb  # noqa: E402

#: Peak resident memory one notebook's kernel may use (issue 12: 500 MB per notebook).
MEMORY_BUDGET_MB = 500

# Run in a child process: execute one notebook, then report seconds and the kernel's peak RSS.
_MEASURE = """
import json, resource, sys
sys.path.insert(0, sys.argv[1])
import notebooks
_, seconds = notebooks.execute(__import__("pathlib").Path(sys.argv[2]))
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # Linux: kilobytes
print(json.dumps({"seconds": seconds, "peak_mb": peak_kb / 1024}))
"""


def measure(path: Path) -> dict:
    """Seconds and the kernel's peak resident memory (MB) for one fresh execution."""
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(ROOT / "scripts"), str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return {"seconds": float("nan"), "peak_mb": float("nan"), "error": done.stderr[-300:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> int:
    paths = [Path(a).resolve() for a in argv] or nb.find_notebooks()
    header = f"{'notebook':52} {'seconds':>8} {'budget':>7} {'peak MB':>8} {'budget':>7}  within"
    print(header)
    over = failed = 0
    for path in paths:
        budget = nbformat.read(path, as_version=4).metadata.get("kit", {}).get("budget_seconds")
        result = measure(path)
        name = f"{path.parent.name}/{path.name}"
        if "error" in result:
            failed += 1
            print(
                f"{name:52} {'failed':>8} {'':>7} {'':>8} {'':>7}  {result['error'].strip()[-90:]!r}"
            )
            continue
        in_time = budget is None or result["seconds"] <= budget
        in_memory = result["peak_mb"] <= MEMORY_BUDGET_MB
        within = "yes" if in_time and in_memory else "NO"
        over += within == "NO"
        print(
            f"{name:52} {result['seconds']:8.1f} {budget if budget is not None else '-':>7} "
            f"{result['peak_mb']:8.0f} {MEMORY_BUDGET_MB:>7}  {within}"
        )
    ran = len(paths) - failed
    print(
        f"{ran - over} of {ran} executed notebooks within both budgets"
        + (f"; {failed} failed to execute" if failed else "")
        + " (one run, one machine)"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
