"""Every notebook and case study: committed executed and clean, and executes from scratch."""

import re

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


def _tiny_notebook(tmp_path, *sources):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    path = tmp_path / "tiny.ipynb"
    nbformat.write(notebook, path)
    return path


@pytest.mark.notebook
def test_the_runner_fails_a_notebook_whose_prose_number_disagrees(tmp_path):
    from nbclient.exceptions import CellExecutionError

    path = _tiny_notebook(
        tmp_path,
        "from helpers.claims import claim\nrate = 0.81",
        'claim("re-identified share", rate, 0.87, 0.005)',
    )
    with pytest.raises(CellExecutionError, match="ClaimMismatchError"):
        nb.execute(path)


@pytest.mark.notebook
def test_the_runner_records_claims_in_metadata_and_refuses_skipped_ones(tmp_path):
    path = _tiny_notebook(
        tmp_path,
        "from helpers.claims import claim\nrate = 0.871",
        'claim("re-identified share", rate, 0.87, 0.005)',
    )
    executed, _ = nb.execute(path)
    assert executed.metadata["kit"]["claims"] == [{"what": "re-identified share", "stated": "0.87"}]
    assert not any(o.get("text") for c in nb.code_cells(executed) for o in c.outputs)
    skipped = _tiny_notebook(
        tmp_path, "from helpers.claims import claim", 'if False:\n    claim("never", 1, 1)'
    )
    with pytest.raises(nb.ClaimsNotChecked, match="never"):
        nb.execute(skipped)


def test_a_claim_is_inert_outside_the_runner(monkeypatch):
    from helpers.claims import LOG_VARIABLE, claim

    monkeypatch.delenv(LOG_VARIABLE, raising=False)
    assert claim("a learner changed alpha", 0.3, 0.01) is None  # no error, nothing shown


_PROGRESS = re.compile(r"^(?P<desc>.*): +(?P<percent>\d+)%\|[# ]*\| (?P<done>\d+)/(?P<total>\d+)$")


def _progress_lines(notebook) -> list[str]:
    return [
        text
        for cell in nb.code_cells(notebook)
        for output in cell.get("outputs", [])
        if _PROGRESS.search(
            text := (output.get("text") or "".join(output.get("data", {}).get("text/plain", "")))
        )
        or "%|" in text
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_progress_bars_leave_one_finished_line_per_loop(path):
    """A saved notebook keeps only the last state of each bar: one line, at 100 %."""
    for text in _progress_lines(nbformat.read(path, as_version=4)):
        match = _PROGRESS.match(text)
        assert match, f"a progress output that is not one finished line: {text[:200]!r}"
        assert match["percent"] == "100" and match["done"] == match["total"], text


@pytest.mark.notebook
def test_a_progress_bar_is_one_display_updated_in_place(tmp_path):
    path = _tiny_notebook(
        tmp_path,
        "import time\nfrom helpers.progress import progress\n"
        "for _ in progress(range(40), enabled=True, desc='rounds'):\n    time.sleep(0.04)",
    )
    executed, _ = nb.execute(path)
    (lines,) = [_progress_lines(executed)]
    assert lines == ["rounds: 100%|##############################| 40/40"]
