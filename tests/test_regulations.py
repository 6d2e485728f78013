"""The jurisdiction table: enough jurisdictions, every row and cell sourced, no empty cell,
each cell's source kind no stronger than its weakest source, and the facts fact-checked in
issues 7 and 18 pinned. No test compares a date with today's date."""

import datetime as dt
import re
from pathlib import Path
from urllib.parse import urlparse

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


ROOT = Path(__file__).resolve().parent.parent

#: The strongest kind of source a URL's host can support. Official legislation, journals and
#: courts are primary; regulators' and government departments' sites are regulator; every
#: other host is secondary. A cell may claim no stronger kind than its weakest URL.
PRIMARY_HOSTS = {
    "www.ecfr.gov",
    "www.govinfo.gov",
    "uscode.house.gov",
    "www.federalregister.gov",
    "leginfo.legislature.ca.gov",
    "eur-lex.europa.eu",
    "curia.europa.eu",
    "www.legislation.gov.uk",
    "laws-lois.justice.gc.ca",
    "www.ontario.ca",
    "www.planalto.gov.br",
    "www.meity.gov.in",
}
REGULATOR_HOSTS = {
    "www.hhs.gov",
    "ico.org.uk",
    "digital.nhs.uk",
    "ipc.on.ca",
    "decisions.ipc.on.ca",
    "www.priv.gc.ca",
    "www.ftc.gov",
    "www.justice.gov",
}
STRENGTH = {"primary": 0, "regulator": 1, "secondary": 2, reg.UNVERIFIED: 3}


def _host_kind(url: str) -> str:
    host = urlparse(url).netloc.lower()
    if host in PRIMARY_HOSTS:
        return "primary"
    if host in REGULATOR_HOSTS:
        return "regulator"
    return "secondary"


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


def test_every_cell_records_its_source_kind_and_check_date():
    cells = reg.jurisdiction_sources()
    assert set(cells["kind"]) <= {*reg.SOURCE_KINDS, reg.UNVERIFIED}
    assert ((cells["kind"] == reg.UNVERIFIED) == ~cells["verified"]).all()
    for checked in cells["checked"]:
        assert dt.date.fromisoformat(checked).isoformat() == checked


def test_no_cell_claims_a_stronger_kind_than_its_weakest_source():
    cells = reg.jurisdiction_sources()
    overclaimed = []
    for cell in cells[cells["verified"]].itertuples():
        weakest = max((_host_kind(u) for u in _urls(cell.source)), key=STRENGTH.get)
        if STRENGTH[cell.kind] < STRENGTH[weakest]:
            overclaimed.append((cell.jurisdiction, cell.column, cell.kind, weakest))
    assert not overclaimed, overclaimed


def test_the_kind_check_catches_an_overclaimed_cell():
    """A secondary summary marked 'primary' must be caught by the host rule above."""
    url = "https://www.dentonsdata.com/anonymization-requirements-under-pipeda-clarified-mostly/"
    assert _host_kind(url) == "secondary"
    assert _host_kind("https://www.ecfr.gov/current/title-45") == "primary"
    assert STRENGTH["primary"] < STRENGTH[_host_kind(url)]


def test_cells_validate_their_kind_and_date():
    with pytest.raises(ValueError, match="kind"):
        reg.Cell("x", "https://a.org", "blog", "2026-12-01")
    with pytest.raises(ValueError, match="ISO date"):
        reg.Cell("x", "https://a.org", "primary", "1 December 2026")
    with pytest.raises(ValueError, match="unverified"):
        reg.Cell(reg.UNVERIFIED, "https://a.org", "primary", "2026-12-01")


