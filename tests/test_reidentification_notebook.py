"""Notebook 01: every percentage its prose states is checked by a claim(...) that ran."""

import re

import nbformat
import pytest

import notebooks as nb

PATH = nb.ROOT / "notebooks" / "01_reidentification.ipynb"
#: Numbers quoted from the literature, not computed by the notebook (cited next to them),
#: and parameters the code sets rather than results (suppression budgets of 1 % and 5 %).
NOT_RESULTS = {87.0, 63.0, 1.0, 5.0}
PERCENT = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?) ?%")


@pytest.fixture(scope="module")
def notebook():
    if not PATH.exists():
        pytest.skip("notebook 01 not written yet")
    return nbformat.read(PATH, as_version=4)


def test_every_claim_ran_and_passed_in_the_committed_outputs(notebook):
    claims = nb.claim_calls(notebook)
    assert len(claims) >= 15
    assert not nb.claims_not_checked(notebook)


def _unchecked_percentages(notebook) -> list[float]:
    stated = [v for _, v in nb.claim_calls(notebook) if isinstance(v, float)]
    prose = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    percentages = {float(m) for m in PERCENT.findall(prose)} - NOT_RESULTS
    return [
        p
        for p in sorted(percentages)
        if not any(abs(p / 100 - s) <= 0.5 * 10 ** -_decimals(p) / 100 + 1e-12 for s in stated)
    ]


def _decimals(number: float) -> int:
    text = repr(number).rstrip("0").rstrip(".")
    return len(text.split(".")[1]) if "." in text else 0


def test_every_percentage_in_the_prose_is_claimed(notebook):
    assert PERCENT.findall("\n".join(c.source for c in notebook.cells if c.cell_type == "markdown"))
    unchecked = _unchecked_percentages(notebook)
    assert not unchecked, f"percentages in the prose without a matching claim: {unchecked}"


def test_the_checker_catches_an_unclaimed_percentage():
    # A deliberately broken notebook: the prose says 12.5 % but the claim checks 0.30.
    bad = nbformat.v4.new_notebook()
    bad.cells = [
        nbformat.v4.new_markdown_cell("The attack re-identified 12.5 % of records, 30 % right."),
        nbformat.v4.new_code_cell('claim("precision", 0.3, 0.30, 0.005)'),
    ]
    assert _unchecked_percentages(bad) == [12.5]
