"""What a reader and a learner see, notebook by notebook: alt text on every figure, everything an
exercise needs shown before it, and no table whose text is cut short.

One test per rule and notebook. The mechanisms behind the rules, and tests that they catch
what they should, are at the bottom of this file:
- figures: ``plotting.finish(ax, alt="...")`` (or ``plotting.describe(fig, alt)``) after
  ``plotting.use_kit_style()``; the alt text is stored in the output's metadata and the book
  puts it in ``<img alt>`` (``notebooks.images_without_alt_text``);
- exercises: every variable a solution reads is defined, and every helper function, method
  and keyword argument it uses is named, in a learner-visible cell above it (not tagged
  instructor, solution or author-check) (``learner_edition.unseen_before_exercises``);
- tables whose text is the point (data cards, the Safe Harbor identifiers, legal tables):
  shown with ``plotting.full_table(frame)``, never cut at 50 characters
  (``notebooks.truncated_tables``; a cell that deliberately abridges values that are not the
  point, such as a 1,233-digit ciphertext, is tagged ``abridged``).
"""

from __future__ import annotations

import learner_edition as le
import nbformat
import pytest

import notebooks as nb

NOTEBOOKS = nb.find_notebooks()
IDS = [f"{p.parent.name}/{p.name}" for p in NOTEBOOKS]

METHODS = le.helper_methods()


def _conforms(path, problems: list[str]) -> None:
    key = path.relative_to(nb.ROOT).as_posix()
    assert not problems, f"{key}:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_every_figure_has_real_alt_text(path):
    _conforms(path, nb.images_without_alt_text(nbformat.read(path, as_version=4)))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_every_exercise_needs_only_what_the_learner_was_shown(path):
    notebook = nbformat.read(path, as_version=4)
    _conforms(path, le.unseen_before_exercises(notebook, METHODS))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_the_learner_edition_reads_no_name_it_does_not_define(path):
    _conforms(path, le.names_undefined_for_learners(nbformat.read(path, as_version=4)))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_no_table_text_is_cut_short(path):
    _conforms(path, nb.truncated_tables(nbformat.read(path, as_version=4)))


# --- the mechanisms catch what they should ------------------------------------------------


def _figure_output(alt):
    output = nbformat.v4.new_output(
        "display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"}
    )
    if alt is not None:
        output.metadata = {"image/png": {"alt": alt}}
    return output


@pytest.mark.parametrize(
    "alt",
    [None, "", "figure", "../_images/3f2a.png", "<Figure size 700x400 with 1 Axes>", "A plot"],
)
def test_missing_or_fake_alt_text_is_caught(alt):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("plot()", outputs=[_figure_output(alt)])]
    assert nb.images_without_alt_text(notebook)


def test_real_alt_text_passes():
    notebook = nbformat.v4.new_notebook()
    alt = "Share of unique patients against the number of quasi-identifiers: it rises to 0.97."
    notebook.cells = [nbformat.v4.new_code_cell("plot()", outputs=[_figure_output(alt)])]
    assert nb.images_without_alt_text(notebook) == []


def _table_cell(html, tags=()):
    output = nbformat.v4.new_output(
        "execute_result", data={"text/html": html, "text/plain": "table"}, execution_count=1
    )
    return nbformat.v4.new_code_cell("table", outputs=[output], metadata={"tags": list(tags)})


def test_a_cut_table_cell_is_caught_unless_the_cell_says_it_abridges():
    cut = "<table><tr><td>All geographic subdivisions smaller than a sta...</td></tr></table>"
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [_table_cell(cut)]
    assert "1 cut cell" in nb.truncated_tables(notebook)[0]
    notebook.cells = [_table_cell(cut, tags=["abridged"])]
    assert nb.truncated_tables(notebook) == []


def test_full_table_shows_every_character_and_passes_the_check():
    import pandas as pd

    from helpers import plotting

    text = "All geographic subdivisions smaller than a state, " * 4 + "and ZIP codes"
    frame = pd.DataFrame({"identifier": [text], "source": ["https://www.ecfr.gov/x"]})
    shown = plotting.full_table(frame, caption="Safe Harbor identifiers")
    html, plain = shown._repr_html_(), repr(shown)
    assert text in html and text in plain and "kit-full-table" in html
    assert (
        '<a href="https://www.ecfr.gov/x"' in html and ">Safe Harbor identifiers</caption>" in html
    )
    with pd.option_context("display.max_colwidth", 50):
        assert "..." in frame._repr_html_()  # what a plain DataFrame would show
        notebook = nbformat.v4.new_notebook()
        notebook.cells = [_table_cell(frame._repr_html_()), _table_cell(shown._repr_html_())]
        problems = nb.truncated_tables(notebook)
    assert len(problems) == 1 and problems[0].startswith("code cell 0")
    with pytest.raises(TypeError, match="frame"):
        plotting.full_table([1, 2])


def _cells_of(html: str) -> list[tuple[str, str, str]]:
    """(tag, inline style, text) of every header and data cell of a rendered table."""
    import re

    return [
        (tag, style, re.sub(r"<[^>]+>", "", content))
        for tag, style, content in re.findall(
            r'<(t[dh]) style="([^"]*)">(.*?)</t[dh]>', html, flags=re.S
        )
    ]


