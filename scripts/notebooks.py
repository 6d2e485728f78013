"""Find, execute and inspect the kit's notebooks: the one place that runs them.

    python scripts/notebooks.py                 execute every notebook in place (make notebooks)
    python scripts/notebooks.py notebooks/01*   execute the given notebooks in place

Tests, the book build and the learner edition import this module, so every notebook is
executed the same way: its own folder as working directory, the kit's kernel, timings
not recorded (re-running a notebook changes only what really changed).

Executing here also switches on the prose-number checks (``helpers.claims``): every
``claim(...)`` is recorded, a mismatch stops the notebook with ``ClaimMismatchError``, and a
claim that never ran is an error too. What was checked is stored in the notebook's
metadata (``metadata["kit"]["claims"]``), never in its outputs.
"""

from __future__ import annotations

import ast
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_FOLDERS = ("notebooks", "casestudies")
#: Seconds one cell may run before the execution is stopped as hung.
CELL_TIMEOUT = 600
#: Keys every notebook's ``metadata["kit"]`` must hold (the instructor guide reads them).
KIT_METADATA_KEYS = (
    "title",
    "objectives",
    "teaching_minutes",
    "exercise_minutes",
    "budget_seconds",
)
#: Text that must never appear in committed outputs: machine paths.
MACHINE_PATH = re.compile(r"(/work/|/root/|/home/[a-z]|/Users/|/tmp/|site-packages|[A-Z]:\\\\)")


def find_notebooks(root: Path = ROOT) -> list[Path]:
    """Every notebook of the kit in course order: notebooks/ first, then casestudies/."""
    found = []
    for folder in NOTEBOOK_FOLDERS:
        found += sorted(p for p in (root / folder).glob("[0-9][0-9]_*.ipynb"))
    return found


class ClaimsNotChecked(AssertionError):
    """A notebook's ``claim(...)`` calls did not all run (a branch or loop skipped them)."""


def execute(path: Path, cell_timeout: int = CELL_TIMEOUT) -> tuple[nbformat.NotebookNode, float]:
    """Execute a notebook top to bottom; return (executed notebook, seconds). Never writes.

    The prose-number claims are checked (see the module docstring); the executed notebook's
    ``metadata["kit"]["claims"]`` lists every claim that ran, with its stated value.
    """
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=cell_timeout,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "claims.jsonl"
        log.touch()
        start = time.perf_counter()
        client.execute(env={**os.environ, "KIT_CLAIMS_LOG": str(log)})
        seconds = time.perf_counter() - start
        records = [json.loads(line) for line in log.read_text().splitlines() if line]
    checked = list(
        {r["what"]: {"what": r["what"], "stated": r["stated"]} for r in records}.values()
    )
    notebook.metadata.setdefault("kit", {})["claims"] = checked
    missing = claims_not_checked(notebook)
    if missing:
        raise ClaimsNotChecked(f"{path.name}: these claims never ran: {missing}")
    return notebook, seconds


def execute_in_place(path: Path) -> float:
    """Execute a notebook and save it with its outputs (the committed, instructor version)."""
    notebook, seconds = execute(path)
    nbformat.write(notebook, path)
    return seconds


def code_cells(notebook) -> list:
    return [c for c in notebook.cells if c.cell_type == "code"]


def _description(node) -> str:
    """A claim's description: the string, or an f-string's fixed text before its first field."""
    if isinstance(node, ast.JoinedStr):
        prefix = ""
        for part in node.values:
            if not isinstance(part, ast.Constant):
                break
            prefix += str(part.value)
        return prefix
    return ast.literal_eval(node)


def claim_descriptions(notebook) -> list[str]:
    """The description of every ``claim(...)`` call in the notebook's code, in order."""
    return [
        _description(node.args[0])
        for cell in code_cells(notebook)
        for node in ast.walk(ast.parse(cell.source))
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "claim"
    ]


def claim_calls(notebook) -> list[tuple[str, object]]:
    """(description, stated value) of every ``claim(...)`` call in the notebook's code.

    A stated value given by a name (e.g. ``EPSILON``) is a parameter, not prose: None.
    """
    found = []
    for cell in code_cells(notebook):
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "claim":
                try:
                    stated = ast.literal_eval(node.args[2])
                except ValueError:
                    stated = None
                found.append((_description(node.args[0]), stated))
    return found


def claims_not_checked(notebook) -> list[str]:
    """Descriptions of claims in the code that the last execution did not record as checked.

    A claim whose description is built at run time (an f-string) is matched by its fixed
    text before the first placeholder.
    """
    checked = [c["what"] for c in notebook.metadata.get("kit", {}).get("claims", [])]
    return [
        what
        for what in claim_descriptions(notebook)
        if not any(c.startswith(what) for c in checked)
    ]


def problems(notebook) -> list[str]:
    """What is wrong with a committed notebook: order, errors, stderr, machine paths, metadata."""
    found = []
    kit = notebook.metadata.get("kit", {})
    missing = [k for k in KIT_METADATA_KEYS if k not in kit]
    if missing:
        found.append(f"metadata['kit'] lacks {missing}")
    expected = 1
    for index, cell in enumerate(code_cells(notebook)):
        if not cell.source.strip():
            continue
        if cell.execution_count != expected:
            found.append(
                f"code cell {index} has execution_count {cell.execution_count}, expected {expected} "
                "(run `make notebooks` to execute it top to bottom)"
            )
            break
        expected += 1
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                found.append(f"code cell {index} has an error output: {output.ename}")
            if output.output_type == "stream" and output.name == "stderr":
                found.append(f"code cell {index} writes to stderr: {output.text[:120]!r}")
            text = json.dumps(output)  # every field of the output, as text
            match = MACHINE_PATH.search(text)
            if match:
                found.append(f"code cell {index} output holds a machine path: {match.group(0)!r}")
    return found


def main(argv: list[str]) -> int:
    paths = [Path(a).resolve() for a in argv] or find_notebooks()
    for path in paths:
        seconds = execute_in_place(path)
        print(f"{seconds:7.1f} s  {path.relative_to(ROOT)}")
        for problem in problems(nbformat.read(path, as_version=4)):
            print(f"          problem: {problem}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
