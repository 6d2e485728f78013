"""Every notebook and case study: committed executed and clean, and executes from scratch."""

import nbformat
import pytest

import notebooks as nb

NOTEBOOKS = nb.find_notebooks()
IDS = [f"{p.parent.name}/{p.name}" for p in NOTEBOOKS]


def test_the_course_has_its_first_notebook():
    assert (nb.ROOT / "notebooks" / "00_welcome_and_data.ipynb") in NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_committed_notebook_is_executed_in_order_and_clean(path):
    problems = nb.problems(nbformat.read(path, as_version=4))
    assert not problems, "\n".join(problems)


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_executes_top_to_bottom(path):
    executed, _seconds = nb.execute(path)
    errors = [
        o for c in nb.code_cells(executed) for o in c.get("outputs", []) if o.output_type == "error"
    ]
    assert not errors


def test_problems_catches_a_bad_notebook():
    bad = nbformat.v4.new_notebook()
    bad.cells = [
        nbformat.v4.new_code_cell("1", execution_count=1),
        nbformat.v4.new_code_cell("2", execution_count=3),
    ]
    bad.cells[0].outputs = [
        nbformat.v4.new_output("stream", name="stderr", text="File /root/x.py warning"),
        nbformat.v4.new_output("error", ename="ValueError", evalue="x", traceback=[]),
    ]
    found = "\n".join(nb.problems(bad))
    assert "metadata['kit']" in found
    assert "execution_count 3, expected 2" in found
    assert "stderr" in found and "error output" in found and "machine path" in found