def test_cells_by_check_date_lists_every_cell_oldest_and_weakest_first():
    listing = reg.cells_by_check_date()
    assert len(listing) == len(reg.jurisdiction_sources())
    assert list(listing["checked"]) == sorted(listing["checked"])
    for _, same_day in listing.groupby("checked", sort=False):
        ranks = same_day["kind"].map(STRENGTH).tolist()
        assert ranks == sorted(ranks, reverse=True)
    assert set(listing["column"]) <= set(reg.HEADERS.values())


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
        "breach_notice_regulator",
        "breach_notice_individuals",
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
    broken["source_url"] = reg.Cell("", "", "primary", "2026-12-01")
    broken["law"] = reg.Cell("", "not a url", "primary", "2026-12-01")
    broken["health_data_class"] = reg.Cell(
        "PHI", "https://www.dentonsdata.com/a-summary/", "primary", "2026-12-01"
    )
    monkeypatch.setattr(reg, "_ROWS", reg._ROWS + (broken,))
    with pytest.raises(AssertionError):
        test_every_row_has_a_source_url()
    with pytest.raises(AssertionError):
        test_no_cell_is_empty_each_is_a_value_or_unverified()
    with pytest.raises(AssertionError):
        test_every_cell_has_its_own_source()
    with pytest.raises(AssertionError, match="health_data_class"):
        test_no_cell_claims_a_stronger_kind_than_its_weakest_source()


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


def _column(name: str) -> dict[str, str]:
    table = reg.jurisdictions()
    return dict(zip(table["jurisdiction"], table[name], strict=True))


def test_breach_notification_columns_hold_the_checked_deadlines():
    regulator, individuals = (
        _column("breach_notice_regulator"),
        _column("breach_notice_individuals"),
    )
    assert set(regulator) == set(individuals) == set(REQUIRED)
    us = regulator["United States (federal)"] + individuals["United States (federal)"]
    assert "500 or more" in us and "60 calendar days" in us and "more than 500" in us
    assert "164.408" in us and "164.404" in us and "164.406" in us
    assert "72 hours" in regulator["European Union"] and "Art. 33" in regulator["European Union"]
    assert "34(3)(a)" in individuals["European Union"]
    assert "72 hours" in regulator["United Kingdom"]
    assert "real risk of significant harm" in regulator["Canada (federal)"]
    assert "24 months" in regulator["Canada (federal)"]
    assert "first reasonable opportunity" in individuals["Canada (Ontario)"]
    assert "3 working days" in regulator["Brazil"] and "Art. 57" in regulator["China"]
    assert "72 hours" in regulator["India"] and "May 2027" in regulator["India"]
    assert "30 calendar days" in individuals["United States (California)"]


def test_issue_18_corrections_are_in_the_table():
    us_transfer = _column("cross_border_transfer")["United States (federal)"]
    assert "28 CFR Part 202" in us_transfer and "8 April 2025" in us_transfer
    assert "10,000" in us_transfer and "more than 100" in us_transfer
    assert "de-identified" in us_transfer
    hipaa_research = _column("research_use_basis")["United States (federal)"]
    assert "164.512(i)(1)(ii)" in hipaa_research and "164.512(i)(1)(iii)" in hipaa_research
    assert "limited data set" in hipaa_research
    uk = {c: _column(c)["United Kingdom"] for c in reg.FACT_COLUMNS}
    assert "assimilated law" in uk["law"] and "retained version" not in uk["law"]
    assert "5 February 2026" in uk["law"] and "SI 2026/82" in uk["law"]
    assert "84B" in uk["research_use_basis"] and "s. 68" in uk["research_use_basis"]
    assert "Art. 89" in uk["research_use_basis"]  # named as what Chapter 8A replaced
    assert "s. 85" in uk["cross_border_transfer"] and "2031" in uk["cross_border_transfer"]
    assert "28 March" in uk["deidentification_standard"]
    assert "replaced its 2012" in uk["deidentification_standard"]
    assert "C-413/23 P" in _column("deidentification_standard")["European Union"]