def test_full_table_reads_in_jupyterlab_without_the_books_stylesheet():
    """Inline styles only (JupyterLab drops a saved output's <style> elements): text cells
    left-aligned and top-aligned, numbers right-aligned; in a wide table, column widths that
    follow the text (a short URL column, the longest text column widest); links labelled by
    their host, the full address kept as target and tooltip, several URLs in one cell each a
    link; a narrow table sizes itself."""
    import re

    import pandas as pd

    from helpers import plotting, regulations

    legal = regulations.compare({"deidentified_release": True})
    html = plotting.full_table(legal)._repr_html_()
    assert "<style" not in html and "table-layout:fixed;width:100%" in html
    widths = [float(w) for w in re.findall(r'<col style="width:([\d.]+)%">', html)]
    assert len(widths) == legal.shape[1] + 1 and abs(sum(widths) - 100) < 0.5
    law, standard, source = widths[1:]
    assert source < law < standard and source <= 12
    cells = _cells_of(html)
    assert cells and all("text-align:left" in style for _, style, _ in cells)
    assert all("vertical-align:top" in style for tag, style, _ in cells if tag == "td")
    url = legal.iloc[0, -1]  # the main source of the first row
    assert f'href="{url}" title="{url}"' in html
    assert [t for _, _, t in cells if t == "ecfr.gov"], "the URL is labelled by its host"
    for column in legal.columns[:-1]:  # every character of every statement is there
        assert all(value in html.replace("&amp;", "&") for value in legal[column])

    two = "see https://www.legislation.gov.uk/a ; https://ico.org.uk/b."
    numbers = pd.DataFrame({"share": [0.25, 0.5], "note": [two, "plain"]})
    html = plotting.full_table(numbers)._repr_html_()
    assert "<colgroup>" not in html and "table-layout:auto" in html
    assert html.count("<a href=") == 2 and 'href="https://ico.org.uk/b"' in html
    styles = {text: style for _, style, text in _cells_of(html)}
    assert "text-align:right" in styles["0.25"] and "text-align:left" in styles["plain"]


def _exercise(setup_tags=(), task="Use the accountant."):
    cells = [
        nbformat.v4.new_code_cell("from helpers import dp\naccountant = dp.PrivacyAccountant(1.0)"),
        nbformat.v4.new_code_cell("queries = 10", metadata={"tags": list(setup_tags)}),
        nbformat.v4.new_markdown_cell(task),
        nbformat.v4.new_code_cell(
            "n = 0\nwhile accountant.can_spend(0.1, delta_prime=1e-6):\n"
            "    n += 1\nanswer = min(n, queries) + dp.gaussian_sigma(1, 1, 1e-5)",
            metadata={"tags": ["solution"]},
        ),
        nbformat.v4.new_code_cell("exercises.check_02_x(answer)"),
    ]
    notebook = nbformat.v4.new_notebook()
    notebook.cells = cells
    return notebook


def test_an_exercise_that_needs_an_instructor_cell_or_an_unseen_helper_is_caught():
    problems = "\n".join(
        le.unseen_before_exercises(_exercise(setup_tags=["instructor"]), {"can_spend"})
    )
    assert "'queries', which no earlier learner-visible cell defines" in problems
    assert "'can_spend'" in problems and "delta_prime=" in problems
    assert "'gaussian_sigma'" in problems
    assert "'n'" not in problems and "'accountant'" not in problems  # bound in the cell / shown
    shown = _exercise(
        task="Spend with `accountant.can_spend(epsilon, delta_prime=...)`; "
        "`dp.gaussian_sigma` gives the noise scale."
    )
    assert le.unseen_before_exercises(shown, {"can_spend"}) == []
    author_only = _exercise(setup_tags=["author-check"])
    assert "'queries'" in "\n".join(le.unseen_before_exercises(author_only, {"can_spend"}))


@pytest.mark.notebook
def test_alt_text_reaches_the_saved_output_through_the_kernel(tmp_path):
    """plotting.use_kit_style() in a real kernel: the figure's output carries its alt text."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "from helpers import plotting\nplotting.use_kit_style()\n"
            'fig, ax = plotting.new_figure("Rise", "x (units)", "y (units)")\n'
            'ax.plot([1, 2])\nplotting.finish(ax, alt="A line rising from 1 to 2, the whole point.");'
        ),
        nbformat.v4.new_code_cell(
            'fig, ax = plotting.new_figure("No alt", "x (units)", "y (units)")\nax.plot([1, 3]);'
        ),
    ]
    path = tmp_path / "figures.ipynb"
    nbformat.write(notebook, path)
    executed, _ = nb.execute(path)
    first, second = (c.outputs for c in executed.cells)
    (image,) = [o for o in first if "image/png" in o.get("data", {})]
    assert image.metadata["image/png"]["alt"] == "A line rising from 1 to 2, the whole point."
    assert image.data["text/plain"] == "A line rising from 1 to 2, the whole point."
    assert nb.images_without_alt_text(executed) == ["code cell 1: a figure without alt text (None)"]


def test_a_name_defined_only_by_an_author_check_is_caught():
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("from helpers.claims import claim\nimport numpy as np"),
        nbformat.v4.new_code_cell(
            "acc = np.mean([1, 0])\nclaim('accuracy', acc, 0.5)",
            metadata={"tags": ["author-check"]},
        ),
        nbformat.v4.new_code_cell("print(acc, np.pi, len([]))"),
    ]
    assert le.names_undefined_for_learners(notebook) == [
        "cell 1: ['acc'] (defined only in code the learner edition drops)"
    ]
    notebook.cells[1].metadata["tags"] = []  # shown to the learner: acc is defined
    assert le.names_undefined_for_learners(notebook) == []
