"""Find, execute and inspect the kit's notebooks: the one place that runs them.

    python scripts/notebooks.py                 execute every notebook in place (make notebooks)
    python scripts/notebooks.py notebooks/01*   execute the given notebooks in place
    python scripts/notebooks.py --measure       execute every notebook without saving it,
                                                only to record the run times (docs/timings.json)

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
import html
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
#: The kit's record of its last measured execution: seconds per notebook (the instructor
#: guide's run times), written by `make notebooks` and an executing `make book`.
TIMINGS = "docs/timings.json"
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


def read_timings(root: Path = ROOT) -> dict:
    """The kit's timing record: {"measured": date, "cpu_count": n, "seconds": {rel: s}}."""
    path = root / TIMINGS
    return json.loads(path.read_text()) if path.is_file() else {}


def record_timings(seconds: dict[str, float], root: Path = ROOT) -> dict:
    """Merge measured ``{notebook rel path: seconds}`` into the kit's timing record."""
    record = read_timings(root)
    record["seconds"] = {
        **record.get("seconds", {}),
        **{rel: round(float(value), 1) for rel, value in seconds.items()},
    }
    record["seconds"] = dict(sorted(record["seconds"].items()))
    record["measured"] = time.strftime("%Y-%m-%d")
    record["cpu_count"] = os.cpu_count()
    # A busy machine runs notebooks slower: say how busy it was (1-minute load average).
    record["load_average"] = round(os.getloadavg()[0], 1) if hasattr(os, "getloadavg") else None
    record["note"] = "wall-clock seconds of one execution top to bottom; one run on one machine"
    path = root / TIMINGS
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1) + "\n")
    return record


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


# --- the author's checks, removed where readers and learners look -------------------------

#: Cells holding only the author's prose-number checks (``claim(...)``).
AUTHOR_TAG = "author-check"


def python_source(source: str) -> str:
    """The source without IPython magics and shell escapes, so ``ast`` can parse it."""
    return "\n".join(
        "" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()
    )


def _is_claim(statement) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Call)
        and getattr(statement.value.func, "id", None) == "claim"
    )


def _claims_only(statement) -> bool:
    """A claim, or a loop/branch/with block that does nothing but claim (``pass`` aside)."""
    if _is_claim(statement):
        return True
    if isinstance(statement, (ast.For, ast.While, ast.If, ast.With)):
        inner = [
            s
            for s in statement.body + getattr(statement, "orelse", [])
            if not isinstance(s, ast.Pass)
        ]
        return bool(inner) and all(_claims_only(s) for s in inner)
    return False


def _claim_statements(tree) -> list[tuple[ast.stmt, list]]:
    """(statement, the body list holding it) for every statement that only claims: a
    ``claim(...)`` call, or a whole block whose statements all only claim (outermost first)."""
    found = []

    def visit(body):
        for statement in body:
            if _claims_only(statement):
                found.append((statement, body))
                continue
            for name in ("body", "orelse", "finalbody", "handlers"):
                inner = getattr(statement, name, None)
                if isinstance(inner, list):
                    visit(inner)

    visit(tree.body)
    return found


def strip_claims(source: str) -> str:
    """The source without its claim statements (and blocks that only claim); a block left
    empty gets ``pass``.

    Returns the source unchanged when it cannot be parsed or when a claim shares a line with
    other code (``x = 1; claim(...)``): claims are inert in a learner's kernel anyway.
    """
    try:
        tree = ast.parse(python_source(source))
    except SyntaxError:
        return source
    lines = source.splitlines()
    drop, passes = set(), {}
    for statement, body in _claim_statements(tree):
        first, last = statement.lineno - 1, statement.end_lineno - 1
        before = lines[first][: statement.col_offset]
        after = lines[last][statement.end_col_offset :]
        if before.strip() or after.strip().lstrip(";").strip():
            return source
        drop.update(range(first, last + 1))
        kept = [s for s in body if not (set(range(s.lineno - 1, s.end_lineno)) <= drop)]
        if not kept and body is not tree.body:
            passes[first] = before + "pass"
    out = [passes.get(n, line) for n, line in enumerate(lines) if n in passes or n not in drop]
    return "\n".join(out).strip("\n")


_CLAIM_IMPORT = re.compile(r"^from helpers\.claims import claim[ \t]*(\n|$)", re.M)