def test_readme_promise_matches_the_table():
    """The README's jurisdiction paragraph says what every cell records, and no stale date."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    paragraph = readme[readme.index("helpers.regulations.jurisdictions()") :].split("\n\n")[0]
    for word in ("source", "kind", "primary", "regulator", "secondary", "checked", "unverified"):
        assert word in paragraph, word
    assert "as of November 2026" not in readme
    assert "as of November 2026" not in (ROOT / "helpers" / "regulations.py").read_text()
    count = {8: "eight", 9: "nine", 10: "ten", 11: "eleven", 12: "twelve"}[len(reg.jurisdictions())]
    assert f"{count} laws" in paragraph


def test_the_instructor_guide_lists_every_cell_by_check_date():
    import sys

    sys.path.insert(0, str(ROOT / "scripts"))
    import build_book

    guide = build_book.instructor_guide([], timings={}, has_flower_guide=False)
    section = guide[guide.index("## Before a course: re-verify the law") :]
    section = section[: section.index("\n## ", 3)]
    rows = [line for line in section.splitlines() if line.startswith("| 20")]
    listing = reg.cells_by_check_date()
    assert len(rows) == len(listing)
    assert [row.split(" | ")[0].strip("| ") for row in rows] == list(listing["checked"])
    assert all(f"]({url})" in section for url in _urls(listing.iloc[-1]["source"]))


def test_displayed_tables_mark_every_statement_with_its_kind_and_check_date():
    """compare() shows each cell's source kind and check date beside it; the row's main
    source stays a bare URL (so it renders as a link), and the plain values are unchanged."""
    shown = reg.compare({"breach": True, "research": True}, readable=False)
    cells = reg.jurisdiction_sources().set_index(["jurisdiction", "column"])
    plain = reg.jurisdictions().set_index("jurisdiction")
    for jurisdiction, row in shown.iterrows():
        for column, text in row.items():
            if column == "source_url":
                assert URL.match(text), (jurisdiction, text)
                continue
            cell = cells.loc[(jurisdiction, column)]
            assert (
                text
                == f"{plain.loc[jurisdiction, column]} {reg.source_mark(cell.kind, cell.checked)}"
            )
    assert shown.loc["China", "breach_notice_regulator"].endswith(
        "[secondary source, checked 2026-12-01]"
    )
    assert shown.loc["European Union", "breach_notice_regulator"].endswith(
        "[primary text, checked 2026-12-01]"
    )
    unmarked = reg.compare({"breach": True}, readable=False, sources=False)
    assert unmarked.loc["China", "maximum_penalty"] == plain.loc["China", "maximum_penalty"]
    assert reg.jurisdiction_table(["year"], ["India"], sources=True).iloc[0, 0] == (
        "2023 [primary text, checked 2026-11-28]"
    )


def test_source_marks_and_the_sources_flag_are_validated():
    assert reg.source_mark(reg.UNVERIFIED, "2026-12-01") == "[not verified, checked 2026-12-01]"
    with pytest.raises(ValueError, match="kind"):
        reg.source_mark("blog", "2026-12-01")
    with pytest.raises(TypeError, match="sources"):
        reg.jurisdiction_table(sources="yes")
    with pytest.raises(TypeError, match="sources"):
        reg.compare({"breach": True}, sources=1)


def test_the_main_source_column_claims_no_more_than_it_shows():
    """The row's main source is not headed 'primary' (China's is a translation), no row's is
    a regulator's page, and each claims no stronger kind than its host supports."""
    assert "primary" not in reg.HEADERS["source_url"].lower()
    main = {row["jurisdiction"].value: row["source_url"] for row in reg._ROWS}
    for jurisdiction, cell in main.items():
        assert cell.kind != "regulator", jurisdiction
        assert STRENGTH[cell.kind] >= STRENGTH[_host_kind(cell.source)], jurisdiction
    assert urlparse(main["United States (federal)"].value).netloc == "www.ecfr.gov"
    assert [j for j, cell in main.items() if cell.kind != "primary"] == ["China"]


