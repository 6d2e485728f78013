"""The learner edition: solutions replaced by stubs, checks still run and say what is missing."""

from __future__ import annotations

import hashlib
import inspect
import os
import re
import subprocess
import zipfile
from pathlib import Path

import learner_edition as le
import nbformat
import pytest
from nbclient import NotebookClient

import notebooks as nb
from helpers import exercises
from helpers.exercises import ExerciseNotSolved

#: The kit under test (KIT_ROOT points the tests at another checkout, for development).
ROOT = Path(os.environ.get("KIT_ROOT", nb.ROOT)).resolve()
NOTEBOOKS = nb.find_notebooks(ROOT)
IDS = [f"{p.parent.name}/{p.name}" for p in NOTEBOOKS]


def _tags(cell) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def _exercise_notebook():
    """A small notebook in the kit's exercise format (task, solution, check, instructor note)."""
    notebook = nbformat.v4.new_notebook()
    solution = nbformat.v4.new_code_cell(
        "counts = population['hospital'].value_counts()\nanswer = counts.idxmax()",
        metadata={"tags": ["solution"]},
    )
    solution.outputs = [nbformat.v4.new_output("stream", name="stdout", text="Northfield General")]
    check = nbformat.v4.new_code_cell("exercises.check_00_largest_hospital(answer, population)")
    check.outputs = [
        nbformat.v4.new_output(
            "execute_result", data={"text/plain": "'Correct'"}, execution_count=3
        )
    ]
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "import pandas as pd\nfrom helpers import data, exercises\n"
            "population = pd.DataFrame({'hospital': data.HOSPITALS[:2] + data.HOSPITALS[1:2]})"
        ),
        nbformat.v4.new_markdown_cell("## Exercise\nWhich hospital treats the most patients?"),
        solution,
        check,
        nbformat.v4.new_markdown_cell("Ask the room first.", metadata={"tags": ["instructor"]}),
        nbformat.v4.new_markdown_cell(
            "Because it is the largest.", metadata={"tags": ["solution"]}
        ),
    ]
    return notebook


def test_solution_becomes_a_stub_that_says_what_to_write():
    original = _exercise_notebook()
    before = nbformat.writes(original)
    learner = le.learner_version(original)
    assert nbformat.writes(original) == before, "the committed notebook is never modified"
    stub, check = learner.cells[2], learner.cells[3]
    assert "answer = ...  # TODO: a hospital name (Exercise 00.2" in stub.source
    assert "largest" not in stub.source.split("TODO")[0] and "idxmax" not in stub.source
    assert "counts" not in stub.source, "only the checked answer is stubbed, not the working"
    assert stub.outputs == [] and check.outputs == [] and check.execution_count is None
    assert "solution" not in _tags(stub)
    assert all("instructor" not in _tags(c) for c in learner.cells)
    assert "Ask the room" not in nbformat.writes(learner)
    assert learner.cells[-1].source == le.MARKDOWN_STUB
    assert learner.metadata["kit"]["edition"] == "learner"