def without_author_checks(cells) -> list:
    """The cells without the author's prose-number checks: cells tagged ``author-check`` go,
    ``claim(...)`` statements go (a cell left empty goes), and the ``claim`` import goes when
    nothing uses it any more. For the learner edition and the book's copy."""
    kept = []
    for cell in cells:
        if AUTHOR_TAG in cell.get("metadata", {}).get("tags", []):
            continue
        if cell.cell_type == "code":
            stripped = strip_claims(cell.source)
            if stripped != cell.source and not stripped.strip():
                continue  # a cell that held only claims
            cell.source = stripped
        kept.append(cell)
    code = [c for c in kept if c.cell_type == "code"]
    if not any(re.search(r"\bclaim\b", _CLAIM_IMPORT.sub("", c.source)) for c in code):
        for cell in code:
            cell.source = _CLAIM_IMPORT.sub("", cell.source)
        kept = [c for c in kept if c.cell_type != "code" or c.source.strip()]
    return kept


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


# --- what a reader sees: alt text and untruncated tables ------------------------------------

#: Image types a notebook output can hold; each must carry ``metadata[mime]["alt"]``.
IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml", "image/gif")
#: A cell whose output deliberately shortens values that are not the point (a 1,233-digit
#: ciphertext shown as its first digits) says so with this tag.
ABRIDGED_TAG = "abridged"
_TABLE_CELL = re.compile(r"<t([dh])\b[^>]*>(.*?)</t\1>", re.S)


def real_alt_text(alt) -> bool:
    """Whether ``alt`` describes a figure (a sentence of at least six words), rather than being
    empty, a file name, a URL or matplotlib's "<Figure size 700x400 with 1 Axes>"."""
    if not isinstance(alt, str):
        return False
    text = alt.strip()
    if re.search(r"(\.(png|jpe?g|svg|gif)\b|^https?:|^<Figure|_images/)", text, re.I):
        return False
    return len(re.findall(r"[A-Za-z]{2,}", text)) >= 6


def images_without_alt_text(notebook) -> list[str]:
    """Each image output whose metadata lacks real alt text (``plotting.finish(ax, alt=...)``)."""
    found = []
    for index, cell in enumerate(code_cells(notebook)):
        for output in cell.get("outputs", []):
            for mime in IMAGE_TYPES:
                if mime in output.get("data", {}):
                    alt = output.get("metadata", {}).get(mime, {}).get("alt")
                    if not real_alt_text(alt):
                        found.append(f"code cell {index}: a figure without alt text ({alt!r})")
    return found


def truncated_tables(notebook) -> list[str]:
    """Table outputs with a cell cut short ("All geographic subdivisions smaller than a sta...")
    or elided rows/columns ("..."), outside cells tagged ``abridged``.

    Show such tables with ``helpers.plotting.full_table``.
    """
    found = []
    for index, cell in enumerate(code_cells(notebook)):
        if ABRIDGED_TAG in cell.get("metadata", {}).get("tags", []):
            continue
        for output in cell.get("outputs", []):
            table = output.get("data", {}).get("text/html", "")
            if isinstance(table, list):
                table = "".join(table)
            if "<table" not in table:
                continue
            cut = [
                text
                for _, content in _TABLE_CELL.findall(table)
                if (text := html.unescape(re.sub(r"<[^>]+>", "", content)).strip()).endswith(
                    ("...", "\u2026")
                )
            ]
            if cut:
                found.append(
                    f"code cell {index}: a table with {len(cut)} cut cell(s), e.g. {cut[0][-60:]!r}"
                )
    return found


def main(argv: list[str]) -> int:
    """Execute the given notebooks (default: all) in place, and record how long each took.

    ``--measure`` executes without saving the notebooks: it only updates the timing record.
    """
    measure_only = "--measure" in argv
    paths = [Path(a).resolve() for a in argv if a != "--measure"] or find_notebooks()
    measured = {}
    for path in paths:
        if measure_only:
            _, seconds = execute(path)
        else:
            seconds = execute_in_place(path)
        measured[path.relative_to(ROOT).as_posix()] = seconds
        print(f"{seconds:7.1f} s  {path.relative_to(ROOT)}")
        if not measure_only:
            for problem in problems(nbformat.read(path, as_version=4)):
                print(f"          problem: {problem}")
    record_timings(measured)
    print(f"run times recorded in {TIMINGS}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
