"""The jurisdiction table: enough jurisdictions, every row and cell sourced, no empty cell."""

import re

import pandas as pd
import pytest

from helpers import regulations as reg

URL = re.compile(r"^https?://[^\s;]+$")
REQUIRED = [
    "United States (federal)",
    "United States (California)",
    "European Union",
    "United Kingdom",
    "Canada (federal)",
    "Canada (Ontario)",
    "Brazil",
    "China",
    "India",
]


def _urls(text: str) -> list[str]:
    return [part.strip() for part in str(text).split(" ; ")]


def _is_sourced(text) -> bool:
    return bool(text) and all(URL.match(u) for u in _urls(text))


def test_at_least_eight_jurisdictions_including_the_required_ones():
    table = reg.jurisdictions()
    assert len(table) >= 8
    assert table["jurisdiction"].is_unique
    assert set(REQUIRED) <= set(table["jurisdiction"])


def test_columns_are_the_documented_ones():
    table = reg.jurisdictions()
    assert tuple(table.columns) == reg.COLUMNS
    assert set(reg.HEADERS) == set(reg.COLUMNS)


def test_every_row_has_a_source_url():
    table = reg.jurisdictions()
    bad = table.loc[~table["source_url"].map(_is_sourced), "jurisdiction"].tolist()
    assert not bad, f"rows without a source URL: {bad}"


def test_no_cell_is_empty_each_is_a_value_or_unverified():
    table = reg.jurisdictions()
    for column in reg.COLUMNS:
        for jurisdiction, value in zip(table["jurisdiction"], table[column], strict=True):
            assert not pd.isna(value), (jurisdiction, column)
            if isinstance(value, str):
                assert value.strip(), (jurisdiction, column)


def test_every_cell_has_its_own_source():
    cells = reg.jurisdiction_sources()
    assert len(cells) == len(reg.jurisdictions()) * len(reg.FACT_COLUMNS)
    unsourced = cells.loc[~cells["source"].map(_is_sourced), ["jurisdiction", "column"]]
    assert unsourced.empty, unsourced.to_string()
    assert (cells["verified"] == (cells["value"] != reg.UNVERIFIED)).all()


def test_years_are_plausible_integers():
    years = reg.jurisdictions()["year"]
    assert all(isinstance(y, int) and 1990 <= y <= 2026 for y in years)
    by_name = dict(zip(reg.jurisdictions()["jurisdiction"], years, strict=True))
    assert by_name["United States (federal)"] == 1996
    assert by_name["European Union"] == 2016
    assert by_name["India"] == 2023


def test_classic_errors_are_absent_from_the_hipaa_row():
    hipaa = reg.jurisdiction_table(["deidentification_standard"], ["United States (federal)"])
    text = hipaa.iloc[0, 0]
    # Safe Harbor keeps at most the first three ZIP digits and groups ages over 89.
    assert "first 3 digits" in text and "20,000" in text
    assert "over 89" in text and "90 or older" in text


def test_most_cells_are_verified():
    cells = reg.jurisdiction_sources()
    assert cells["verified"].mean() >= 0.8


def test_jurisdiction_table_selects_rows_and_columns():
    table = reg.jurisdiction_table(["law", "maximum_penalty"], ["European Union", "India"])
    assert list(table.columns) == ["law", "maximum_penalty"]
    assert list(table.index) == ["European Union", "India"]
    readable = reg.jurisdiction_table(["law"], readable=True)
    assert list(readable.columns) == [reg.HEADERS["law"]]
    assert readable.index.name == reg.HEADERS["jurisdiction"]
    assert len(reg.jurisdiction_table()) == len(reg.jurisdictions())


def test_jurisdiction_table_rejects_unknown_names():
    with pytest.raises(ValueError, match="columns"):
        reg.jurisdiction_table(["no_such_column"])
    with pytest.raises(ValueError, match="which"):
        reg.jurisdiction_table(which=["Atlantis"])
    with pytest.raises(ValueError, match="at least one"):
        reg.jurisdiction_table([])
    with pytest.raises(TypeError, match="readable"):
        reg.jurisdiction_table(readable="yes")
    with pytest.raises(TypeError, match="columns"):
        reg.jurisdiction_table(columns=3)


def test_compare_picks_the_columns_the_facts_make_relevant():
    table = reg.compare({"deidentified_release": True, "research": False}, readable=False)
    assert list(table.columns) == ["law", "deidentification_standard", "source_url"]
    table = reg.compare({"research": True, "cross_border": True, "breach": True}, readable=False)
    assert list(table.columns) == [
        "law",
        "research_use_basis",
        "cross_border_transfer",
        "maximum_penalty",
        "source_url",
    ]
    assert len(table) == len(reg.jurisdictions())


def test_compare_validates_case_facts():
    with pytest.raises(ValueError, match="case_facts"):
        reg.compare({"weather": True})
    with pytest.raises(ValueError, match="at least one fact"):
        reg.compare({"research": False})
    with pytest.raises(TypeError, match="True or False"):
        reg.compare({"research": "yes"})
    with pytest.raises(TypeError, match="mapping"):
        reg.compare(["research"])


def test_the_checks_catch_a_broken_table(monkeypatch):
    """A deliberately broken row (no source, empty cell) must fail the checks above."""
    broken = dict(reg._ROWS[0])
    broken["source_url"] = reg.Cell("", "")
    broken["law"] = reg.Cell("", "not a url")
    monkeypatch.setattr(reg, "_ROWS", reg._ROWS + (broken,))
    with pytest.raises(AssertionError):
        test_every_row_has_a_source_url()
    with pytest.raises(AssertionError):
        test_no_cell_is_empty_each_is_a_value_or_unverified()
    with pytest.raises(AssertionError):
        test_every_cell_has_its_own_source()


def test_penalties_match_the_statutes_as_fact_checked():
    """Pin the penalty facts checked against their sources (issue 7 fact-check)."""
    penalty = dict(
        zip(
            reg.jurisdictions()["jurisdiction"], reg.jurisdictions()["maximum_penalty"], strict=True
        )
    )
    eu = penalty["European Union"]
    assert "EUR 20 million" in eu and "4%" in eu and "whichever is higher" in eu
    assert "GBP 17.5 million" in penalty["United Kingdom"]
    hipaa = penalty["United States (federal)"]
    # 42 U.S.C. 1320d-6(b)(3): intent to sell, transfer or use for commercial advantage,
    # personal gain or malicious harm; the 2026 inflation adjustment of the civil cap.
    assert "malicious harm" in hipaa and "$250,000" in hipaa and "10 years" in hipaa
    assert "$2,190,294" in hipaa
    assert "BRL 50 million" in penalty["Brazil"] and "2%" in penalty["Brazil"]
    assert "RMB 50 million" in penalty["China"] and "5%" in penalty["China"]
    assert "INR 250 crore" in penalty["India"]


def test_limited_data_sets_remain_phi_and_pseudonymised_data_remain_personal():
    deid = dict(
        zip(
            reg.jurisdictions()["jurisdiction"],
            reg.jurisdictions()["deidentification_standard"],
            strict=True,
        )
    )
    assert "remains PHI" in deid["United States (federal)"]
    assert "Pseudonymised data (Art. 4(5)) remain personal data" in deid["European Union"]
    assert "Recital 26" in deid["European Union"]