def test_author_checks_are_removed_from_the_learner_edition():
    """claim() statements, claim-only cells and author-check cells: an author's tools, gone."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kit"] = {"claims": [{"what": "rate", "stated": "0.87"}]}
    code = nbformat.v4.new_code_cell
    notebook.cells = [
        code("import numpy as np\nfrom helpers.claims import claim\nrate = 0.871"),
        code('claim("rate", rate, 0.87, 0.005)\nprint(rate)'),
        code('for r in [rate]:\n    claim(\n        "rate", r, 0.87, 0.005\n    )\nx = 1'),
        code('if rate:\n    claim("rate", rate, 0.87, 0.005)\nelse:\n    print(rate)'),
        code('claim("rate", rate, 0.87, 0.005)'),
        code('claim("tagged", 1, 1)', metadata={"tags": ["author-check"]}),
        code('y = 2; claim("same line", y, 2)'),
    ]
    learner = le.learner_version(notebook)
    sources = [c.source for c in learner.cells]
    assert sources[:3] == [
        "import numpy as np\nfrom helpers.claims import claim\nrate = 0.871",
        "print(rate)",
        "x = 1",  # a loop that only claimed goes whole
    ]
    assert sources[3] == "if rate:\n    pass\nelse:\n    print(rate)"  # a block left empty: pass
    assert len(learner.cells) == 5, "the claim-only and author-check cells are gone"
    assert "claims" not in learner.metadata["kit"]
    # A claim sharing its line with other code stays (inert in a learner's kernel), and so
    # does the import it needs; without it, the import goes too.
    assert sources[4] == 'y = 2; claim("same line", y, 2)'
    notebook.cells = notebook.cells[:6]
    assert le.learner_version(notebook).cells[0].source == "import numpy as np\nrate = 0.871"


def _run(cells, namespace):
    for cell in cells:
        if cell.cell_type == "code":
            exec(compile(cell.source, "<cell>", "exec"), namespace)


def test_stub_and_check_raise_exercise_not_solved_until_answered():
    learner = le.learner_version(_exercise_notebook())
    namespace = {}
    _run(learner.cells[:3], namespace)
    with pytest.raises(ExerciseNotSolved, match="not answered yet"):
        _run(learner.cells[3:4], namespace)
    # Replacing the ... with the right answer makes the same check pass: the stub is wired right.
    namespace["answer"] = namespace["population"]["hospital"].value_counts().idxmax()
    _run(learner.cells[3:4], namespace)


def test_assigned_names_and_fallback_stubs():
    assert le.assigned_names(
        "%matplotlib inline\na, (b, c) = 1, (2, 3)\ndef f(x):\n    y = x\nd += 1"
    ) == ["a", "b", "c", "f", "d"]
    assert le.assigned_names("this is not python") == []
    lone = nbformat.v4.new_code_cell("x = 1\ny = x + 1", metadata={"tags": ["solution"]})
    assert le.stub(lone, []).splitlines()[1:] == [
        "x = ...  # TODO: see the task above",
        "y = ...  # TODO: see the task above",
    ]
    plot = nbformat.v4.new_code_cell("plt.plot([1, 2])", metadata={"tags": ["solution"]})
    assert "write your code here" in le.stub(plot, [])
    assert "plt.plot" not in le.stub(plot, [])


def test_only_exercise_checks_count_as_check_cells():
    cell = nbformat.v4.new_code_cell
    assert le.is_check_cell(cell("exercises.check_00_label_skew(answer_3, parts)"))
    assert le.is_check_cell(cell("check_00_label_skew(answer_3, parts)"))
    assert not le.is_check_cell(cell("dp.check_epsilon(1.0)\nx = dp.laplace(1.0)"))
    assert le.check_calls([cell("exercises.check_00_x(answer_1, data)")]) == [
        ("check_00_x", "answer_1")
    ]


def test_check_hint_reads_the_check_function():
    hint = le.check_hint("check_00_uniqueness_with_birth_year")
    assert hint.startswith("a share between 0 and 1 (Exercise 00.1")
    assert le.check_hint("check_that_does_not_exist") == ""


# --- the kit's own notebooks ------------------------------------------------------------


@pytest.fixture(scope="module")
def edition(tmp_path_factory) -> Path:
    digests = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in NOTEBOOKS}
    archive = le.write_edition(ROOT, tmp_path_factory.mktemp("learner"))
    assert all(hashlib.sha256(p.read_bytes()).hexdigest() == d for p, d in digests.items()), (
        "writing the learner edition modified a committed notebook"
    )
    return archive


def _meaningful(line: str) -> bool:
    line = line.strip()
    return bool(line) and not line.startswith("#") and len(re.sub(r"\W", "", line)) >= 3


def solution_lines(notebook) -> set[str]:
    """Lines that occur only in solution cells (lines shared with other cells are not secret)."""
    solution, elsewhere = set(), set()
    for cell in notebook.cells:
        lines = {line.strip() for line in cell.source.splitlines() if _meaningful(line)}
        (solution if "solution" in _tags(cell) else elsewhere).update(lines)
    return solution - elsewhere


def test_edition_folder_and_zip_hold_what_a_learner_needs(edition):
    folder = edition.parent / "learner"
    with zipfile.ZipFile(edition) as zipped:
        names = set(zipped.namelist())
    for required in (
        "README.md",
        "requirements.txt",
        "pyproject.toml",
        "helpers/exercises.py",
        "docs/glossary.md",
    ):
        assert (folder / required).is_file() and f"learner/{required}" in names, required
    for path in NOTEBOOKS:
        assert f"learner/{path.relative_to(ROOT).as_posix()}" in names
    assert not any("instructor_guide" in n or n.endswith(".pyc") for n in names)
    assert {"learner/LICENSE", "learner/LICENSE-CONTENT.md", "learner/Makefile"} <= names
    # Its Makefile has only what works there: no test, book, learner, notebooks or bench.
    makefile = (folder / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][\w.-]*):", makefile, flags=re.M))
    assert {"lab", "preflight", "clean"} <= targets
    assert not targets & {"test", "book", "learner", "notebooks", "bench"}, targets
    dry = subprocess.run(["make", "-n", "lab"], cwd=folder, capture_output=True, text=True)
    assert dry.returncode == 0 and "jupyter lab" in dry.stdout, dry.stderr
    # Glossary links land on the term in JupyterLab: each heading carries the book's anchor.
    glossary = (folder / "docs" / "glossary.md").read_text()
    assert '## <a id="quasi-identifier"></a>Quasi-identifier' in glossary


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_no_solution_code_survives(edition, path):
    committed = nbformat.read(path, as_version=4)
    learner_path = edition.parent / "learner" / path.relative_to(ROOT)
    learner = nbformat.read(learner_path, as_version=4)
    secret = solution_lines(committed)
    text_lines = {line.strip() for c in learner.cells for line in c.source.splitlines()}
    survived = sorted(secret & text_lines)
    assert not survived, f"solution code in the learner edition: {survived[:5]}"
    raw = learner_path.read_text()
    for cell in committed.cells:
        if "solution" in _tags(cell):
            for output in cell.get("outputs", []):
                text = output.get("text") or "".join(output.get("data", {}).get("text/plain", ""))
                if len(text.strip()) >= 8:
                    assert text.strip()[:60] not in raw, "a solution cell's output survived"
    assert not any(
        {"instructor", "solution", "author-check"} & set(_tags(c)) for c in learner.cells
    )
    assert not [c for c in learner.cells if re.search(r"^\s*claim\(", c.source, flags=re.M)]
    assert "checked:" not in raw and "claims" not in learner.metadata.get("kit", {})
    stubs = [c for c in learner.cells if "answer" in _tags(c)]
    assert len(stubs) == sum("solution" in _tags(c) for c in committed.cells)
    assert all("..." in c.source or c.source == le.MARKDOWN_STUB for c in stubs)


def _first_exercise(notebook):
    """Index of the first check cell that follows a code stub, or None."""
    seen_stub = False
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code" and "answer" in _tags(cell):
            seen_stub = True
        elif seen_stub and le.is_check_cell(cell):
            return index
    return None


def _check_source_lines(function_name: str) -> set[str]:
    """The meaningful source lines of a check function (the reference answer lives there)."""
    source = inspect.getsource(getattr(exercises, function_name))
    return {line.strip() for line in source.splitlines() if len(line.strip()) >= 12}


@pytest.mark.slow
def test_an_unsolved_check_shows_its_hint_alone_never_the_checks_source(edition):
    """Run the first learner notebook with an exercise up to its first check cell, as
    JupyterLab would (nbclient, the kit's kernel), and read the error output it stores:
    that is what the learner sees, and what a saved notebook or the book would show."""
    for path in NOTEBOOKS:
        learner = nbformat.read(edition.parent / "learner" / path.relative_to(ROOT), as_version=4)
        stop = _first_exercise(learner)
        if stop is not None:
            break
    else:
        pytest.fail("no notebook has an exercise (a solution cell followed by a check cell) yet")
    learner.cells = learner.cells[: stop + 1]
    client = NotebookClient(
        learner,
        timeout=nb.CELL_TIMEOUT,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    errors = [
        (i, o)
        for i, c in enumerate(learner.cells)
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.output_type == "error"
    ]
    assert [i for i, _ in errors] == [stop], f"{path.name}: only the check cell may stop"
    error = errors[0][1]
    assert error.ename == "ExerciseNotSolved" and "not answered yet" in error.evalue
    shown = "\n".join(error.traceback)
    assert len(error.traceback) == 1 and shown.count("\n") <= 1, shown
    assert shown.startswith("ExerciseNotSolved: Exercise ")
    for leak in ("Traceback", "exercises.py", "File ", "expected", "raise "):
        assert leak not in shown, f"{leak!r} in the shown error: {shown}"
    (function_name, _), *_ = le.check_calls([learner.cells[stop]])
    leaked = [line for line in _check_source_lines(function_name) if line in shown]
    assert not leaked, f"the check's source is shown: {leaked}"


def test_every_check_renders_as_one_line_without_its_source():
    """What IPython shows for each check's "not answered yet" (its _render_traceback_)."""
    for name in [n for n in dir(exercises) if n.startswith("check_")]:
        function = getattr(exercises, name)
        n_args = len(inspect.signature(function).parameters)
        with pytest.raises(ExerciseNotSolved) as raised:
            function(..., *[None] * (n_args - 1))
        shown = raised.value._render_traceback_()
        assert len(shown) == 1 and "\n" not in shown[0], shown
        assert not [line for line in _check_source_lines(name) if line in shown[0]], name