def test_fact_check_corrections_of_december_2026_are_in_the_table():
    """Pin what the second fact-check of December 2026 corrected (issue 18 follow-up)."""
    cells = reg.jurisdiction_sources().set_index(["jurisdiction", "column"])
    us, uk = "United States (federal)", "United Kingdom"
    assert "6 October 2025" in cells.loc[(us, "cross_border_transfer"), "value"]
    us_breach = cells.loc[(us, "breach_notice_regulator")]
    assert us_breach.kind == "regulator" and "breach-notification/guidance" in us_breach.source
    research = cells.loc[(uk, "research_use_basis"), "value"]
    for text in (
        "cannot be fulfilled",
        "approved medical research",
        "generally recognised ethical standards",
        "only part",
    ):
        assert text in research, text
    assert "national-data-opt-out" in cells.loc[(uk, "law"), "source"]
    assert "superseded 2012 code" in cells.loc[(uk, "deidentification_standard"), "value"]
    assert (
        "referred the case back"
        in cells.loc[("European Union", "deidentification_standard"), "value"]
    )
    india = cells.loc[("India", "law"), "value"]
    assert "G.S.R. 843(E)" in india and "G.S.R. 846(E)" in india
    canada = cells.loc[("Canada (federal)", "deidentification_standard")]
    assert "#2026-001" in canada.value and "bill-c-27" not in canada.source


def test_final_fact_check_corrections_are_in_the_table():
    """Pin what the final fact-check of December 2026 corrected: the SRB case's withdrawal,
    the DOJ rule's reporting citation, India's dates as reported and re-checked to early November 2026,
    no unverified chapter number for SB 446, and a marked main source for China."""
    cells = reg.jurisdiction_sources().set_index(["jurisdiction", "column"])
    eu = cells.loc[("European Union", "deidentification_standard")]
    assert "T-557/20 RENV" in eu.value and "19 December 2025" in eu.value
    assert "no court ruled" in eu.value and "not verified" not in eu.value
    assert eu.kind == "secondary" and "iapp.org" in eu.source
    us = cells.loc[("United States (federal)", "cross_border_transfer"), "value"]
    assert "Subpart K (202.1101-202.1104)" in us
    india = cells.loc[("India", "law")]
    assert "13 or 14 May 2027" in india.value and "most reports" not in india.value
    assert "13 November 2026" in india.value and "egazette.gov.in" in india.value
    assert india.checked == reg.FACT_CHECK_2026_12
    assert "9 March 2026" in india.value and "June 2026" not in india.value
    for column in ("breach_notice_regulator", "breach_notice_individuals"):
        assert "no change found in sources up to early" in cells.loc[("India", column), "value"]
    assert "once s. 33 is in force" in cells.loc[("India", "maximum_penalty"), "value"]
    for column in ("research_use_basis", "cross_border_transfer"):
        assert "is in force (see the row's law cell)" in cells.loc[("India", column), "value"]
    assert not cells["value"].astype(str).str.contains("ch. 319").any()
    canada = cells.loc[("Canada (federal)", "deidentification_standard")]
    assert canada.checked == reg.FACT_CHECK_2026_12 and canada.kind == "secondary"


def test_displayed_main_source_header_marks_rows_whose_source_is_not_primary():
    """The readable, marked table names the rows whose main source is weaker than the law's
    text in the header of the main-source column; the URLs themselves stay bare links."""
    shown = reg.jurisdiction_table(["law", "source_url"], readable=True, sources=True)
    header = shown.columns[-1]
    assert header == f"{reg.HEADERS['source_url']} [China: secondary source]"
    assert all(URL.match(url) for url in shown[header])
    primary_only = reg.jurisdiction_table(
        ["source_url"], ["European Union", "India"], readable=True, sources=True
    )
    assert list(primary_only.columns) == [reg.HEADERS["source_url"]]
    unmarked = reg.jurisdiction_table(["source_url"], readable=True)
    assert list(unmarked.columns) == [reg.HEADERS["source_url"]]
